//! The live index: which live sessions a delivery may concern, without looking at every
//! session of the school. Sessions are indexed by school, user and device when they go
//! live (`hello` answered) and forgotten when they close; the staff who may read a
//! document are computed once per access key (what [`access`] reads of a catalog row:
//! kind, school, pupil, author and the access fields) and roster, and kept until the
//! roster changes. A push then costs the hub the readers and holders of what changed, not
//! the devices connected.
//!
//! The index only narrows who is looked at: the delivery planner (`fanout::plan`) still
//! checks every recipient against the access rules, so a stale or wrong entry could at
//! worst leave a reader out, never send a document to someone who may not read it.

use super::fanout::{Offer, Recipient};
use super::{ConnId, Hub};
use crate::storage::Holding;
use omkijken_core::doc::AccessFields;
use omkijken_core::model::{Header, Roster};
use omkijken_core::{Access, access};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Access keys remembered per school before the memo starts again.
const MEMO_MAX: usize = 20_000;

/// The live sessions of one school, by user and by device.
#[derive(Debug, Default)]
pub(super) struct LiveSchool {
    users: BTreeMap<String, BTreeSet<ConnId>>,
    devices: BTreeMap<String, BTreeSet<ConnId>>,
}

/// Everything [`access`] reads of a document besides the roster and the user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct AccessKey {
    kind: String,
    school: String,
    pupil: Option<String>,
    author: String,
    visibility: Option<String>,
    urgency: Option<u8>,
    category: Option<String>,
    readers: Vec<String>,
}

impl AccessKey {
    fn of(header: &Header, fields: &AccessFields) -> AccessKey {
        AccessKey {
            kind: header.kind.clone(),
            school: header.school.clone(),
            pupil: header.pupil.clone(),
            author: header.author.clone(),
            visibility: fields.visibility.clone(),
            urgency: fields.urgency,
            category: fields.category.clone(),
            readers: fields.readers.clone(),
        }
    }
}

/// The staff who may read, per access key, under one roster.
#[derive(Debug)]
pub(super) struct ReaderMemo {
    roster: Arc<Roster>,
    readers: BTreeMap<AccessKey, Arc<Vec<String>>>,
}

/// The staff of `roster` who may read a document of this header and fields.
fn readers(roster: &Roster, header: &Header, fields: &AccessFields) -> Vec<String> {
    roster
        .staff
        .keys()
        .filter(|id| access(roster, id, header, fields) >= Access::Read)
        .cloned()
        .collect()
}

impl Hub {
    /// Index a session that went live (a pupil session or an automerge-repo peer is never
    /// indexed: nothing is delivered to it through here).
    pub(super) fn index_live(&mut self, conn: ConnId) {
        let Some(s) = self.sessions.get(&conn) else {
            return;
        };
        if !s.live || s.scope.is_some() || s.repo {
            return;
        }
        let school = self.live.entry(s.device.school.clone()).or_default();
        school
            .users
            .entry(s.device.user.clone())
            .or_default()
            .insert(conn);
        school
            .devices
            .entry(s.device.id.clone())
            .or_default()
            .insert(conn);
    }

    /// Forget a session: out of the sessions and out of the index.
    pub(super) fn remove_session(&mut self, conn: ConnId) {
        let Some(s) = self.sessions.remove(&conn) else {
            return;
        };
        if s.repo {
            self.repo_sessions -= 1;
        }
        if let Some(n) = self.conns_of.get_mut(&s.device.id) {
            *n -= 1;
            if *n == 0 {
                self.conns_of.remove(&s.device.id);
            }
        }
        let Some(school) = self.live.get_mut(&s.device.school) else {
            return;
        };
        for (map, key) in [
            (&mut school.users, &s.device.user),
            (&mut school.devices, &s.device.id),
        ] {
            if let Some(set) = map.get_mut(key) {
                set.remove(&conn);
                if set.is_empty() {
                    map.remove(key);
                }
            }
        }
        if school.users.is_empty() && school.devices.is_empty() {
            self.live.remove(&s.device.school);
        }
    }

    /// The staff who may read a document of `header` and `fields` under `roster`: from the
    /// memo when `roster` is the school's cached roster, computed otherwise.
    fn readers_of(
        &mut self,
        roster: &Roster,
        header: &Header,
        fields: &AccessFields,
    ) -> Arc<Vec<String>> {
        let cached = self
            .rosters
            .get(&header.school)
            .filter(|r| std::ptr::eq(Arc::as_ptr(r), roster))
            .cloned();
        let Some(cached) = cached else {
            return Arc::new(readers(roster, header, fields));
        };
        let memo = self
            .reader_memo
            .entry(header.school.clone())
            .or_insert_with(|| ReaderMemo {
                roster: cached.clone(),
                readers: BTreeMap::new(),
            });
        // The memo holds its roster, so a pointer seen equal is that roster, not a new one
        // at the same address.
        if !Arc::ptr_eq(&memo.roster, &cached) || memo.readers.len() >= MEMO_MAX {
            memo.roster = cached;
            memo.readers.clear();
        }
        memo.readers
            .entry(AccessKey::of(header, fields))
            .or_insert_with(|| Arc::new(readers(roster, header, fields)))
            .clone()
    }

    /// The live sessions of `school` (but `except`) a delivery of `offers` may concern: the
    /// sessions of the staff who may read one of them, and those of the devices that hold
    /// one of them (`holders`, what the storage says they hold: they may have to purge it).
    /// In the order of their ids, like the sessions.
    pub(super) fn recipients_of(
        &mut self,
        school: &str,
        except: Option<ConnId>,
        roster: &Roster,
        offers: &[Offer<'_>],
        holders: &HashMap<String, Holding>,
    ) -> Vec<Recipient> {
        if !self.live.contains_key(school) {
            return vec![];
        }
        let mut users: BTreeSet<String> = BTreeSet::new();
        for o in offers.iter().filter(|o| !o.erased) {
            let readers = self.readers_of(roster, o.header, o.fields);
            users.extend(readers.iter().cloned());
        }
        let Some(live) = self.live.get(school) else {
            return vec![];
        };
        let mut conns: BTreeSet<ConnId> = BTreeSet::new();
        for u in &users {
            if let Some(c) = live.users.get(u) {
                conns.extend(c);
            }
        }
        for d in holders.keys() {
            if let Some(c) = live.devices.get(d) {
                conns.extend(c);
            }
        }
        conns
            .into_iter()
            .filter(|c| Some(*c) != except)
            .filter_map(|c| {
                let s = self.sessions.get(&c)?;
                Some(Recipient {
                    conn: c,
                    device: s.device.id.clone(),
                    user: s.device.user.clone(),
                })
            })
            .collect()
    }

    /// Live sessions indexed (a test's check of the index against the sessions).
    pub fn live_indexed(&self) -> usize {
        self.live
            .values()
            .map(|s| s.devices.values().map(BTreeSet::len).sum::<usize>())
            .sum()
    }
}
