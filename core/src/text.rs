//! Collaboratively edited text (kindgesprek notes and answers) with correct positions for
//! any Unicode.
//!
//! Positions in the whole API count **UTF-16 code units**: that is what a Kotlin `String`
//! index, a Swift `String.utf16` offset and a JavaScript string index count, so an app passes
//! its editor's cursor as it is. Automerge counts Unicode code points in text objects (its
//! default on every platform but wasm); this module is the one place that converts between the
//! two. A position that falls inside a surrogate pair (half an emoji) or past the end is an
//! error, never a panic and never a splice at the wrong place.
//!
//! Whole-value replacement ([`Text::update`]) hands the new value to Automerge's own
//! `update_text`, which diffs by grapheme cluster in its own units, so accents, combining
//! marks, emoji and right-to-left text all land where they belong.

use automerge::{ChangeHash, ObjId, ObjType, Value};
use autosurgeon::reconcile::{LoadKey, TextReconciler};
use autosurgeon::{Hydrate, HydrateError, ReadDoc, Reconcile, Reconciler};

/// Why a text edit was not made. Nothing of the text itself is in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The position or the end of the deleted range is past the end of the text.
    #[error("text edit out of range: {pos}+{delete} of {len} UTF-16 units")]
    OutOfRange {
        /// Start (UTF-16 units).
        pos: usize,
        /// Units to delete.
        delete: usize,
        /// Length of the text (UTF-16 units).
        len: usize,
    },
    /// The position or the end of the deleted range splits a surrogate pair.
    #[error("text edit at {0} splits a character (inside a surrogate pair)")]
    SplitsCharacter(usize),
}

/// A text field of a record, edited by splices in UTF-16 code units (see the module docs).
///
/// Hydrated from a document it remembers the document's heads; edits are recorded and
/// replayed into the document at reconcile time, so concurrent edits on other devices merge
/// character by character.
#[derive(Clone)]
pub struct Text(State);

#[derive(Clone)]
enum State {
    /// Not yet in a document: reconciles as a new text object holding the value.
    Fresh(String),
    /// Read from a document at `from_heads`; `edits` replay onto it.
    Rehydrated {
        value: String,
        edits: Vec<Edit>,
        obj: ObjId,
        from_heads: Vec<ChangeHash>,
    },
}

#[derive(Clone)]
enum Edit {
    /// Positions in Unicode code points (Automerge's unit).
    Splice {
        pos: usize,
        delete: usize,
        insert: String,
    },
    /// Replace the whole value (Automerge diffs it).
    Update(String),
}

impl Default for Text {
    fn default() -> Self {
        Text::with_value("")
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the content: it is health data and Debug output ends up in logs.
        f.debug_struct("Text")
            .field("utf16_len", &self.len_utf16())
            .finish()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl<S: AsRef<str>> From<S> for Text {
    fn from(s: S) -> Self {
        Text::with_value(s)
    }
}

/// The byte offset and code-point index of UTF-16 position `pos` in `s`.
fn locate(s: &str, pos: usize) -> Option<(usize, usize)> {
    let mut units = 0;
    for (points, (byte, ch)) in s.char_indices().enumerate() {
        if units == pos {
            return Some((byte, points));
        }
        if units > pos {
            return None;
        }
        units += ch.len_utf16();
    }
    (units == pos).then(|| (s.len(), s.chars().count()))
}

/// Convert a UTF-16 range of `s` to (byte start, byte end, code-point start, code points).
fn range(s: &str, pos: usize, delete: usize) -> Result<(usize, usize, usize, usize), TextError> {
    let len = utf16_len(s);
    let end = pos.checked_add(delete).filter(|&e| e <= len);
    let Some(end) = end else {
        return Err(TextError::OutOfRange { pos, delete, len });
    };
    let (b0, p0) = locate(s, pos).ok_or(TextError::SplitsCharacter(pos))?;
    let (b1, p1) = locate(s, end).ok_or(TextError::SplitsCharacter(end))?;
    Ok((b0, b1, p0, p1 - p0))
}

/// Length of `s` in UTF-16 code units (the unit of every text position in the API).
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

impl Text {
    /// A new text holding `value`.
    pub fn with_value<S: AsRef<str>>(value: S) -> Text {
        Text(State::Fresh(value.as_ref().to_string()))
    }

    /// The current value, with this value's edits applied.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            State::Fresh(v) => v,
            State::Rehydrated { value, .. } => value,
        }
    }

    /// Length in UTF-16 code units.
    pub fn len_utf16(&self) -> usize {
        utf16_len(self.as_str())
    }

    /// Delete `delete` UTF-16 code units at UTF-16 position `pos`, then insert `insert`
    /// there. Nothing changes when the range is out of bounds or splits a surrogate pair.
    pub fn splice(&mut self, pos: usize, delete: usize, insert: &str) -> Result<(), TextError> {
        let (b0, b1, p0, points) = range(self.as_str(), pos, delete)?;
        match &mut self.0 {
            State::Fresh(v) => v.replace_range(b0..b1, insert),
            State::Rehydrated { value, edits, .. } => {
                value.replace_range(b0..b1, insert);
                edits.push(Edit::Splice {
                    pos: p0,
                    delete: points,
                    insert: insert.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Replace the whole value; Automerge turns it into the minimal edit (by grapheme
    /// cluster), so concurrent typing elsewhere merges.
    pub fn update<S: AsRef<str>>(&mut self, new_value: S) {
        let new_value = new_value.as_ref();
        if self.as_str() == new_value {
            return;
        }
        match &mut self.0 {
            State::Fresh(v) => *v = new_value.to_string(),
            State::Rehydrated { value, edits, .. } => {
                *value = new_value.to_string();
                edits.push(Edit::Update(new_value.to_string()));
            }
        }
    }
}

impl Reconcile for Text {
    type Key<'a> = ObjId;

    fn hydrate_key<'a, D: ReadDoc>(
        doc: &D,
        obj: &ObjId,
        prop: autosurgeon::Prop<'_>,
    ) -> Result<LoadKey<Self::Key<'a>>, autosurgeon::ReconcileError> {
        let Some((val, obj_id)) = doc.get(obj, &prop)? else {
            return Ok(LoadKey::KeyNotFound);
        };
        if matches!(val, Value::Object(ObjType::Text)) {
            return Ok(LoadKey::Found(obj_id));
        }
        Ok(LoadKey::KeyNotFound)
    }

    fn key(&self) -> LoadKey<Self::Key<'_>> {
        match &self.0 {
            State::Fresh(_) => LoadKey::KeyNotFound,
            State::Rehydrated { obj, .. } => LoadKey::Found(obj.clone()),
        }
    }

    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        let mut t = reconciler.text()?;
        match &self.0 {
            State::Fresh(v) => {
                if !v.is_empty() {
                    t.splice(0, 0, v)?;
                }
            }
            State::Rehydrated {
                edits,
                from_heads,
                value,
                ..
            } => {
                if t.heads() != from_heads.as_slice() {
                    // Reconciled into another document state (or another object): set the
                    // value as a diff against what is there, rather than splicing at
                    // positions that belong to other text.
                    if !edits.is_empty() {
                        t.update(value)?;
                    }
                    return Ok(());
                }
                for edit in edits {
                    match edit {
                        Edit::Splice {
                            pos,
                            delete,
                            insert,
                        } => t.splice(*pos, *delete as isize, insert)?,
                        Edit::Update(v) => t.update(v)?,
                    }
                }
            }
        }
        Ok(())
    }
}

impl Hydrate for Text {
    fn hydrate_text<D: ReadDoc>(doc: &D, obj: &ObjId) -> Result<Self, HydrateError> {
        let value = doc.text(obj)?;
        Ok(Text(State::Rehydrated {
            value,
            edits: Vec::new(),
            from_heads: doc.get_heads(),
            obj: obj.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_utf16_units() {
        let mut t = Text::with_value("één 😀 zorgcoördinator");
        // "één " is 4 units, the emoji 2.
        t.splice(4, 2, "🙂").unwrap();
        assert_eq!(t.as_str(), "één 🙂 zorgcoördinator");
        assert_eq!(t.splice(5, 0, "x"), Err(TextError::SplitsCharacter(5)));
        let len = t.len_utf16();
        assert!(matches!(
            t.splice(len, 1, ""),
            Err(TextError::OutOfRange { .. })
        ));
        t.splice(len, 0, "!").unwrap();
        assert!(t.as_str().ends_with("coördinator!"));
    }

    #[test]
    fn debug_shows_no_content() {
        let t = Text::with_value("geheim");
        assert!(!format!("{t:?}").contains("geheim"));
    }
}
