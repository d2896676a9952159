//! What Automerge bytes will cost once loaded, read without loading them.
//!
//! A document is small on the wire and large in memory when its columns repeat: Automerge
//! stores a run of two million identical list inserts in a few bytes (run-length encoding),
//! and a DEFLATE-compressed column or change can inflate a thousandfold. Loading such bytes
//! costs the loader seconds and gigabytes before any rule can look at the result. [`scan`]
//! walks the chunk headers and column metadata of the bytes instead: it counts the changes
//! and operations they hold by reading the run lengths of each column (never expanding a
//! run), and inflates compressed parts only up to a budget. That is O(runs), a few
//! microseconds for a normal push, and stops as soon as a budget is passed.
//!
//! The format is Automerge's binary format (automerge.org, "Binary Document Format"):
//! chunks of `magic, checksum, type, LEB128 length, contents`, where type 0 is a document,
//! 1 a change and 2 a DEFLATE-compressed change. Checksums are not verified here; Automerge
//! does that when it loads what passed.

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
/// The deflate bit of a column specification.
const DEFLATE: u32 = 0b1000;

/// What bytes hold, as counted by [`scan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Changes.
    pub changes: u64,
    /// Operations (an upper bound: the longest column of each chunk's operations).
    pub ops: u64,
    /// Bytes once compressed parts are inflated.
    pub inflated: u64,
}

/// Why [`scan`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The bytes hold more than the budget allows.
    #[error("the changes exceed the size budget")]
    TooLarge,
    /// The bytes are not a sequence of Automerge chunks.
    #[error("not Automerge chunks")]
    Malformed,
}

/// Count the changes and operations in `bytes` (a saved document, change chunks, or any
/// sequence of these), stopping with [`ScanError::TooLarge`] as soon as one count passes
/// its `budget`.
pub fn scan(bytes: &[u8], budget: Cost) -> Result<Cost, ScanError> {
    let mut total = Cost {
        inflated: bytes.len() as u64,
        ..Cost::default()
    };
    let mut rest = bytes;
    while !rest.is_empty() {
        let magic = take(&mut rest, 4)?;
        if magic != MAGIC {
            return Err(ScanError::Malformed);
        }
        take(&mut rest, 4)?; // checksum
        let kind = take(&mut rest, 1)?[0];
        let len = usize::try_from(uleb(&mut rest)?).map_err(|_| ScanError::Malformed)?;
        let contents = take(&mut rest, len)?;
        match kind {
            DOCUMENT => document(contents, &mut total, budget)?,
            CHANGE => change(contents, &mut total, budget)?,
            COMPRESSED_CHANGE => {
                let inflated = inflate(contents, &mut total, budget)?;
                change(&inflated, &mut total, budget)?;
            }
            _ => return Err(ScanError::Malformed),
        }
        if total.changes > budget.changes || total.ops > budget.ops {
            return Err(ScanError::TooLarge);
        }
    }
    Ok(total)
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], ScanError> {
    if rest.len() < n {
        return Err(ScanError::Malformed);
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn uleb(rest: &mut &[u8]) -> Result<u64, ScanError> {
    leb128::read::unsigned(rest).map_err(|_| ScanError::Malformed)
}

fn sleb(rest: &mut &[u8]) -> Result<i64, ScanError> {
    leb128::read::signed(rest).map_err(|_| ScanError::Malformed)
}

/// Skip a length-prefixed byte string.
fn skip_bytes(rest: &mut &[u8]) -> Result<(), ScanError> {
    let n = usize::try_from(uleb(rest)?).map_err(|_| ScanError::Malformed)?;
    take(rest, n).map(|_| ())
}

/// Skip a count-prefixed list of length-prefixed byte strings (actor ids).
fn skip_actors(rest: &mut &[u8]) -> Result<(), ScanError> {
    let n = uleb(rest)?;
    for _ in 0..n {
        skip_bytes(rest)?;
    }
    Ok(())
}

/// Skip a count-prefixed list of 32-byte change hashes.
fn skip_hashes(rest: &mut &[u8]) -> Result<(), ScanError> {
    let n = usize::try_from(uleb(rest)?).map_err(|_| ScanError::Malformed)?;
    take(rest, n.checked_mul(32).ok_or(ScanError::Malformed)?).map(|_| ())
}

/// Column metadata: (specification, data length) per column.
fn columns(rest: &mut &[u8]) -> Result<Vec<(u32, usize)>, ScanError> {
    let n = uleb(rest)?;
    // Automerge has 16 kinds of operation column; anything far beyond is not a column list.
    if n > 64 {
        return Err(ScanError::Malformed);
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let spec = u32::try_from(uleb(rest)?).map_err(|_| ScanError::Malformed)?;
        let len = usize::try_from(uleb(rest)?).map_err(|_| ScanError::Malformed)?;
        out.push((spec, len));
    }
    Ok(out)
}

/// Count the rows of the longest column of `cols`, whose data follow each other in `rest`,
/// into the count of `total` that `count` picks (changes or operations), counting no
/// further than that count's budget.
fn rows(
    cols: &[(u32, usize)],
    rest: &mut &[u8],
    total: &mut Cost,
    budget: Cost,
    count: fn(&mut Cost) -> &mut u64,
) -> Result<(), ScanError> {
    let mut left = budget;
    let limit = count(&mut left).saturating_sub(*count(total));
    let mut most = 0;
    for &(spec, len) in cols {
        let data = take(rest, len)?;
        let inflated;
        let data = if spec & DEFLATE != 0 {
            inflated = inflate(data, total, budget)?;
            &inflated[..]
        } else {
            data
        };
        most = most.max(column_rows(spec & 0b111, data, limit)?);
    }
    *count(total) += most;
    Ok(())
}

/// Rows of one (inflated) column of type `ty`, counted from its run lengths; stops past
/// `limit`.
fn column_rows(ty: u32, mut data: &[u8], limit: u64) -> Result<u64, ScanError> {
    const GROUP: u32 = 0;
    const ACTOR: u32 = 1;
    const INTEGER: u32 = 2;
    const DELTA: u32 = 3;
    const BOOLEAN: u32 = 4;
    const STRING: u32 = 5;
    const VALUE_META: u32 = 6;
    let mut rows: u64 = 0;
    let d = &mut data;
    match ty {
        BOOLEAN => {
            // Alternating runs of false and true.
            while !d.is_empty() {
                rows = rows.saturating_add(uleb(d)?);
                if rows > limit {
                    return Err(ScanError::TooLarge);
                }
            }
        }
        GROUP | ACTOR | INTEGER | DELTA | STRING | VALUE_META => {
            // Run-length encoding: n > 0 repeats one value n times, n < 0 lists -n values,
            // 0 is followed by a count of nulls.
            let value = |d: &mut &[u8]| -> Result<(), ScanError> {
                match ty {
                    STRING => skip_bytes(d),
                    DELTA => sleb(d).map(|_| ()),
                    _ => uleb(d).map(|_| ()),
                }
            };
            while !d.is_empty() {
                let n = sleb(d)?;
                if n > 0 {
                    value(d)?;
                    rows = rows.saturating_add(n as u64);
                } else if n < 0 {
                    let n = n.unsigned_abs();
                    if rows.saturating_add(n) > limit {
                        return Err(ScanError::TooLarge);
                    }
                    for _ in 0..n {
                        value(d)?;
                    }
                    rows += n;
                } else {
                    rows = rows.saturating_add(uleb(d)?);
                }
                if rows > limit {
                    return Err(ScanError::TooLarge);
                }
            }
        }
        // Raw values: their rows are counted by the value-metadata column.
        _ => {}
    }
    Ok(rows)
}

/// Inflate DEFLATE data, counting it against the budget's inflated bytes. One inflater per
/// thread is reset and reused: setting one up (its 32 KiB window) costs more than inflating
/// the few hundred bytes of a record's column.
fn inflate(data: &[u8], total: &mut Cost, budget: Cost) -> Result<Vec<u8>, ScanError> {
    use flate2::{Decompress, FlushDecompress, Status};
    thread_local! {
        static INFLATER: std::cell::RefCell<Decompress> =
            std::cell::RefCell::new(Decompress::new(false));
    }
    let room = budget.inflated.saturating_sub(total.inflated);
    // One byte past the room tells "too large" from "exactly fits".
    let limit = usize::try_from(room.saturating_add(1)).unwrap_or(usize::MAX);
    let mut out: Vec<u8> =
        Vec::with_capacity(data.len().saturating_mul(4).clamp(64, limit.max(64)));
    INFLATER.with(|cell| {
        let mut d = cell.borrow_mut();
        d.reset(false);
        loop {
            let (read, written) = (d.total_in() as usize, d.total_out());
            let input = data.get(read..).ok_or(ScanError::Malformed)?;
            let status = d
                .decompress_vec(input, &mut out, FlushDecompress::Finish)
                .map_err(|_| ScanError::Malformed)?;
            if status == Status::StreamEnd {
                return Ok(());
            }
            if out.len() >= limit {
                return Err(ScanError::TooLarge);
            }
            if out.len() == out.capacity() {
                out.reserve(out.capacity().min(limit - out.len()).max(64));
            } else if d.total_in() as usize == read && d.total_out() == written {
                // No progress with room to write: the input ends before the stream does.
                return Err(ScanError::Malformed);
            }
        }
    })?;
    total.inflated = total.inflated.saturating_add(out.len() as u64);
    if total.inflated > budget.inflated {
        return Err(ScanError::TooLarge);
    }
    Ok(out)
}

/// A document chunk: actors, heads, change columns, operation columns, their data.
fn document(mut c: &[u8], total: &mut Cost, budget: Cost) -> Result<(), ScanError> {
    let c = &mut c;
    skip_actors(c)?;
    skip_hashes(c)?;
    let change_cols = columns(c)?;
    let op_cols = columns(c)?;
    rows(&change_cols, c, total, budget, |t| &mut t.changes)?;
    rows(&op_cols, c, total, budget, |t| &mut t.ops)
}

/// A change chunk: dependencies, actor, sequence, start op, time, message, other actors,
/// operation columns and their data (never compressed inside a change), extra bytes.
fn change(mut c: &[u8], total: &mut Cost, budget: Cost) -> Result<(), ScanError> {
    let c = &mut c;
    skip_hashes(c)?;
    skip_bytes(c)?; // actor
    uleb(c)?; // seq
    uleb(c)?; // start op
    sleb(c)?; // time
    skip_bytes(c)?; // message
    skip_actors(c)?;
    let op_cols = columns(c)?;
    if op_cols.iter().any(|&(spec, _)| spec & DEFLATE != 0) {
        return Err(ScanError::Malformed);
    }
    total.changes += 1;
    rows(&op_cols, c, total, budget, |t| &mut t.ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ObjType, ROOT, ReadDoc};

    const ROOMY: Cost = Cost {
        changes: 1_000_000,
        ops: 100_000_000,
        inflated: 1 << 30,
    };

    fn doc_with_list(n: usize) -> Automerge {
        let mut d = Automerge::new();
        let mut tx = d.transaction();
        let list = tx.put_object(ROOT, "list", ObjType::List).unwrap();
        tx.splice(
            &list,
            0,
            0,
            std::iter::repeat_n(automerge::ScalarValue::Int(1), n),
        )
        .unwrap();
        tx.put(ROOT, "title", "x").unwrap();
        tx.commit();
        d
    }

    #[test]
    fn counts_what_automerge_loads() {
        for n in [0, 1, 10, 300, 5_000] {
            let d = doc_with_list(n);
            let want = d.stats().num_ops;
            for bytes in [d.save(), d.save_nocompress(), d.save_after(&[])] {
                let cost = scan(&bytes, ROOMY).unwrap();
                assert!(cost.ops >= want, "{n}: {cost:?} < {want}");
                assert!(cost.ops <= want + 1, "{n}: {cost:?} vs {want}");
                assert_eq!(cost.changes, 1);
            }
        }
        // Many changes, saved and as chunks.
        let mut d = Automerge::new();
        for i in 0..50_i64 {
            let mut tx = d.transaction();
            tx.put(ROOT, "n", i).unwrap();
            tx.commit();
        }
        assert_eq!(scan(&d.save(), ROOMY).unwrap().changes, 50);
        let chunks = scan(&d.save_after(&[]), ROOMY).unwrap();
        assert_eq!((chunks.changes, chunks.ops), (50, 50));
        assert_eq!(d.get(ROOT, "n").unwrap().unwrap().0.as_i64(), Some(49));
    }

    #[test]
    fn a_long_run_is_refused_without_expanding_it() {
        // Three hundred thousand inserts are a few kilobytes on the wire.
        let d = doc_with_list(300_000);
        let (saved, chunk) = (d.save(), d.save_after(&[]));
        assert!(saved.len() < 64 * 1024, "{}", saved.len());
        let budget = Cost {
            ops: 100_000,
            ..ROOMY
        };
        let started = std::time::Instant::now();
        assert_eq!(scan(&saved, budget), Err(ScanError::TooLarge));
        assert_eq!(scan(&chunk, budget), Err(ScanError::TooLarge));
        // (Automerge takes about 0.8 s to load them, 5.5 s with two million inserts in
        // 2,147 bytes; the scan of those takes 69 us in a debug build.)
        assert!(started.elapsed() < std::time::Duration::from_millis(20));
    }

    #[test]
    fn inflating_stops_at_the_budget() {
        let d = doc_with_list(20_000);
        let budget = Cost {
            inflated: 4 * 1024,
            ..ROOMY
        };
        // The saved document deflates its larger columns.
        assert_eq!(scan(&d.save(), budget), Err(ScanError::TooLarge));
        assert!(scan(&d.save(), ROOMY).is_ok());
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(scan(b"not automerge", ROOMY), Err(ScanError::Malformed));
        let mut bytes = doc_with_list(3).save();
        bytes.truncate(bytes.len() - 3);
        assert_eq!(scan(&bytes, ROOMY), Err(ScanError::Malformed));
        assert_eq!(scan(&[], ROOMY), Ok(Cost::default()));
    }
}
