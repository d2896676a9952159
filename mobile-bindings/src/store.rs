//! The store object: every call is a blocking call into the core, to be made from a
//! background thread (see docs/mobile.md, "Threading").

use crate::defaults::ThermometerScale;
use crate::error::Result;
use crate::listener::{ListenerHandle, StoreListener};
use crate::records::*;
use crate::roster::{Identity, PupilPermissions, Roster};
use omkijken_core::Store;
use std::sync::Arc;

/// The encrypted local store of this device: every care record the user may see, readable
/// and writable with no network. Thread-safe: share one instance across the app.
#[derive(Debug, uniffi::Object)]
pub struct OmkijkenStore {
    pub(crate) inner: Store,
    pub(crate) sync: crate::sync::SyncState,
}

#[uniffi::export]
impl OmkijkenStore {
    /// Open (or create) the store at `path` (a file in the app's private storage) with the
    /// encryption key: at least 16 random bytes kept in the Android Keystore / iOS Keychain.
    /// A wrong key is an error (`Storage`); the file is never deleted or rewritten.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        let inner = Store::open(path, &key)?;
        Ok(Arc::new(OmkijkenStore {
            inner,
            sync: Default::default(),
        }))
    }

    /// [`OmkijkenStore::open`] with the time taken from `clock` instead of the system's:
    /// for tests and demonstrations that move a device's clock (an attention list days
    /// later). Apps use `open`.
    #[uniffi::constructor]
    pub fn open_with_clock(
        path: String,
        key: Vec<u8>,
        clock: Arc<dyn crate::StoreClock>,
    ) -> Result<Arc<Self>> {
        let options = omkijken_core::store::StoreOptions {
            clock: Arc::new(move || clock.now_ms()),
            seed: None,
        };
        let inner = Store::open_with(path, &key, options)?;
        Ok(Arc::new(OmkijkenStore {
            inner,
            sync: Default::default(),
        }))
    }

    /// Who uses this device, or `null` before enrollment.
    pub fn identity(&self) -> Result<Option<Identity>> {
        Ok(self.inner.identity()?.map(Into::into))
    }

    /// Erase the store: every record, the files, the enrollment. Afterwards every call
    /// fails with `Revoked`; forget the key and offer enrollment again.
    pub fn wipe(&self) -> Result<()> {
        self.sync.stop();
        Ok(self.inner.wipe()?)
    }

    /// Whether the store was wiped (by `wipe` or because the school revoked the device).
    pub fn is_wiped(&self) -> bool {
        self.inner.is_wiped()
    }

    // ---- roster ---------------------------------------------------------------------

    /// The school's roster as this device holds it: pupils, groups, staff.
    pub fn roster(&self) -> Result<Roster> {
        Ok((&*self.inner.roster()?).into())
    }

    /// What the user may do for a pupil (which buttons to show).
    pub fn pupil_permissions(&self, pupil: String) -> Result<PupilPermissions> {
        Ok(self.inner.pupil_permissions(&pupil)?.into())
    }

    // ---- kindgesprekken -------------------------------------------------------------

    /// Start a kindgesprek with a pupil from a template on offer at the school (see
    /// `school_conversation_templates()`; an empty `template_id`: the school's default
    /// template), held on `held_on` (`YYYY-MM-DD`). It starts as a private draft. Returns
    /// its id.
    pub fn start_conversation(
        &self,
        pupil: String,
        template_id: String,
        held_on: String,
    ) -> Result<String> {
        let id = self
            .inner
            .start_conversation(&pupil, &template_id, &held_on)?;
        Ok(id.to_string())
    }

    /// Read a conversation (the read is logged in the access log).
    pub fn conversation(&self, id: String) -> Result<Conversation> {
        let id = doc_id(&id)?;
        Ok(Conversation::new(id, self.inner.conversation(id)?))
    }

    /// Set the answer to a template question; merges with concurrent edits elsewhere.
    pub fn set_answer(&self, id: String, question: String, text: String) -> Result<()> {
        Ok(self.inner.set_answer(doc_id(&id)?, &question, &text)?)
    }

    /// Replace the notes with `text` (stored as the minimal edit, so concurrent typing on
    /// another device merges).
    pub fn set_notes(&self, id: String, text: String) -> Result<()> {
        Ok(self.inner.set_notes(doc_id(&id)?, &text)?)
    }

    /// Splice the notes: delete `delete` units at position `pos`, then insert `insert` there.
    /// Positions count UTF-16 code units, as Kotlin and Swift (`String.utf16`) strings index
    /// them; a range past the end or one that splits an emoji's surrogate pair is `Invalid`
    /// and changes nothing.
    pub fn edit_notes(&self, id: String, pos: u32, delete: u32, insert: String) -> Result<()> {
        let id = doc_id(&id)?;
        Ok(self
            .inner
            .edit_notes(id, pos as usize, delete as usize, &insert)?)
    }

    /// Splice the answer to a template question, like `edit_notes` (UTF-16 positions).
    pub fn edit_answer(
        &self,
        id: String,
        question: String,
        pos: u32,
        delete: u32,
        insert: String,
    ) -> Result<()> {
        let id = doc_id(&id)?;
        Ok(self
            .inner
            .edit_answer(id, &question, pos as usize, delete as usize, &insert)?)
    }

    /// Add an agreement (afspraak) with an owner (staff id or "pupil") and an optional due
    /// date `YYYY-MM-DD`. Returns its id.
    pub fn add_agreement(
        &self,
        id: String,
        text: String,
        owner: String,
        due: Option<String>,
    ) -> Result<String> {
        let id = doc_id(&id)?;
        Ok(self
            .inner
            .add_agreement(id, &text, &owner, due.as_deref())?)
    }

    /// Mark an agreement done (or not done again). `NotFound` if the conversation has no
    /// agreement with that id.
    pub fn set_agreement_done(&self, id: String, agreement_id: String, done: bool) -> Result<()> {
        Ok(self
            .inner
            .set_agreement_done(doc_id(&id)?, &agreement_id, done)?)
    }

    /// Share a private working note: it becomes part of the pupil's dossier. Author only.
    pub fn share_conversation(&self, id: String) -> Result<()> {
        Ok(self.inner.share_conversation(doc_id(&id)?)?)
    }

    /// Mark a conversation final.
    pub fn finalize_conversation(&self, id: String) -> Result<()> {
        Ok(self.inner.finalize_conversation(doc_id(&id)?)?)
    }

    /// The conversations about a pupil this user may read, newest first.
    pub fn list_conversations(&self, pupil: String) -> Result<Vec<ConversationSummary>> {
        let list = self.inner.list_conversations(&pupil)?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    // ---- thermometer ----------------------------------------------------------------

    /// The thermometer scale for a pupil's age band as the school uses it, with its labels
    /// and emotion words (`record_thermometer` checks readings against it).
    pub fn thermometer_scale(&self, pupil: String) -> Result<ThermometerScale> {
        Ok(self.inner.thermometer_scale(&pupil)?.into())
    }

    /// Record a thermometer reading; works offline. Returns the month document's id.
    pub fn record_thermometer(&self, entry: NewThermometerEntry) -> Result<String> {
        Ok(self.inner.record_thermometer(entry.into())?.to_string())
    }

    /// A pupil's readings of one month (`YYYY-MM`) with emotions and notes, or `null` if
    /// there are none or the user may not read them. The read is logged.
    pub fn thermometer_month(
        &self,
        pupil: String,
        month: String,
    ) -> Result<Option<ThermometerMonth>> {
        let m = self.inner.thermometer_month(&pupil, &month)?;
        Ok(m.map(Into::into))
    }

    /// A pupil's trend: readings in `[from, to)` (unix ms), oldest first, each with a level
    /// 0..=1 comparable across scales. Empty if the user may not read the thermometer.
    pub fn thermometer_trend(
        &self,
        pupil: String,
        from: i64,
        to: i64,
    ) -> Result<Vec<ThermometerPoint>> {
        let points = self.inner.thermometer_entries(&pupil, from, to)?;
        Ok(points.into_iter().map(Into::into).collect())
    }

    // ---- signals --------------------------------------------------------------------

    /// Record a signal; works offline (it waits in the outbox). Returns its id. For urgency
    /// 3, show `urgency_level(3)`'s emergency numbers first: do not wait for the sync.
    pub fn record_signal(&self, signal: NewSignal) -> Result<String> {
        Ok(self.inner.record_signal(signal.into())?.to_string())
    }

    /// Read a signal (the read is logged).
    pub fn signal(&self, id: String) -> Result<Signal> {
        let id = doc_id(&id)?;
        Ok(Signal::new(id, self.inner.signal(id)?))
    }

    /// Share a draft signal; from then on it is append-only. Author only.
    pub fn share_signal(&self, id: String) -> Result<()> {
        Ok(self.inner.share_signal(doc_id(&id)?)?)
    }

    /// Append an entry to a signal: a correction (its author), a follow-up (author, mentors,
    /// care team), "picked up" or "closed" (the care team of the signal's route; anyone else
    /// gets `Forbidden`). Returns the entry's id.
    pub fn append_follow_up(&self, id: String, kind: FollowUpKind, text: String) -> Result<String> {
        let id = doc_id(&id)?;
        Ok(self.inner.append_follow_up(id, kind.into(), &text)?)
    }

    /// Add a reader (a staff id, for example the care coordinator) to a staff-misconduct
    /// signal: the school leader only; readers are never removed. `Forbidden` for anyone
    /// else or another kind of signal.
    pub fn add_signal_reader(&self, id: String, staff: String) -> Result<()> {
        let id = doc_id(&id)?;
        Ok(self.inner.add_signal_reader(id, &staff)?)
    }

    /// The signals this user may read that match the filter, newest first.
    pub fn list_signals(&self, filter: SignalFilter) -> Result<Vec<SignalSummary>> {
        let list = self.inner.list_signals(&filter.into())?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    // ---- attention list, outbox, listeners ------------------------------------------

    /// The attention list: open signals nobody picked up, pupils who asked to talk, falling
    /// thermometer trends, for the pupils this user may see. Most urgent first.
    pub fn attention_list(&self) -> Result<Vec<AttentionItem>> {
        Ok(self
            .inner
            .attention_list()?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Documents with changes no server has confirmed yet ("3 signals not sent yet").
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        Ok(self.inner.outbox()?.into_iter().map(Into::into).collect())
    }

    /// Wipe the trip cache on return: remove the signals recorded on an excursion (by its
    /// id, `NewSignal.excursion`) that the server has confirmed and, on the phone of a
    /// colleague who went along, the excursion itself (trip roster and contact list), once
    /// nothing recorded on it waits to be sent. Unsent signals stay, and so does the trip
    /// while one does; the organiser keeps the trip. Returns how many documents were
    /// removed (signals plus the trip).
    pub fn wipe_excursion_cache(&self, excursion: String) -> Result<u32> {
        let n = self.inner.wipe_excursion_cache(&excursion)?;
        Ok(n.try_into().unwrap_or(u32::MAX))
    }

    /// How many documents wait in the outbox.
    pub fn outbox_count(&self) -> Result<u32> {
        Ok(self.inner.outbox()?.len().try_into().unwrap_or(u32::MAX))
    }

    /// The school's offline lease: when the store locks without a sync, and whether it is
    /// locked now (then every read or write of care content fails with `Locked` until a
    /// sync completes; syncing still works and sends what waits in the outbox).
    pub fn offline_lease(&self) -> Result<OfflineLease> {
        Ok(self.inner.lease()?.into())
    }

    /// Be told when documents change (local writes, changes arriving by sync, purges). The
    /// listener is called on a background thread, in order; keep the handle: dropping it or
    /// calling `cancel()` stops the calls.
    pub fn subscribe(&self, listener: Arc<dyn StoreListener>) -> Arc<ListenerHandle> {
        ListenerHandle::new(&self.inner, listener)
    }
}
