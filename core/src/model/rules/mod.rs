//! What a change to a record may do: the one place that decides it.
//!
//! [`admit`] takes a document before a change (none for a new document), the document
//! after it (the stored state merged with what a device sent) and who writes (the user, the
//! roles the roster gives them, the device's actor), and either admits the change, returning
//! the header, access fields and summary the catalog keeps, or refuses it with a typed
//! [`Refusal`] that names its wire reason ([`Refusal::reason`]). The server runs it on every
//! `push` and every `sync` frame and keeps no rule of its own; a device store runs it before
//! it commits a local edit, so that the app says no before the server has to. The device's
//! check is a convenience; the server's is the law (DESIGN.md, "Privacy and security").
//!
//! The rules, per kind (docs/protocol.md, "Rules per kind"):
//! - everything: the header never changes; a new document is created in the writer's own
//!   name (a thermometer month is the system's, with its deterministic genesis); the writer
//!   has write access ([`crate::access`]) before and after the change; every change the
//!   server does not have yet was made by the writer's device; the document stays within
//!   the [`Limits`] of its kind;
//! - roster: written by the server only;
//! - signal ([`signal`]): a draft is changed by its author only; a shared signal's original
//!   never changes and it stays shared; follow-ups are only appended, each in the writer's
//!   own name: corrections and follow-ups by the author, "picked up" and "closed" (status,
//!   no text of their own) by the care team of the signal's route, a note "to the
//!   signaller" by those who follow it up (their other notes go in the signal's notes);
//!   readers are added to a staff-misconduct signal by the school leader only;
//! - signal notes ([`signal_notes`]): the signal's own (deterministic genesis), notes only
//!   appended, each a `follow_up` in the writer's own name;
//! - conversation ([`conversation`]): a private working note is its author's alone (the
//!   access rules), a shared one stays shared; an agreement is added in the writer's own name
//!   and keeps it;
//! - thermometer month ([`thermometer`]): entries are only appended, each recorded in the
//!   writer's own name on a known scale; an entry marked as the pupil's own comes from a
//!   pupil session of the writer, and a pupil session adds nothing else (no other kind, no
//!   answer, only entries of its group's pupils on their age band's scale); answers to
//!   requests to talk are added in the writer's own name to a request of the month and never
//!   removed;
//! - meldcode case ([`case`]): a valid case ([`Case::check`]) that keeps what was recorded
//!   ([`Case::follows`]); step entries and the weighing in the writer's own name;
//! - excursion ([`excursion`]): a valid trip ([`Excursion::check`]);
//! - oudercontact ([`parent_contact`]): created by the pupil's mentors or care team only, a
//!   final one stays final, parents by role (names only where the school records them), an
//!   agreement added in the writer's own name and keeping it;
//! - sociogram round ([`sociogram`]): a group's, with known questions that never change,
//!   a closed round stays closed; a pupil's answers in it (deterministic genesis): only
//!   appended, in the writer's own name, choosing different pupils of the same group.
//!
//! The checks run in this order, and the first that fails is the answer: the header (and a
//! new document's author), whose changes they are (the device's own), write access, the
//! kind's rules, the limits (the cheapest limits first, before the document is read).
//!
//! Every rule holds for any merge of two changes it admits, so devices that write
//! concurrently are never refused for the merge itself (a list that grows past its limit
//! through two concurrent additions is the one exception, and the limits are far above use).
//! Refusals name fields and rules, never content.

pub mod case;
pub mod conversation;
pub mod excursion;
pub mod parent_contact;
pub mod signal;
pub mod signal_notes;
pub mod sociogram;
pub mod thermometer;

#[cfg(test)]
mod tests;

use crate::budget;
use crate::doc::{self, AccessFields, Hydrated, ReadBudget, Summary};
use crate::ids::DocumentId;
use crate::model::{
    Agreement, Case, Conversation, Excursion, Header, Kind, ParentContact, Roster, Signal,
    SignalNotes, SociogramAnswers, SociogramRound, Staff, ThermometerMonth,
};
use crate::sync::RefusalReason;
use crate::{Access, access};
use automerge::{Automerge, ChangeHash, ReadDoc};

/// Who writes: the user, the roster that gives their roles and relations to pupils, and
/// the device's registered Automerge actor (its session actors extend it).
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// The school's roster.
    pub roster: &'a Roster,
    /// Staff id of the user.
    pub user: &'a str,
    /// The actor registered for the device at enrollment (16 bytes).
    pub actor: &'a [u8],
    /// The device is a pupil session (pupil mode) of `user` with this scope: it may add
    /// only thermometer entries a pupil of the scope's group enters herself.
    pub pupil_session: Option<&'a crate::model::PupilScope>,
}

/// The kinds a pupil session writes (pupil mode): its pupils' own thermometer readings and
/// sociogram answers.
pub const PUPIL_SESSION_KINDS: [Kind; 2] = [Kind::Thermometer, Kind::SociogramAnswers];

/// Why a change is refused. Messages name fields and rules, never content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The user may not write this document (before or after the change).
    #[error("the user may not write this document")]
    NoWriteAccess,
    /// Only the server writes the roster.
    #[error("only the server writes the roster")]
    ServerOnly,
    /// A field that names who wrote something names someone else.
    #[error("{0} must be the writing user")]
    NotOwnName(&'static str),
    /// The user's roles do not allow this part of the change.
    #[error("not for this user: {0}")]
    NotForRole(&'static str),
    /// A change the server does not have was made by another device.
    #[error("a change was made by another device")]
    ForgedActor,
    /// The header changed.
    #[error("the header of a document never changes")]
    HeaderChanged,
    /// Something recorded was changed or removed.
    #[error("{0} never change once recorded")]
    Changed(&'static str),
    /// The result is not a valid record of its kind.
    #[error("not a valid record: {0}")]
    Invalid(&'static str),
    /// The result is past the limits of its kind.
    #[error("past the limits of its kind: {0}")]
    TooLarge(&'static str),
}

impl Refusal {
    /// The reason sent to the device in a `refused` frame.
    pub fn reason(self) -> RefusalReason {
        match self {
            Refusal::NoWriteAccess
            | Refusal::ServerOnly
            | Refusal::NotOwnName(_)
            | Refusal::NotForRole(_) => RefusalReason::Forbidden,
            Refusal::ForgedActor => RefusalReason::ForgedActor,
            Refusal::HeaderChanged | Refusal::Changed(_) | Refusal::Invalid(_) => {
                RefusalReason::InvalidRecord
            }
            Refusal::TooLarge(_) => RefusalReason::TooLarge,
        }
    }
}

impl From<Refusal> for crate::Error {
    /// A device's own edit refused by the rules: forbidden for what the user's roles do not
    /// allow, invalid for what no one may do.
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NoWriteAccess => crate::Error::Forbidden("read-only for this user"),
            Refusal::ServerOnly => crate::Error::Forbidden("only the server writes the roster"),
            Refusal::NotOwnName(_) => crate::Error::Forbidden("written in another person's name"),
            Refusal::NotForRole(rule) => crate::Error::Forbidden(rule),
            r => crate::Error::Invalid(r.to_string()),
        }
    }
}

/// An admitted change: what the catalog keeps of the document after it.
#[derive(Debug)]
pub struct Admitted {
    /// The header.
    pub header: Header,
    /// The access fields after the change.
    pub fields: AccessFields,
    /// Changes the writer added.
    pub changes: usize,
    hydrated: Hydrated,
}

impl Admitted {
    /// The summary of the document after the change (read from the same walk).
    pub fn summary(self) -> crate::Result<Summary> {
        self.hydrated.summary()
    }
}

/// What a document of one kind may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What the loaded document may hold (map entries and list items, string bytes).
    pub read: ReadBudget,
    /// Changes in its history.
    pub changes: u64,
    /// Operations in its history.
    pub ops: u64,
}

/// The largest read budget of any kind a device writes (see [`limits`]): what a pushed
/// document is read within before its kind is known.
const DEVICE_READ: ReadBudget = ReadBudget {
    items: 50_000,
    string_bytes: MAX_TEXT,
    total_bytes: 4 << 20,
};

/// Bytes of one text field (facts, notes, an answer, a follow-up).
pub const MAX_TEXT: usize = 64 * 1024;
/// Bytes of one short field (an id, a name, a date, a kind).
pub const MAX_SHORT: usize = 1024;

/// The limits of a kind. Far above what the app writes in a school year; a document past
/// them is refused `too_large`. Operations bound what loading costs: Automerge loads about
/// 300,000 list operations a second on the machine of DESIGN.md's budget, so no push of a
/// new document costs the server more than a third of a second, and one of a signal a
/// tenth; [`crate::budget::scan`] counts them on the bytes before anything is loaded.
pub fn limits(kind: Kind) -> Limits {
    // Items and bytes of the loaded document, changes and operations in its history.
    let limit = |items, total_bytes, changes, ops| Limits {
        read: ReadBudget {
            items,
            string_bytes: MAX_TEXT,
            total_bytes,
        },
        changes,
        ops,
    };
    match kind {
        // A signal's fields are plain strings: a few operations per follow-up.
        Kind::Signal | Kind::SignalNotes => limit(20_000, 2 << 20, 5_000, 30_000),
        Kind::Excursion => limit(20_000, 2 << 20, 10_000, 30_000),
        // A few short strings per question and answer.
        Kind::SociogramRound | Kind::SociogramAnswers => limit(5_000, 256 << 10, 1_000, 10_000),
        Kind::Thermometer | Kind::Case => limit(50_000, 4 << 20, 10_000, 60_000),
        // Notes and answers are Automerge text: an operation per character typed.
        Kind::Conversation | Kind::ParentContact => limit(20_000, 2 << 20, 20_000, 100_000),
        // Written by the server from an import of the school administration's export.
        Kind::Roster => limit(2_000_000, 256 << 20, 1_000_000, 10_000_000),
    }
}

/// What can be decided from a stored document's header and access fields alone, before its
/// bytes or the pushed ones are loaded: the roster is the server's, and the writer needs
/// write access. [`admit`] decides the same again on the documents; this lets a server
/// refuse without loading anything.
pub fn may_write_stored(
    writer: &Writer<'_>,
    header: &Header,
    fields: &AccessFields,
) -> Result<(), Refusal> {
    if header.kind == Kind::Roster.as_str() {
        return Err(Refusal::ServerOnly);
    }
    if writer.pupil_session.is_some()
        && !PUPIL_SESSION_KINDS
            .iter()
            .any(|k| header.kind == k.as_str())
    {
        return Err(Refusal::NotForRole(
            "a pupil session adds thermometer readings and sociogram answers only",
        ));
    }
    if access(writer.roster, writer.user, header, fields) < Access::Write {
        return Err(Refusal::NoWriteAccess);
    }
    Ok(())
}

/// What a device may send of one document, checked on the bytes before they are loaded
/// ([`budget::scan`]): the history limits of `kind`, or of the largest device-written kind
/// when the kind is not known yet (a new document).
pub fn wire_budget(kind: Option<Kind>) -> budget::Cost {
    // A new document's kind is in its header, which only loading reads: the largest
    // device-written kind's limits then (a conversation's).
    let l = match kind {
        Some(k) if k != Kind::Roster => limits(k),
        _ => limits(Kind::Conversation),
    };
    budget::Cost {
        changes: l.changes,
        ops: l.ops,
        inflated: 16 << 20,
    }
}

/// What every per-kind rule gets.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The document's header.
    pub header: &'a Header,
    /// The writer.
    pub writer: &'a Writer<'a>,
    /// The writer as the roster lists them (active).
    pub staff: &'a Staff,
}

impl Ctx<'_> {
    /// Whether the writer is the document's author.
    pub fn is_author(&self) -> bool {
        self.header.author == self.writer.user
    }

    /// `Err(NotOwnName(field))` unless `who` is the writer.
    pub fn own_name(&self, field: &'static str, who: &str) -> Result<(), Refusal> {
        if who == self.writer.user {
            Ok(())
        } else {
            Err(Refusal::NotOwnName(field))
        }
    }
}

/// Decide whether the change from `before` (None: a new document) to `after` by `writer` is
/// admitted. See the module docs for the rules. `after` must hold `before` (the server
/// merges the device's changes into its stored document).
pub fn admit(
    id: DocumentId,
    before: Option<&Automerge>,
    after: &Automerge,
    writer: &Writer<'_>,
) -> Result<Admitted, Refusal> {
    let invalid = |_| Refusal::Invalid("the header is missing or mistyped");
    // One walk reads the document within the largest budget of any kind a device writes,
    // then the kind (from the header it read) sets the limits.
    let hydrated = Hydrated::bounded(id, after, DEVICE_READ)
        .map_err(invalid)?
        .ok_or(Refusal::TooLarge("content"))?;
    let header = hydrated.header.clone();
    let kind = header
        .kind()
        .map_err(|_| Refusal::Invalid("unknown kind"))?;
    if kind == Kind::Roster {
        return Err(Refusal::ServerOnly);
    }
    let limits = limits(kind);
    let stats = after.stats();
    if stats.num_ops > limits.ops || stats.num_changes > limits.changes {
        return Err(Refusal::TooLarge("history"));
    }
    let (items, bytes) = hydrated.size();
    if items > limits.read.items || bytes > limits.read.total_bytes {
        return Err(Refusal::TooLarge("content"));
    }
    // What the server stored passed these rules: it is read back without a budget (and its
    // typed record below from the same walk, for the kinds read that way).
    let before_walk = match before {
        Some(b) if kind != Kind::Conversation => Some(Hydrated::new(id, b).map_err(invalid)?),
        _ => None,
    };
    let before_header = match (before, &before_walk) {
        (_, Some(w)) => Some(w.header.clone()),
        (Some(b), None) => Some(doc::header(id, b).map_err(invalid)?),
        (None, _) => None,
    };
    match before_header {
        Some(h) if h != header => return Err(Refusal::HeaderChanged),
        Some(_) => {}
        // Nobody creates a document in another person's name (a thermometer month is the
        // system's: its rule checks the header is the month's own).
        None if !kind.has_shared_genesis() && header.author != writer.user => {
            return Err(Refusal::NotOwnName("header.author"));
        }
        None => {}
    }
    let Some(staff) = writer.roster.active_staff(writer.user) else {
        return Err(Refusal::NoWriteAccess);
    };
    if writer.pupil_session.is_some() && !PUPIL_SESSION_KINDS.contains(&kind) {
        return Err(Refusal::NotForRole(
            "a pupil session adds thermometer readings and sociogram answers only",
        ));
    }
    let ctx = Ctx {
        header: &header,
        writer,
        staff,
    };
    // Whose changes these are comes before what they say: a device that holds others'
    // changes a server lacks (a server restored from a backup) is told `forged_actor` and
    // sends its own alone, which the content rules would otherwise refuse as written in
    // another's name. A thermometer month's genesis is anyone's.
    let mut month: Option<ThermometerMonth> = None;
    let mut notes: Option<SignalNotes> = None;
    let mut answers: Option<SociogramAnswers> = None;
    let genesis = match kind {
        Kind::Thermometer => {
            let a: ThermometerMonth = hydrated.record().map_err(unreadable)?;
            let g = thermometer::genesis(&header, id, &a, writer.roster)?;
            month = Some(a);
            g
        }
        Kind::SignalNotes => {
            let a: SignalNotes = hydrated.record().map_err(unreadable)?;
            let g = signal_notes::genesis(&header, id, &a)?;
            notes = Some(a);
            g
        }
        Kind::SociogramAnswers => {
            let a: SociogramAnswers = hydrated.record().map_err(unreadable)?;
            let g = sociogram::answers_genesis(&header, id, &a)?;
            answers = Some(a);
            g
        }
        _ => None,
    };
    let changes = own_changes(after, before, writer, genesis)?;
    // Per kind: the typed record before (what the server stored passed these rules, so it
    // is read back without a budget) and after, its access fields, and its rules.
    let fields = match kind {
        Kind::Signal => {
            let (b, a) = walked::<Signal>(&hydrated, before_walk.as_ref(), None)?;
            checked(&ctx, b, a, AccessFields::of_signal, signal::admit)?
        }
        Kind::Thermometer => {
            let (b, a) = walked::<ThermometerMonth>(&hydrated, before_walk.as_ref(), month.take())?;
            checked(&ctx, b, a, AccessFields::of_thermometer, thermometer::admit)?
        }
        Kind::SignalNotes => {
            let (b, a) = walked::<SignalNotes>(&hydrated, before_walk.as_ref(), notes.take())?;
            checked(
                &ctx,
                b,
                a,
                AccessFields::of_signal_notes,
                signal_notes::admit,
            )?
        }
        Kind::Case => {
            let (b, a) = walked::<Case>(&hydrated, before_walk.as_ref(), None)?;
            checked(&ctx, b, a, |_| AccessFields::default(), case::admit)?
        }
        Kind::Excursion => {
            let (b, a) = walked::<Excursion>(&hydrated, before_walk.as_ref(), None)?;
            checked(&ctx, b, a, AccessFields::of_excursion, excursion::admit)?
        }
        Kind::Conversation => {
            let (b, a) = texted::<Conversation>(id, before, after)?;
            checked(
                &ctx,
                b,
                a,
                AccessFields::of_conversation,
                conversation::admit,
            )?
        }
        Kind::ParentContact => {
            // Always in the dossier: no access fields.
            let (b, a) = texted::<ParentContact>(id, before, after)?;
            checked(
                &ctx,
                b,
                a,
                |_| AccessFields::default(),
                parent_contact::admit,
            )?
        }
        Kind::SociogramRound => {
            let (b, a) = walked::<SociogramRound>(&hydrated, before_walk.as_ref(), None)?;
            checked(
                &ctx,
                b,
                a,
                AccessFields::of_sociogram_round,
                sociogram::admit_round,
            )?
        }
        Kind::SociogramAnswers => {
            let (b, a) =
                walked::<SociogramAnswers>(&hydrated, before_walk.as_ref(), answers.take())?;
            let of = AccessFields::of_sociogram_answers;
            checked(&ctx, b, a, of, sociogram::admit_answers)?
        }
        Kind::Roster => return Err(Refusal::ServerOnly),
    };
    Ok(Admitted {
        header,
        fields,
        changes,
        hydrated,
    })
}

/// Why a record that does not read as its kind is refused.
fn unreadable<E>(_: E) -> Refusal {
    Refusal::Invalid("the record does not read as its kind")
}

/// A kind's typed record before (from the walk of what the server stored) and after (`read`
/// when the genesis check read it already, else from the walk of the change).
fn walked<R: crate::model::Record + serde::de::DeserializeOwned>(
    hydrated: &Hydrated,
    before: Option<&Hydrated>,
    read: Option<R>,
) -> Result<(Option<R>, R), Refusal> {
    let a = match read {
        Some(a) => a,
        None => hydrated.record().map_err(unreadable)?,
    };
    let b = before
        .map(|w| w.record::<R>())
        .transpose()
        .map_err(unreadable)?;
    Ok((b, a))
}

/// A kind's typed record before and after, for a kind with Automerge text (conversations,
/// oudercontacten): read through autosurgeon, as the walk reads text as a map.
fn texted<R: crate::model::Record>(
    id: DocumentId,
    before: Option<&Automerge>,
    after: &Automerge,
) -> Result<(Option<R>, R), Refusal> {
    let a = doc::record(id, after).map_err(unreadable)?;
    let b = before
        .map(|b| doc::record::<R>(id, b))
        .transpose()
        .map_err(unreadable)?;
    Ok((b, a))
}

/// A kind's record checked: the writer may write it with the access fields `of` gives
/// before and after, and its own rules (`admit`) hold. Returns the access fields after.
fn checked<R>(
    ctx: &Ctx<'_>,
    before: Option<R>,
    after: R,
    of: impl Fn(&R) -> AccessFields,
    admit: impl FnOnce(&Ctx<'_>, Option<&R>, &R) -> Result<(), Refusal>,
) -> Result<AccessFields, Refusal> {
    let fields = of(&after);
    may_write(ctx, before.as_ref().map(&of), &fields)?;
    admit(ctx, before.as_ref(), &after)?;
    Ok(fields)
}

/// The writer may write the document before the change (with the access fields it had
/// then; none for a new document) and after it.
fn may_write(
    ctx: &Ctx<'_>,
    before: Option<AccessFields>,
    after: &AccessFields,
) -> Result<(), Refusal> {
    let ok = |f: &AccessFields| {
        access(ctx.writer.roster, ctx.writer.user, ctx.header, f) == Access::Write
    };
    if before.as_ref().is_none_or(ok) && ok(after) {
        Ok(())
    } else {
        Err(Refusal::NoWriteAccess)
    }
}

/// Every change in `after` that is not in `before` was made by the writer's device: its
/// actor is the registered actor or a session actor that extends it (the registered bytes
/// followed by at most 16 more, see `Store::writer_actor`). `allowed` is a change anyone
/// may bring (a thermometer month's deterministic genesis). Returns how many there are.
fn own_changes(
    after: &Automerge,
    before: Option<&Automerge>,
    writer: &Writer<'_>,
    allowed: Option<ChangeHash>,
) -> Result<usize, Refusal> {
    let heads = before.map(Automerge::get_heads).unwrap_or_default();
    let metas = after.get_changes_meta(&heads);
    for m in &metas {
        let actor = m.actor.to_bytes();
        let own = actor.starts_with(writer.actor) && actor.len() <= writer.actor.len() + 16;
        if !own && Some(m.hash) != allowed {
            return Err(Refusal::ForgedActor);
        }
    }
    Ok(metas.len())
}

/// Entries of `after` that are not in `before`, each matched once (a multiset difference),
/// entries found by their `key` (an id) and then compared whole: `Err(Changed(what))` if an
/// entry of `before` is missing from `after` (changed or removed). O(n log n): a month of
/// 3,000 entries is matched in microseconds.
pub(crate) fn appended<'a, T: PartialEq>(
    what: &'static str,
    before: &[T],
    after: &'a [T],
    key: impl Fn(&T) -> &str,
) -> Result<Vec<&'a T>, Refusal> {
    let mut by_key: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, a) in after.iter().enumerate() {
        by_key.entry(key(a)).or_default().push(i);
    }
    let mut matched = vec![false; after.len()];
    for b in before {
        let found = by_key
            .get(key(b))
            .and_then(|is| is.iter().copied().find(|&i| !matched[i] && after[i] == *b))
            .ok_or(Refusal::Changed(what))?;
        matched[found] = true;
    }
    Ok(after
        .iter()
        .zip(matched)
        .filter(|(_, m)| !m)
        .map(|(a, _)| a)
        .collect())
}

/// The agreements of a kindgesprek or an oudercontact: each new one added in the writer's
/// own name (`by`), and each keeps who added it.
pub(crate) fn agreements(
    ctx: &Ctx<'_>,
    before: &[Agreement],
    after: &[Agreement],
) -> Result<(), Refusal> {
    for a in after {
        short("agreement id", &a.id)?;
        match before.iter().find(|o| o.id == a.id) {
            Some(o) if o.by != a.by => return Err(Refusal::Changed("who added an agreement")),
            Some(_) => {}
            None => match &a.by {
                Some(by) => ctx.own_name("agreement by", by)?,
                None => return Err(Refusal::NotOwnName("agreement by")),
            },
        }
    }
    Ok(())
}

/// The hash of a system document's genesis change, if `id` and `header` are the
/// deterministic ones (`genesis`: the id and document any device builds; `own`: the header
/// it has); else `refusal`.
pub(crate) fn genesis_of(
    id: DocumentId,
    header: &Header,
    genesis: crate::Result<(DocumentId, Automerge)>,
    own: &Header,
    refusal: Refusal,
) -> Result<Option<ChangeHash>, Refusal> {
    match genesis {
        Ok((gid, g)) if gid == id && header == own => Ok(g.get_heads().first().copied()),
        _ => Err(refusal),
    }
}

/// `Err(TooLarge(what))` if a list is longer than `max`.
pub(crate) fn at_most<T>(what: &'static str, list: &[T], max: usize) -> Result<(), Refusal> {
    if list.len() > max {
        Err(Refusal::TooLarge(what))
    } else {
        Ok(())
    }
}

/// `Err(TooLarge(what))` if a short field (an id, a name, a date) is longer than
/// [`MAX_SHORT`].
pub(crate) fn short(what: &'static str, s: &str) -> Result<(), Refusal> {
    if s.len() > MAX_SHORT {
        Err(Refusal::TooLarge(what))
    } else {
        Ok(())
    }
}
