//! Creating documents (a genesis change per record; singletons with a fixed actor and time
//! zero) and editing them: a record by difference, the roster entry by entry, the school
//! settings under the roster's own key.

use super::{HEADER_KEY, RECORD_KEY, SETTINGS_KEY, VIEWS_KEY, check_kind};
use crate::ids::DocumentId;
use crate::model::{Header, Record, Roster};
use crate::{Error, Result};
use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{ActorId, Automerge, ROOT};
use autosurgeon::reconcile::LoadKey;
use std::collections::BTreeMap;

/// Reconcile header and record into a fresh document as `actor`, committed at `time_s`.
pub(super) fn genesis<R: Record>(
    actor: ActorId,
    time_s: i64,
    header: &Header,
    record: &R,
) -> Result<Automerge> {
    let mut doc = Automerge::new().with_actor(actor);
    let mut tx = doc.transaction();
    autosurgeon::reconcile_prop(&mut tx, ROOT, HEADER_KEY, header)?;
    autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, record)?;
    tx.commit_with(CommitOptions::default().with_time(time_s));
    Ok(doc)
}

/// A new document with `header` and `record`, written by `actor` at `now_ms`.
pub fn create<R: Record>(
    actor: ActorId,
    now_ms: i64,
    header: &Header,
    record: &R,
) -> Result<Automerge> {
    genesis(actor, now_ms / 1000, header, record)
}

/// The genesis of a singleton document (one per pupil and month, one roster per school):
/// a fixed actor derived from the id, time zero, so every device that creates it offline
/// produces the very same change and the two creations merge into one.
pub fn genesis_singleton<R: Record>(
    id: DocumentId,
    header: &Header,
    record: &R,
) -> Result<Automerge> {
    genesis(ActorId::from(id.as_bytes().to_vec()), 0, header, record)
}

/// Apply `edit` to the typed record of `doc` as `actor`, in one change. Returns whether
/// anything changed. On error nothing is changed.
pub fn update<R: Record>(
    id: DocumentId,
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    edit: impl FnOnce(&mut R) -> Result<()>,
) -> Result<bool> {
    check_kind::<R>(id, doc)?;
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    // Read inside the transaction: a text remembers the heads it was read at, and
    // reconciling it compares them with the transaction's base heads, which hold this
    // actor's last change besides the document's heads when the actor wrote before (so a
    // text read from the document itself is "stale" as soon as another actor wrote since).
    let mut value: R = match autosurgeon::hydrate_prop(&tx, ROOT, RECORD_KEY) {
        Ok(v) => v,
        Err(e) => {
            tx.rollback();
            return Err(Error::InvalidDocument {
                id,
                kind: R::KIND.as_str(),
                reason: e.to_string(),
            });
        }
    };
    if let Err(e) = edit(&mut value) {
        tx.rollback();
        return Err(e);
    }
    autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, &value)?;
    Ok(commit_if_changed(tx, now_ms))
}

/// Bring a roster document (the school's roster or a member's view) from `old`, the
/// record it holds now, to `new` as one change written by `actor`; false if nothing changed.
///
/// Only what differs is reconciled: a pupil, group or staff member whose entry changed, one
/// added or removed, a top-level field. Reconciling the whole record instead reads every
/// field of every pupil back from Automerge, which made a roster change cost the school's
/// size once per staff member. `old` must be what the document holds (hydrated from it);
/// a document without the record or its maps is reconciled whole.
pub fn update_roster(
    id: DocumentId,
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    old: &Roster,
    new: &Roster,
) -> Result<bool> {
    use automerge::{ObjType, ReadDoc, Value};
    if old == new {
        return Ok(false);
    }
    check_kind::<Roster>(id, doc)?;
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    let map_at = |tx: &automerge::transaction::Transaction<'_>,
                  obj: &automerge::ObjId,
                  key: &str| match tx.get(obj, key) {
        Ok(Some((Value::Object(ObjType::Map), o))) => Some(o),
        _ => None,
    };
    let record = map_at(&tx, &ROOT, RECORD_KEY);
    let maps = record.as_ref().and_then(|r| {
        Some((
            r.clone(),
            map_at(&tx, r, "pupils")?,
            map_at(&tx, r, "groups")?,
            map_at(&tx, r, "staff")?,
        ))
    });
    match maps {
        Some((record, pupils, groups, staff)) => {
            // A map that was empty is written whole, as one new object (a new staff
            // member's view, a school's first import); the others entry by entry.
            write_map(&mut tx, &pupils, "pupils", &old.pupils, &new.pupils)?;
            write_map(&mut tx, &groups, "groups", &old.groups, &new.groups)?;
            write_map(&mut tx, &staff, "staff", &old.staff, &new.staff)?;
            if old.school != new.school {
                autosurgeon::reconcile_prop(&mut tx, &record, "school", &new.school)?;
            }
            if old.offline_lease_days != new.offline_lease_days {
                autosurgeon::reconcile_prop(
                    &mut tx,
                    &record,
                    "offline_lease_days",
                    new.offline_lease_days,
                )?;
            }
            if old.viewer != new.viewer {
                autosurgeon::reconcile_prop(&mut tx, &record, "viewer", &new.viewer)?;
            }
            if old.parent_names != new.parent_names {
                autosurgeon::reconcile_prop(&mut tx, &record, "parent_names", new.parent_names)?;
            }
        }
        None => autosurgeon::reconcile_prop(&mut tx, ROOT, RECORD_KEY, new)?,
    }
    Ok(commit_if_changed(tx, now_ms))
}

/// A map written as a new object in one batch: Automerge builds the whole tree with two
/// splices of its op set, where entry by entry costs several per entry (a view of 750
/// pupils and 210 staff: about 0.2 s entry by entry). It replaces the object at its key,
/// which suits documents only the server writes (a roster, a roster view), one commit
/// after the other.
struct Fresh<'a, V>(&'a BTreeMap<String, V>);

impl<V> Clone for Fresh<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Fresh<'_, V> {}

impl<'a, V> Fresh<'a, V> {
    /// `new` as a fresh map when it replaces an empty one.
    fn of(old: &BTreeMap<String, V>, new: &'a BTreeMap<String, V>) -> Option<Self> {
        (old.is_empty() && !new.is_empty()).then_some(Fresh(new))
    }
}

impl<V: autosurgeon::Reconcile> autosurgeon::Reconcile for Fresh<'_, V> {
    type Key<'k> = ();

    fn reconcile<R: autosurgeon::Reconciler>(&self, reconciler: R) -> Result<(), R::Error> {
        self.0.reconcile(reconciler)
    }

    // A key that is never found in the document and always on the value: autosurgeon
    // then creates the value as a new object, in one batch (`batch_create_object`).
    fn hydrate_key<'k, D: autosurgeon::ReadDoc>(
        _doc: &D,
        _obj: &automerge::ObjId,
        _prop: autosurgeon::Prop<'_>,
    ) -> Result<LoadKey<Self::Key<'k>>, autosurgeon::ReconcileError> {
        Ok(LoadKey::KeyNotFound)
    }

    fn key(&self) -> LoadKey<Self::Key<'_>> {
        LoadKey::Found(())
    }
}

/// `map` put at `key` of the record map as a new object (the record's other keys
/// untouched): autosurgeon creates a keyed value in one batch only through its parent map.
struct PutFresh<'a, V> {
    key: &'static str,
    map: Fresh<'a, V>,
}

impl<V: autosurgeon::Reconcile> autosurgeon::Reconcile for PutFresh<'_, V> {
    type Key<'k> = ();

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        reconciler.map()?.put(self.key, self.map)?;
        Ok(())
    }
}

/// Write the record's map `key` (object `obj`) from `old` to `new`: whole when it was empty
/// ([`Fresh`]), else entry by entry.
fn write_map<V: autosurgeon::Reconcile + PartialEq>(
    tx: &mut Transaction<'_>,
    obj: &automerge::ObjId,
    key: &'static str,
    old: &BTreeMap<String, V>,
    new: &BTreeMap<String, V>,
) -> Result<()> {
    match Fresh::of(old, new) {
        Some(map) => autosurgeon::reconcile_prop(tx, ROOT, RECORD_KEY, PutFresh { key, map })?,
        None => reconcile_entries(tx, obj, old, new)?,
    }
    Ok(())
}

/// Reconcile the entries of map `obj` that differ between `old` and `new`, and delete the
/// ones `new` lacks.
pub(super) fn reconcile_entries<V: autosurgeon::Reconcile + PartialEq>(
    tx: &mut automerge::transaction::Transaction<'_>,
    obj: &automerge::ObjId,
    old: &std::collections::BTreeMap<String, V>,
    new: &std::collections::BTreeMap<String, V>,
) -> Result<()> {
    for (k, v) in new {
        if old.get(k) != Some(v) {
            autosurgeon::reconcile_prop(&mut *tx, obj, k.as_str(), v)?;
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        tx.delete(obj, k.as_str())?;
    }
    Ok(())
}

/// The school settings in a roster document (defaults where none are set).
pub fn school_settings(doc: &impl autosurgeon::ReadDoc) -> crate::model::SchoolSettings {
    autosurgeon::hydrate_prop::<_, Option<crate::model::SchoolSettings>, _, _>(
        doc,
        &ROOT,
        SETTINGS_KEY,
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// The mark a school's roster document carries of its staff's views (the server's
/// fingerprint of the views it last wrote, [`VIEWS_KEY`]); None when it carries none.
pub fn views_mark(doc: &impl autosurgeon::ReadDoc) -> Option<String> {
    autosurgeon::hydrate_prop::<_, Option<String>, _, _>(doc, &ROOT, VIEWS_KEY)
        .ok()
        .flatten()
}

/// Write the views mark ([`views_mark`]) into a roster document as one change; false if it
/// carried that mark already.
pub fn set_views_mark(
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    mark: &str,
) -> Result<bool> {
    if views_mark(doc).as_deref() == Some(mark) {
        return Ok(false);
    }
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    tx.put(ROOT, VIEWS_KEY, mark)?;
    tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    Ok(true)
}

/// Write the school settings into a roster document as one change; false if nothing
/// changed.
pub fn set_school_settings(
    doc: &mut Automerge,
    actor: &ActorId,
    now_ms: i64,
    settings: &crate::model::SchoolSettings,
) -> Result<bool> {
    doc.set_actor(actor.clone());
    let mut tx = doc.transaction();
    autosurgeon::reconcile_prop(&mut tx, ROOT, SETTINGS_KEY, settings)?;
    Ok(commit_if_changed(tx, now_ms))
}

/// Commit `tx` at `now_ms` if it holds any operation (true); otherwise roll it back (false:
/// nothing changed, and no empty change is written).
fn commit_if_changed(tx: Transaction<'_>, now_ms: i64) -> bool {
    if tx.pending_ops() == 0 {
        tx.rollback();
        return false;
    }
    tx.commit_with(CommitOptions::default().with_time(now_ms / 1000));
    true
}
