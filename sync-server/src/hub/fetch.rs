//! `fetch`: the documents a device asks for, whole (a device that has none of one: a fresh
//! pull) or the changes it lacks.
//!
//! Making what to send is the costly part (reading the stored documents; loading and
//! saving one that is a snapshot plus changes). With [`HubConfig::fetch_beside`] a large
//! fetch is made beside the hub, on a reader's storage connection ([`super::beside`]),
//! while the hub serves other devices. Nothing made there is sent as it was made: the hub
//! reads the catalog rows written since the reader began (every write, erasure and roster
//! bump moves a row's sequence past it) and makes anew, here, each document whose row moved
//! on (a newer change, an erasure); then the delivery planner judges every document by the
//! roster and rows as they are now, records the deliveries and sends. The rows the reader
//! read are not read again one by one: those that did not move on are the stored ones.
//!
//! [`HubConfig::fetch_beside`]: super::HubConfig::fetch_beside

use super::beside::Purpose;
use super::fanout::{Offer, Recipient, docs_frames, plan, same_heads, whole_doc};
use super::{ConnId, Hub, Outgoing, catalog_map, load_cached, readable};
use crate::Result;
use crate::cache::DocCache;
use crate::storage::{Batch, CatalogRow, Storage, StoredDoc};
use automerge::{Automerge, ChangeHash};
use omkijken_core::DocumentId;
use omkijken_core::ids::heads_from_hex;
use omkijken_core::model::Roster;
use omkijken_core::sync::{DocChanges, FetchRequest, Frame};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What was made to send for one document, and from which catalog row.
#[derive(Debug)]
pub(super) struct Made {
    seq: u64,
    heads: Vec<ChangeHash>,
    /// The changes to send; none when the device needs nothing.
    changes: Option<DocChanges>,
    /// A snapshot plus changes saved as one document: stored so for the next device
    /// (`chunks` as read, the saved bytes).
    compact: Option<(u32, Vec<u8>)>,
}

/// What was made, by document.
pub(super) type Prepared = BTreeMap<DocumentId, Made>;

/// At most this many catalog rows written since a fetch's read beside the hub are read to
/// see which of its documents moved on; with more, its rows are read again one by one.
pub(super) const MOVED_UP_TO: usize = 1_000;

/// What a fetch read beside the hub made, and from what.
#[derive(Debug)]
pub(super) struct MadeBeside {
    made: Prepared,
    /// The catalog rows it read.
    rows: BTreeMap<DocumentId, CatalogRow>,
    /// The catalog's last sequence before it read them: a row written since has a higher one.
    since: u64,
}

/// A fetch read beside the hub: what the session asked, and the roster it was judged by.
#[derive(Debug)]
pub(super) struct Awaited {
    pub(super) reqs: Vec<FetchRequest>,
    pub(super) roster: Arc<Roster>,
}

/// Each document asked for once, in the order asked, with what the device has; unknown
/// ones left out.
fn asked<'r>(
    reqs: &[FetchRequest],
    rows: &'r BTreeMap<DocumentId, CatalogRow>,
) -> Vec<(&'r CatalogRow, Vec<ChangeHash>)> {
    let mut seen = BTreeSet::new();
    reqs.iter()
        .filter(|r| seen.insert(r.document_id))
        .filter_map(|r| {
            let row = rows.get(&r.document_id)?;
            Some((row, heads_from_hex(&r.have).unwrap_or_default()))
        })
        .collect()
}

fn ids_of(reqs: &[FetchRequest]) -> Vec<DocumentId> {
    reqs.iter().map(|r| r.document_id).collect()
}

/// Make what to send for each document of `asked` that `user` may read and that is not in
/// `made` yet: on the hub with its cache, or beside it without (`cache` none).
fn prepare(
    storage: &mut dyn Storage,
    mut cache: Option<&mut DocCache>,
    roster: &Roster,
    user: &str,
    asked: &[(&CatalogRow, Vec<ChangeHash>)],
    made: &mut Prepared,
) -> Result<()> {
    let todo: Vec<&(&CatalogRow, Vec<ChangeHash>)> = asked
        .iter()
        .filter(|(row, _)| readable(roster, user, row) && !made.contains_key(&row.id))
        .collect();
    // Whole documents (a device that has none of it: a fresh pull) are read together.
    let whole: Vec<DocumentId> = todo
        .iter()
        .filter(|(_, have)| have.is_empty())
        .map(|(row, _)| row.id)
        .collect();
    let mut stored_whole = storage.load_stored_many(&whole)?;
    for (row, have) in todo {
        let mut m = Made {
            seq: row.seq,
            heads: row.heads.clone(),
            changes: None,
            compact: None,
        };
        let mut have_sorted = have.clone();
        have_sorted.sort();
        if have_sorted != row.heads {
            let doc = if have.is_empty() {
                match stored_whole.remove(&row.id) {
                    Some(stored) if row.chunks > 0 && stored.summary.is_some() => {
                        // A snapshot plus changes: saved as one document (sent so that the
                        // device need not load it) and stored so for the next device.
                        match Automerge::load(&stored.data) {
                            Ok(d) if same_heads(&d.get_heads(), &row.heads) => {
                                let data = d.save();
                                m.compact = Some((row.chunks, data.clone()));
                                let compacted = CatalogRow {
                                    chunks: 0,
                                    ..(*row).clone()
                                };
                                let summary = stored.summary;
                                Some(whole_doc(&compacted, StoredDoc { data, summary }))
                            }
                            _ => Some(whole_doc(row, stored)),
                        }
                    }
                    stored => stored.map(|s| whole_doc(row, s)),
                }
            } else {
                let doc = match cache.as_deref_mut() {
                    Some(cache) => load_cached(cache, storage, row)?,
                    None => match storage.load_doc(row.id)? {
                        Some(bytes) => Some(Automerge::load(&bytes)?),
                        None => None,
                    },
                };
                doc.map(|doc| {
                    let known: Vec<ChangeHash> = have
                        .iter()
                        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
                        .copied()
                        .collect();
                    let data = if known.is_empty() {
                        doc.save()
                    } else {
                        doc.save_after(&known)
                    };
                    DocChanges::new(row.id, data)
                })
            };
            m.changes = doc.filter(|d| !d.data.is_empty());
        }
        made.insert(row.id, m);
    }
    Ok(())
}

/// Make what to send for a fetch beside the hub: pure reads, on any storage connection of
/// the same store.
pub(super) fn prepare_beside(
    storage: &mut dyn Storage,
    roster: &Roster,
    user: &str,
    reqs: &[FetchRequest],
) -> Result<MadeBeside> {
    let since = storage.last_seq()?;
    let rows = catalog_map(storage, &ids_of(reqs))?;
    let mut made = Prepared::new();
    prepare(storage, None, roster, user, &asked(reqs, &rows), &mut made)?;
    Ok(MadeBeside { made, rows, since })
}

impl Hub {
    pub(super) fn fetch(
        &mut self,
        now: i64,
        conn: ConnId,
        reqs: Vec<FetchRequest>,
    ) -> Result<Outgoing> {
        let session = &self.sessions[&conn];
        if session.scope.is_some() {
            // A pupil session reads nothing: every document looks unknown (nothing is sent).
            return Ok(vec![(
                conn,
                Frame::Docs {
                    docs: vec![],
                    cursor: 0,
                },
            )]);
        }
        let large = self
            .config
            .fetch_beside
            .is_some_and(|from| reqs.len() >= from);
        if large && self.may_read_beside(conn) {
            let device = session.device.clone();
            let roster = self.roster(&device.school)?;
            self.read_beside(
                conn,
                device,
                roster.clone(),
                Purpose::Fetch(Awaited { reqs, roster }),
            );
            return Ok(vec![]);
        }
        if self.sessions[&conn].beside.is_some() {
            // Behind reads beside the hub: answered after them, in order.
            return Ok(self.park(now, conn, Frame::Fetch { docs: reqs }));
        }
        self.fetch_here(now, conn, &reqs, None)
    }

    /// A fetch read beside the hub is back (`made`: none when nothing was read): answered
    /// here, with what was made there if the roster it was judged by is still the school's.
    pub(super) fn fetched(
        &mut self,
        now: i64,
        conn: ConnId,
        awaited: Awaited,
        made: Option<MadeBeside>,
    ) -> Result<Outgoing> {
        let school = self.sessions[&conn].device.school.clone();
        let roster = self.roster(&school)?;
        let made = made.filter(|_| Arc::ptr_eq(&roster, &awaited.roster));
        self.fetch_here(now, conn, &awaited.reqs, made)
    }

    /// The catalog rows of the documents asked for, as stored now: those read beside the
    /// hub (`beside`) with the ones written since put in their place, or all read here.
    fn rows_now(
        &mut self,
        reqs: &[FetchRequest],
        beside: Option<(BTreeMap<DocumentId, CatalogRow>, u64)>,
    ) -> Result<BTreeMap<DocumentId, CatalogRow>> {
        let Some((mut rows, since)) = beside else {
            return self.catalog_map(&ids_of(reqs));
        };
        let moved = self.storage.catalog_changes(since, MOVED_UP_TO)?;
        if moved.len() >= MOVED_UP_TO {
            return self.catalog_map(&ids_of(reqs));
        }
        let asked: BTreeSet<DocumentId> = reqs.iter().map(|r| r.document_id).collect();
        for row in moved.into_iter().filter(|r| asked.contains(&r.id)) {
            rows.insert(row.id, row);
        }
        Ok(rows)
    }

    /// Answer a fetch: what was made beside the hub (`beside`) from a catalog row that is
    /// still the stored one is sent as made; every other readable document is made here
    /// first.
    fn fetch_here(
        &mut self,
        now: i64,
        conn: ConnId,
        reqs: &[FetchRequest],
        beside: Option<MadeBeside>,
    ) -> Result<Outgoing> {
        let device = self.sessions[&conn].device.clone();
        let roster = self.roster(&device.school)?;
        let (mut made, beside) = match beside {
            Some(b) => (b.made, Some((b.rows, b.since))),
            None => (Prepared::new(), None),
        };
        let rows = self.rows_now(reqs, beside)?;
        let asked = asked(reqs, &rows);
        // Made from a row that moved on since (a newer change, an erasure): made again.
        made.retain(|id, m| {
            rows.get(id)
                .is_some_and(|r| r.seq == m.seq && r.heads == m.heads)
        });
        prepare(
            self.storage.as_mut(),
            Some(&mut self.cache),
            &roster,
            &device.user,
            &asked,
            &mut made,
        )?;
        // Unknown, erased and unreadable look the same: the planner sends nothing for the
        // last two.
        let offers: Vec<Offer<'_>> = asked.iter().map(|(row, _)| Offer::of(row)).collect();
        let recipient = [Recipient {
            conn,
            device: device.id.clone(),
            user: device.user.clone(),
        }];
        let offered: Vec<DocumentId> = offers.iter().map(|o| o.id).collect();
        let holdings = self
            .storage
            .holdings(std::slice::from_ref(&device.id), &offered)?;
        let mut batch = Batch::default();
        let mut compact = vec![];
        let deliveries = plan(
            self.storage.as_mut(),
            &mut batch,
            now,
            &roster,
            &recipient,
            &offers,
            &holdings,
            None,
            false,
            |_, i, _| {
                let id = asked[i].0.id;
                let Some(m) = made.remove(&id) else {
                    return Ok(None);
                };
                if m.changes.is_some()
                    && let Some((chunks, data)) = m.compact
                {
                    compact.push((id, chunks, data));
                }
                Ok(m.changes)
            },
        )?;
        batch.compact = compact;
        if !batch.is_empty() {
            self.storage.commit(batch)?;
        }
        // Always an answer, empty or not (the device waits for it).
        let docs = deliveries.into_iter().flat_map(|d| d.docs).collect();
        Ok(docs_frames(docs, 0)
            .into_iter()
            .map(|f| (conn, f))
            .collect())
    }
}
