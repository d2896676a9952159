//! `Tails`: the newest rows of each school's catalog, kept in memory for the short
//! catch-ups the hub reads itself. In a connection storm every device of a school asks for
//! the same few hundred rows; read once, each later `hello` judges them from memory
//! instead of reading and decoding them again (README, "A connection storm judged from the
//! rows in memory").
//!
//! A tail holds every row of its school with a sequence in `(from, upto]`, `upto` being the
//! catalog's last sequence when it was last brought up to date. Every write to a catalog row
//! (content, access bump, erasure) gives it a new sequence, so the rows of that range stay
//! what the storage holds until the catalog moves on; when it has, the rows written since
//! (`catalog_changes`, by any writer of the store: another node, the admin CLI) replace
//! what they rewrote, or the tail is dropped when too much was written to sort out. Bounded:
//! a tail of at most one catalog page, and [`TAILS_ROWS`] rows over all schools.

use super::fetch::MOVED_UP_TO;
use crate::Result;
use crate::storage::{CATALOG_PAGE, CatalogRow, Storage};
use omkijken_core::DocumentId;
use std::collections::{HashMap, HashSet};

/// Rows kept over all schools (a few MiB).
const TAILS_ROWS: usize = 4 * CATALOG_PAGE;

struct Tail {
    from: u64,
    upto: u64,
    rows: Vec<CatalogRow>,
}

/// The schools' tails (see the module's doc).
#[derive(Default)]
pub(super) struct Tails {
    schools: HashMap<String, Tail>,
    rows: usize,
}

impl Tails {
    /// The rows of `school` with a sequence in `(cursor, last]`, in sequence order, when they
    /// fit in a tail (`last`: the storage's last sequence, just read); none when they do not
    /// (more than a page): the caller reads them from the storage.
    pub(super) fn rows(
        &mut self,
        storage: &mut dyn Storage,
        school: &str,
        cursor: u64,
        last: u64,
    ) -> Result<Option<&[CatalogRow]>> {
        if let Some(t) = self.schools.get_mut(school) {
            let before = t.rows.len();
            let kept = t.upto <= last && (t.upto == last || advance(storage, school, t, last)?);
            let after = if kept { t.rows.len() } else { 0 };
            self.rows = self.rows + after - before;
            if !kept {
                self.schools.remove(school);
            }
        }
        let fits = self
            .schools
            .get(school)
            .is_some_and(|t| t.from <= cursor && t.upto == last);
        if !fits {
            let mut rows: Vec<CatalogRow> = storage
                .catalog_since(school, cursor, "")?
                .into_iter()
                .map(|(row, _)| row)
                .collect();
            if rows.len() >= CATALOG_PAGE {
                return Ok(None);
            }
            rows.retain(|r| r.seq <= last);
            if let Some(old) = self.schools.remove(school) {
                self.rows -= old.rows.len();
            }
            if self.rows + rows.len() > TAILS_ROWS {
                // Room for this school's: the others are read again when next asked for.
                self.schools.clear();
                self.rows = 0;
            }
            self.rows += rows.len();
            self.schools.insert(
                school.to_string(),
                Tail {
                    from: cursor,
                    upto: last,
                    rows,
                },
            );
        }
        let t = &self.schools[school];
        let start = t.rows.partition_point(|r| r.seq <= cursor);
        Ok(Some(&t.rows[start..]))
    }
}

/// Brings `t` up to `last`: the rows written since replace what they rewrote. False when
/// too much was written to sort out (as many as a fetch made beside the hub sorts out) or
/// the tail would outgrow a page.
fn advance(storage: &mut dyn Storage, school: &str, t: &mut Tail, last: u64) -> Result<bool> {
    let changes = storage.catalog_changes(t.upto, MOVED_UP_TO)?;
    if changes.len() >= MOVED_UP_TO {
        return Ok(false);
    }
    // A row rewritten after `last` leaves the range as it does in the storage; the
    // catch-up's caller sends it with what else was written since.
    let moved: HashSet<DocumentId> = changes.iter().map(|r| r.id).collect();
    t.rows.retain(|r| !moved.contains(&r.id));
    t.rows.extend(
        changes
            .into_iter()
            .filter(|r| r.seq <= last && r.header.school == school),
    );
    t.upto = last;
    Ok(t.rows.len() < CATALOG_PAGE)
}
