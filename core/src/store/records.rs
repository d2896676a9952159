//! Record-level operations: what the apps call. Every call checks the access rules for the
//! enrolled user, and reads of care content are written to the local access log.

use super::Store;
use crate::access::Access;
use crate::doc;
use crate::ids::DocumentId;
use crate::model::{
    Agreement, Conversation, ConversationStatus, FollowUp, FollowUpKind, Header, Interpretation,
    Kind, Record, Signal, SignalContext, SignalNotes, Source, SourceKind, Visibility, check_date,
};
use crate::text::Text;
use crate::{Error, Result};

/// What a user enters to record a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignal {
    /// Pupil id.
    pub pupil: String,
    /// When observed (unix ms).
    pub observed_at: i64,
    /// Where.
    pub context: SignalContext,
    /// Category id.
    pub category: String,
    /// 0-3.
    pub urgency: u8,
    /// The facts.
    pub facts: String,
    /// The signaller's own interpretation, kept apart.
    pub interpretation: Option<String>,
    /// How the signaller knows.
    pub source: Source,
    /// Verbatim quote of the pupil.
    pub pupil_quote: Option<String>,
    /// Flag-system rating for sexual behaviour (`defaults::FLAGS` id).
    pub flag: Option<String>,
    /// Share at once (append-only from then on); false keeps it a draft.
    pub share: bool,
}

impl NewSignal {
    /// A known category and flag, an urgency of 0-3, facts within [`MAX_TEXT`] and not
    /// empty, a known source: checked on recording a signal and on updating a draft.
    pub(super) fn check(&self) -> Result<()> {
        if let Some(f) = &self.flag
            && crate::defaults::flag(f).is_none()
        {
            return Err(Error::Invalid("unknown flag".into()));
        }
        if crate::defaults::category(&self.category).is_none() {
            return Err(Error::Invalid("unknown signal category".into()));
        }
        if self.urgency > 3 {
            return Err(Error::Invalid("urgency must be 0-3".into()));
        }
        if self.facts.trim().is_empty() {
            return Err(Error::Invalid("facts must not be empty".into()));
        }
        if SourceKind::parse(&self.source.kind).is_none() {
            return Err(Error::Invalid(
                "source must be seen, heard or told_by".into(),
            ));
        }
        check_text("facts", &self.facts)
    }
}

pub(super) const MAX_TEXT: usize = 64 * 1024;

pub(super) fn check_text(field: &str, s: &str) -> Result<()> {
    if s.len() > MAX_TEXT {
        return Err(Error::Invalid(format!(
            "{field} is longer than {MAX_TEXT} bytes"
        )));
    }
    Ok(())
}

/// Splice a text field (UTF-16 positions, see [`Store::edit_notes`]); `field` names it in
/// the error of a range that does not fit the text.
pub(super) fn splice_text(
    text: &mut Text,
    field: &str,
    pos: usize,
    delete: usize,
    insert: &str,
) -> Result<()> {
    text.splice(pos, delete, insert)
        .map_err(|e| Error::Invalid(format!("{field}: {e}")))
}

/// The agreement `id` of a kindgesprek's or an oudercontact's agreements, to edit.
pub(super) fn agreement_mut<'a>(
    agreements: &'a mut [Agreement],
    id: &str,
) -> Result<&'a mut Agreement> {
    agreements
        .iter_mut()
        .find(|a| a.id == id)
        .ok_or(Error::NotFound)
}

impl Store {
    pub(super) fn new_header(
        &self,
        me: super::Identity,
        kind: Kind,
        pupil: &str,
    ) -> Result<Header> {
        Ok(Header::new(
            kind,
            me.school,
            Some(pupil),
            me.user,
            self.now(),
        ))
    }

    pub(super) fn require_pupil(&self, pupil: &str) -> Result<crate::model::Pupil> {
        self.roster()?
            .pupils
            .get(pupil)
            .filter(|p| p.active)
            .cloned()
            .ok_or(Error::NotFound)
    }

    /// Load a typed record, checking read access (denied looks like not found).
    pub(super) fn read_record<R: Record>(
        &self,
        id: DocumentId,
        log: bool,
    ) -> Result<(Header, R, Access)> {
        self.unlocked_identity()?;
        let d = self.load(id)?.ok_or(Error::NotFound)?;
        let header = doc::header(id, &d)?;
        if header.kind != R::KIND.as_str() {
            return Err(Error::NotFound);
        }
        let fields = doc::access_fields(id, &header, &d)?;
        let access = self.access_to(&header, &fields)?;
        if access < Access::Read {
            return Err(Error::NotFound);
        }
        let r = doc::record::<R>(id, &d)?;
        if log {
            self.log_read(id, R::KIND)?;
        }
        Ok((header, r, access))
    }

    /// Edit a typed record with write access, in one change and one store transaction.
    pub(super) fn edit_record<R: Record>(
        &self,
        id: DocumentId,
        edit: impl FnOnce(&Header, &mut R) -> Result<()>,
    ) -> Result<()> {
        let roster = self.roster()?;
        let me = self.unlocked_identity()?;
        let actor = self.writer_actor();
        let now = self.now();
        self.transact(id, |d| {
            if d.get_heads().is_empty() {
                return Err(Error::NotFound);
            }
            let header = doc::header(id, d)?;
            if header.kind != R::KIND.as_str() {
                return Err(Error::NotFound);
            }
            let fields = doc::access_fields(id, &header, d)?;
            match crate::access(&roster, &me.user, &header, &fields) {
                Access::None => return Err(Error::NotFound),
                Access::Read => return Err(Error::Forbidden("read-only for this user")),
                Access::Write => {}
            }
            let before = d.clone();
            doc::update::<R>(id, d, &actor, now, |r| edit(&header, r))?;
            self.admit_local(id, Some(&before), d)
        })
    }

    // ---- signals ----------------------------------------------------------------------

    /// Record a signal about a pupil. Works offline; the document waits in the outbox.
    pub fn record_signal(&self, s: NewSignal) -> Result<DocumentId> {
        self.require_pupil(&s.pupil)?;
        let me = self.unlocked_identity()?;
        if !crate::access::may_record_signal(&*self.roster()?, &me.user, &s.pupil) {
            return Err(Error::Forbidden("this user may not record signals"));
        }
        s.check()?;
        let header = self.new_header(me, Kind::Signal, &s.pupil)?;
        let record = Signal {
            observed_at: s.observed_at,
            recorded_at: self.now(),
            context: s.context,
            category: s.category,
            urgency: s.urgency,
            facts: s.facts,
            interpretation: s.interpretation.map(|text| Interpretation {
                text,
                by: header.author.clone(),
            }),
            source: s.source,
            pupil_quote: s.pupil_quote,
            flag: s.flag,
            shared: s.share,
            follow_ups: vec![],
            added_readers: vec![],
        };
        self.create_document(&header, &record)
    }

    /// A signal the user may read. The read is logged.
    ///
    /// Its `follow_ups` are what the user reads of it, oldest first: the entries on the
    /// signal (the author's corrections and follow-ups, status entries, notes to the
    /// signaller) and, for those who follow it up, the notes in the signal's notes
    /// ([`crate::model::SignalNotes`]), which its author does not read for being its author.
    pub fn signal(&self, id: DocumentId) -> Result<Signal> {
        let (header, mut s, _) = self.read_record::<Signal>(id, true)?;
        if let Some(n) = self.signal_notes(id, &header, &s)? {
            // By time; within one millisecond the signal's entries first (a stable sort).
            s.follow_ups.extend(n.notes);
            s.follow_ups.sort_by_key(|f| f.at);
        }
        Ok(s)
    }

    /// The notes on signal `id`, if this device holds them and the user reads them. The
    /// read is logged.
    fn signal_notes(
        &self,
        id: DocumentId,
        header: &Header,
        s: &Signal,
    ) -> Result<Option<SignalNotes>> {
        let Some(pupil) = header.pupil.as_deref() else {
            return Ok(None);
        };
        let nid = doc::signal_notes_id(&header.school, pupil, id, &s.category, s.urgency);
        match self.read_record::<SignalNotes>(nid, true) {
            Ok((_, n, _)) => Ok(Some(n)),
            Err(Error::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Edit the notes on the shared signal `id` (started from their deterministic genesis
    /// when this device has none yet), with write access to them, in one change.
    fn edit_signal_notes(
        &self,
        id: DocumentId,
        header: &Header,
        s: &Signal,
        edit: impl FnOnce(&mut SignalNotes),
    ) -> Result<()> {
        let pupil = header.pupil.as_deref().ok_or(Error::NotFound)?;
        let (nid, genesis) =
            doc::signal_notes_genesis(&header.school, pupil, id, &s.category, s.urgency)?;
        let nheader = doc::signal_notes_header(&header.school, pupil);
        let why = "the notes on a signal are for those who follow it up";
        self.edit_system_document::<SignalNotes>(
            nid,
            genesis,
            self.now(),
            |d| self.may_write_doc(nid, &nheader, d, why),
            |n| {
                edit(n);
                Ok(())
            },
        )
    }

    /// Change a draft signal (author only, before it is shared).
    pub fn edit_signal_draft(&self, id: DocumentId, edit: impl FnOnce(&mut Signal)) -> Result<()> {
        let me = self.unlocked_identity()?;
        self.edit_record::<Signal>(id, |h, s| {
            if h.author != me.user {
                return Err(Error::Forbidden("only the author edits a draft"));
            }
            if s.shared {
                return Err(Error::Forbidden("a shared signal is append-only"));
            }
            let follow_ups = s.follow_ups.clone();
            edit(s);
            s.follow_ups = follow_ups;
            s.shared = false;
            Ok(())
        })
    }

    /// Share a draft signal: from now on it is append-only.
    pub fn share_signal(&self, id: DocumentId) -> Result<()> {
        let me = self.unlocked_identity()?;
        self.edit_record::<Signal>(id, |h, s| {
            if h.author != me.user {
                return Err(Error::Forbidden("only the author shares a signal"));
            }
            s.shared = true;
            Ok(())
        })
    }

    /// Append an entry to a signal: a correction (author), a follow-up (author, mentors,
    /// care team), "picked up" and "closed" (the care team of the signal's route, see
    /// `model::rules::signal`; status, no text of their own: `text` empty or one of the
    /// fixed status texts), or a note to the signaller (anyone but the author who follows
    /// it up). A follow-up by anyone but the author goes in the signal's notes, which the
    /// author does not read for being its author (need-to-know). The original text never
    /// changes.
    pub fn append_follow_up(
        &self,
        id: DocumentId,
        kind: FollowUpKind,
        text: &str,
    ) -> Result<String> {
        check_text("text", text)?;
        let me = self.unlocked_identity()?;
        let entry = FollowUp {
            id: self.new_id().to_string(),
            author: me.user.clone(),
            at: self.now(),
            kind: kind.as_str().into(),
            text: text.into(),
        };
        let entry_id = entry.id.clone();
        if kind == FollowUpKind::FollowUp {
            let (header, s, access) = self.read_record::<Signal>(id, false)?;
            if header.author != me.user {
                if !s.shared {
                    return Err(Error::NotFound);
                }
                if access < Access::Write {
                    return Err(Error::Forbidden("read-only for this user"));
                }
                self.edit_signal_notes(id, &header, &s, |n| n.notes.push(entry))?;
                return Ok(entry_id);
            }
        }
        if matches!(kind, FollowUpKind::PickedUp | FollowUpKind::Closed)
            && !text.is_empty()
            && !crate::model::signal::STATUS_TEXTS.contains(&text)
        {
            return Err(Error::Invalid(
                "a status has no text: write a note to the signaller for that".into(),
            ));
        }
        self.edit_record::<Signal>(id, |h, s| {
            let is_author = h.author == me.user;
            match kind {
                FollowUpKind::Correction if !is_author => {
                    return Err(Error::Forbidden("only the author corrects a signal"));
                }
                FollowUpKind::FollowUp | FollowUpKind::PickedUp | FollowUpKind::Closed
                    if is_author && !s.shared =>
                {
                    return Err(Error::Forbidden("share the signal first"));
                }
                FollowUpKind::ToSignaller if is_author => {
                    return Err(Error::Invalid(
                        "a note to the signaller is for the signal's author".into(),
                    ));
                }
                _ => {}
            }
            s.follow_ups.push(entry);
            Ok(())
        })?;
        Ok(entry_id)
    }

    /// Add a reader to a staff-misconduct signal (board route), for example the care
    /// coordinator: only the school leader does this, and a reader is never removed. The
    /// reader's devices get the signal at their next sync (and may follow it up).
    pub fn add_signal_reader(&self, id: DocumentId, staff: &str) -> Result<()> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let leader = roster
            .active_staff(&me.user)
            .is_some_and(|s| s.has(crate::model::Role::SchoolLeader));
        if !leader {
            return Err(Error::Forbidden("only the school leader adds readers"));
        }
        if roster.active_staff(staff).is_none() {
            return Err(Error::Invalid("reader: not an active staff member".into()));
        }
        self.edit_record::<Signal>(id, |_, s| {
            let board = crate::defaults::category(&s.category)
                .is_some_and(|c| c.route == crate::defaults::Route::BoardRoute);
            if !board {
                return Err(Error::Forbidden(
                    "readers are added to staff-misconduct signals only",
                ));
            }
            if !s.added_readers.iter().any(|r| r == staff) {
                s.added_readers.push(staff.into());
            }
            Ok(())
        })?;
        // The reader follows the signal up in its notes too.
        let (header, s, _) = self.read_record::<Signal>(id, false)?;
        if s.shared {
            self.edit_signal_notes(id, &header, &s, |n| {
                if !n.added_readers.iter().any(|r| r == staff) {
                    n.added_readers.push(staff.into());
                }
            })?;
        }
        Ok(())
    }

    // ---- conversations -----------------------------------------------------------------

    /// Start a kindgesprek from a template on offer at the school (its own or a default
    /// one; empty: the school's default template); it starts as a private draft.
    pub fn start_conversation(
        &self,
        pupil: &str,
        template_id: &str,
        held_on: &str,
    ) -> Result<DocumentId> {
        self.require_pupil(pupil)?;
        check_date("held_on", held_on)?;
        let me = self.unlocked_identity()?;
        if !crate::access::pupil_permissions(&*self.roster()?, &me.user, pupil).start_conversation {
            return Err(Error::Forbidden(
                "only the pupil's mentors hold kindgesprekken",
            ));
        }
        let settings = self.school_settings()?;
        let template_id = if template_id.is_empty() {
            settings.default_template()
        } else {
            template_id.to_string()
        };
        let template = settings
            .template(&template_id)
            .ok_or_else(|| Error::Invalid("unknown template".into()))?;
        let header = self.new_header(me, Kind::Conversation, pupil)?;
        let record = Conversation {
            held_on: held_on.into(),
            participants: vec![header.author.clone(), "pupil".into()],
            template_id,
            answers: template
                .questions
                .iter()
                .map(|q| (q.id.clone(), Text::default()))
                .collect(),
            notes: Text::default(),
            agreements: vec![],
            status: ConversationStatus::Draft.as_str().into(),
            visibility: Visibility::Private.as_str().into(),
        };
        // The author may always write a private note of their own; the mentor check applies
        // when it is shared.
        self.create_document(&header, &record)
    }

    /// A conversation the user may read. The read is logged.
    pub fn conversation(&self, id: DocumentId) -> Result<Conversation> {
        Ok(self.read_record::<Conversation>(id, true)?.1)
    }

    /// Edit a conversation (write access needed): any change to answers, notes,
    /// participants or agreements, as one Automerge change. Text fields merge character
    /// by character with concurrent edits elsewhere.
    pub fn update_conversation(
        &self,
        id: DocumentId,
        edit: impl FnOnce(&mut Conversation) -> Result<()>,
    ) -> Result<()> {
        self.edit_record::<Conversation>(id, |_, c| {
            let visibility = c.visibility.clone();
            edit(c)?;
            // Sharing goes through share_conversation: it is an explicit step.
            c.visibility = visibility;
            if c.notes.as_str().len() > MAX_TEXT
                || c.answers.values().any(|a| a.as_str().len() > MAX_TEXT)
            {
                return Err(Error::Invalid(format!(
                    "text is longer than {MAX_TEXT} bytes"
                )));
            }
            Ok(())
        })
    }

    /// Splice the free notes: delete `delete` units at `pos`, then insert `insert` there.
    /// Positions count UTF-16 code units (what Kotlin, Swift and JavaScript strings index),
    /// see [`crate::text`]; a range past the end or one that splits a surrogate pair is
    /// [`Error::Invalid`] and changes nothing.
    pub fn edit_notes(
        &self,
        id: DocumentId,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<()> {
        self.splice_conversation(id, "notes", pos, delete, insert, |c| &mut c.notes)
    }

    /// Check `insert`, then splice it into the conversation text `text` picks (`field`: errors).
    fn splice_conversation(
        &self,
        id: DocumentId,
        field: &str,
        pos: usize,
        delete: usize,
        insert: &str,
        text: impl FnOnce(&mut Conversation) -> &mut Text,
    ) -> Result<()> {
        check_text("insert", insert)?;
        self.update_conversation(id, |c| splice_text(text(c), field, pos, delete, insert))
    }

    /// Replace the notes with `text`, stored as the minimal edit (so concurrent typing on
    /// another device merges).
    pub fn set_notes(&self, id: DocumentId, text: &str) -> Result<()> {
        check_text("notes", text)?;
        self.update_conversation(id, |c| {
            c.notes.update(text);
            Ok(())
        })
    }

    /// Set an answer to the text given, stored as the minimal edit.
    pub fn set_answer(&self, id: DocumentId, question: &str, text: &str) -> Result<()> {
        check_text("answer", text)?;
        self.update_conversation(id, |c| {
            c.answers
                .entry(question.to_string())
                .or_default()
                .update(text);
            Ok(())
        })
    }

    /// Splice an answer like [`Store::edit_notes`] (UTF-16 positions); an answer not yet
    /// written is empty.
    pub fn edit_answer(
        &self,
        id: DocumentId,
        question: &str,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<()> {
        self.splice_conversation(id, "answer", pos, delete, insert, |c| {
            c.answers.entry(question.to_string()).or_default()
        })
    }

    /// Add an agreement (afspraak); returns its id.
    pub fn add_agreement(
        &self,
        id: DocumentId,
        text: &str,
        owner: &str,
        due: Option<&str>,
    ) -> Result<String> {
        let a = self.new_agreement(text, owner, due)?;
        let aid = a.id.clone();
        self.update_conversation(id, |c| {
            c.agreements.push(a);
            Ok(())
        })?;
        Ok(aid)
    }

    /// A new agreement of a kindgesprek or an oudercontact, in the user's own name, not
    /// done; `due` must be a date.
    pub(super) fn new_agreement(
        &self,
        text: &str,
        owner: &str,
        due: Option<&str>,
    ) -> Result<Agreement> {
        if let Some(d) = due {
            check_date("due", d)?;
        }
        Ok(Agreement {
            id: self.new_id().to_string(),
            text: text.into(),
            owner: owner.into(),
            due: due.map(Into::into),
            done: false,
            by: Some(self.unlocked_identity()?.user),
        })
    }

    /// Share a private working note: it becomes part of the pupil's dossier, readable by
    /// the mentors (and the care team if the pupil is in care). Author only.
    pub fn share_conversation(&self, id: DocumentId) -> Result<()> {
        let me = self.unlocked_identity()?;
        self.edit_record::<Conversation>(id, |h, c| {
            if h.author != me.user {
                return Err(Error::Forbidden("only the author shares a working note"));
            }
            c.visibility = Visibility::Shared.as_str().into();
            Ok(())
        })
    }

    /// Mark a conversation final.
    pub fn finalize_conversation(&self, id: DocumentId) -> Result<()> {
        self.edit_record::<Conversation>(id, |_, c| {
            c.status = ConversationStatus::Final.as_str().into();
            Ok(())
        })
    }

    // ---- generic ----------------------------------------------------------------------

    /// Edit the system document `id` (a thermometer month, a signal's notes, a pupil's
    /// sociogram answers), started from its deterministic `genesis` when this device does
    /// not hold it yet: `check` looks at it first (who may write it), `edit` changes its
    /// record at `now`, and the change is checked as the server will.
    pub(super) fn edit_system_document<R: Record>(
        &self,
        id: DocumentId,
        genesis: automerge::Automerge,
        now: i64,
        check: impl FnOnce(&automerge::Automerge) -> Result<()>,
        edit: impl FnOnce(&mut R) -> Result<()>,
    ) -> Result<()> {
        let actor = self.writer_actor();
        self.transact(id, |d| {
            let before = (!d.get_heads().is_empty()).then(|| d.clone());
            if before.is_none() {
                *d = genesis;
            }
            check(d)?;
            doc::update::<R>(id, d, &actor, now, edit)?;
            self.admit_local(id, before.as_ref(), d)
        })
    }

    /// [`Store::edit_system_document`]'s check for a document whose access fields it
    /// holds: write access, else `Forbidden(why)`.
    pub(super) fn may_write_doc(
        &self,
        id: DocumentId,
        header: &Header,
        d: &automerge::Automerge,
        why: &'static str,
    ) -> Result<()> {
        let fields = doc::access_fields(id, header, d)?;
        if self.access_to(header, &fields)? < Access::Write {
            return Err(Error::Forbidden(why));
        }
        Ok(())
    }

    pub(super) fn create_document<R: Record>(
        &self,
        header: &Header,
        record: &R,
    ) -> Result<DocumentId> {
        let id = self.new_id();
        let d = doc::create(self.writer_actor(), self.now(), header, record)?;
        let fields = doc::access_fields(id, header, &d)?;
        if self.access_to(header, &fields)? < Access::Write {
            return Err(Error::Forbidden("this user may not create this record"));
        }
        self.admit_local(id, None, &d)?;
        self.transact(id, |slot| {
            if !slot.get_heads().is_empty() {
                return Err(Error::Invalid("document id already in use".into()));
            }
            *slot = d;
            Ok(())
        })?;
        Ok(id)
    }
}
