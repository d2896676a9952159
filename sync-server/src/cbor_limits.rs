//! A walk over a CBOR item's structure before it is decoded: counts its items and nesting
//! and checks every declared length against the bytes that are there, without allocating.
//!
//! Decoding a frame allocates per item (serde buffers an internally tagged enum into a tree
//! of values first): a 16 MiB frame of one-byte items took 560 MiB and 1.5 s before it was
//! refused. The walk refuses it after [`FrameLimits::max_items`] headers, in well under a
//! millisecond, so decoding only ever sees frames whose cost is bounded by these limits.

/// Limits on a frame's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Data items in the frame (every map key and value, array element, string, number).
    pub max_items: usize,
    /// Nesting of arrays, maps and tags.
    pub max_depth: usize,
}

impl Default for FrameLimits {
    /// The largest legitimate frames (2,000 documents in a push, 5,000 read-log rows) have
    /// under 50,000 items and a depth of 4.
    fn default() -> Self {
        FrameLimits {
            max_items: 100_000,
            max_depth: 16,
        }
    }
}

/// Why a frame was refused before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// More items than allowed.
    TooManyItems,
    /// Nested deeper than allowed.
    TooDeep,
    /// Not well-formed CBOR (a length beyond the end, a reserved header, a stray break).
    Malformed,
}

/// Walk the first CBOR item of `bytes` within `limits`.
pub fn check(bytes: &[u8], limits: FrameLimits) -> Result<(), Violation> {
    // Per open container: Some(items still to come) or None (indefinite: until a break).
    let mut stack: Vec<Option<u64>> = Vec::new();
    let mut items = 0usize;
    let mut pos = 0usize;
    loop {
        let &first = bytes.get(pos).ok_or(Violation::Malformed)?;
        pos += 1;
        if first == 0xff {
            // A break closes the innermost indefinite container.
            match stack.pop() {
                Some(None) => {
                    if finish(&mut stack) {
                        return Ok(());
                    }
                    continue;
                }
                _ => return Err(Violation::Malformed),
            }
        }
        items += 1;
        if items > limits.max_items {
            return Err(Violation::TooManyItems);
        }
        let major = first >> 5;
        let info = first & 0x1f;
        let arg: Option<u64> = match info {
            0..=23 => Some(u64::from(info)),
            24..=27 => {
                let n = 1usize << (info - 24);
                let raw = bytes.get(pos..pos + n).ok_or(Violation::Malformed)?;
                pos += n;
                Some(raw.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
            }
            31 => None,
            _ => return Err(Violation::Malformed),
        };
        let left = (bytes.len() - pos) as u64;
        let opened = match (major, arg) {
            // Integers; simple values and floats (their bytes were read as the argument).
            (0 | 1 | 7, Some(_)) => None,
            // Byte and text strings: the bytes must be there.
            (2 | 3, Some(n)) => {
                if n > left {
                    return Err(Violation::Malformed);
                }
                pos += n as usize;
                None
            }
            // Indefinite strings, arrays and maps: chunks or items until a break.
            (2..=5, None) => Some(None),
            // Arrays and maps: every item takes at least a byte.
            (4, Some(n)) if n > left => return Err(Violation::Malformed),
            (4, Some(0)) | (5, Some(0)) => None,
            (4, Some(n)) => Some(Some(n)),
            (5, Some(n)) if n > left / 2 => return Err(Violation::Malformed),
            (5, Some(n)) => Some(Some(2 * n)),
            // A tag: the item that follows is its content.
            (6, Some(_)) => {
                if stack.len() >= limits.max_depth {
                    return Err(Violation::TooDeep);
                }
                continue;
            }
            _ => return Err(Violation::Malformed),
        };
        match opened {
            Some(c) => {
                if stack.len() >= limits.max_depth {
                    return Err(Violation::TooDeep);
                }
                stack.push(c);
            }
            None => {
                if finish(&mut stack) {
                    return Ok(());
                }
            }
        }
    }
}

/// An item is complete: count it in its container, closing the containers it completes.
/// True when the top-level item is complete.
fn finish(stack: &mut Vec<Option<u64>>) -> bool {
    loop {
        match stack.last_mut() {
            None => return true,
            Some(Some(left)) => {
                *left -= 1;
                if *left > 0 {
                    return false;
                }
                stack.pop();
            }
            Some(None) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omkijken_core::DocumentId;
    use omkijken_core::sync::{DocChanges, FetchRequest, Frame, MAX_DOCS_PER_FRAME};
    use proptest::prelude::*;

    #[test]
    fn the_largest_real_frames_pass() {
        let push = Frame::Push {
            docs: (0..MAX_DOCS_PER_FRAME)
                .map(|_| DocChanges::new(DocumentId::random(), vec![7; 100]))
                .collect(),
        };
        let fetch = Frame::Fetch {
            docs: (0..MAX_DOCS_PER_FRAME)
                .map(|_| FetchRequest {
                    document_id: DocumentId::random(),
                    have: vec!["ab".repeat(32); 3],
                })
                .collect(),
        };
        for f in [push, fetch] {
            assert_eq!(check(&f.encode(), FrameLimits::default()), Ok(()));
        }
    }

    #[test]
    fn a_frame_of_one_byte_items_is_refused_early() {
        // {"type": "push", "docs": [0, 0, 0, ... 16 million]}
        let mut f = vec![0xa2, 0x64];
        f.extend_from_slice(b"type");
        f.push(0x64);
        f.extend_from_slice(b"push");
        f.push(0x64);
        f.extend_from_slice(b"docs");
        f.push(0x9a);
        f.extend_from_slice(&16_000_000u32.to_be_bytes());
        f.resize(f.len() + 16_000_000, 0);
        assert_eq!(
            check(&f, FrameLimits::default()),
            Err(Violation::TooManyItems)
        );
    }

    #[test]
    fn lengths_beyond_the_end_and_deep_nesting_are_refused() {
        // A byte string that claims 4 GiB.
        assert_eq!(
            check(
                &[0x5a, 0xff, 0xff, 0xff, 0xff, 1, 2],
                FrameLimits::default()
            ),
            Err(Violation::Malformed)
        );
        // An array that claims more items than there are bytes.
        assert_eq!(
            check(&[0x9a, 0, 1, 0, 0, 1], FrameLimits::default()),
            Err(Violation::Malformed)
        );
        let deep = vec![0x81; 100];
        assert_eq!(
            check(&deep, FrameLimits::default()),
            Err(Violation::TooDeep)
        );
        // Indefinite containers close with a break.
        assert_eq!(check(&[0x9f, 1, 2, 0xff], FrameLimits::default()), Ok(()));
        assert_eq!(
            check(&[0x9f, 1, 2], FrameLimits::default()),
            Err(Violation::Malformed)
        );
        assert_eq!(
            check(&[0xff], FrameLimits::default()),
            Err(Violation::Malformed)
        );
    }

    proptest! {
        /// Whatever ciborium decodes as a frame passes the walk (it never refuses a real
        /// frame), and the walk never panics on arbitrary bytes.
        #[test]
        fn the_walk_accepts_what_decodes_and_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let walked = check(&bytes, FrameLimits::default());
            if Frame::decode(&bytes).is_ok() {
                prop_assert_eq!(walked, Ok(()));
            }
        }
    }
}
