//! The one-pass reader: a document walked once into a tree ([`Hydrated`]), within a budget,
//! from which the header, the summary and typed records are read without going back to the
//! document.

use super::{AccessFields, HEADER_KEY, RECORD_KEY, Summary, SummaryBody, ThermometerRow};
use crate::ids::DocumentId;
use crate::model::{Header, Kind, Record};
use crate::{Error, Result};
use automerge::Automerge;

mod values {
    use serde_json::{Map, Value};

    pub(super) fn map(v: &Value) -> Option<&Map<String, Value>> {
        v.as_object()
    }
    pub(super) fn get<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a Value> {
        m.get(k)
    }
    /// A string.
    pub(super) fn str(m: &Map<String, Value>, k: &str) -> Option<String> {
        m.get(k)?.as_str().map(str::to_string)
    }
    /// An integer (signed, unsigned within range, or timestamp).
    pub(super) fn int(m: &Map<String, Value>, k: &str) -> Option<i64> {
        m.get(k)?.as_i64()
    }
    pub(super) fn bool(m: &Map<String, Value>, k: &str) -> Option<bool> {
        m.get(k)?.as_bool()
    }
    /// The header, as autosurgeon reads it: strings, an optional pupil
    /// (missing or null: none), integer time and schema.
    pub(super) fn header(m: &Map<String, Value>) -> Option<crate::model::Header> {
        let pupil = match m.get("pupil") {
            None | Some(Value::Null) => None,
            Some(_) => Some(str(m, "pupil")?),
        };
        Some(crate::model::Header {
            kind: str(m, "kind")?,
            school: str(m, "school")?,
            pupil,
            author: str(m, "author")?,
            created_at: int(m, "created_at")?,
            schema: m.get("schema")?.as_u64()?,
        })
    }
    pub(super) fn list<'a>(m: &'a Map<String, Value>, k: &str) -> Vec<&'a Value> {
        match m.get(k) {
            Some(Value::Array(l)) => l.iter().collect(),
            _ => vec![],
        }
    }
    /// The strings of a list (anything else in it left out).
    pub(super) fn strings(m: &Map<String, Value>, k: &str) -> Vec<String> {
        list(m, k)
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

/// A document read once (one walk of its objects): its header and the whole tree, from
/// which the summary and typed records are read without going back to the document.
/// Decoding a small record this way costs one pass instead of one per key.
pub struct Hydrated {
    id: DocumentId,
    /// The header, read from the tree.
    pub header: Header,
    tree: serde_json::Value,
    /// Map entries and list items read, and bytes of their strings and texts.
    size: (usize, usize),
}

impl std::fmt::Debug for Hydrated {
    // Never the tree: it holds note text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hydrated")
            .field("id", &self.id)
            .field("kind", &self.header.kind)
            .finish_non_exhaustive()
    }
}

impl Hydrated {
    /// Hydrate `doc` and read its header (an error if missing or mistyped).
    pub fn new(id: DocumentId, doc: &Automerge) -> Result<Hydrated> {
        Self::walk(id, doc, None)
    }

    /// [`Hydrated::new`] that stops once the document holds more than `budget` allows:
    /// `Ok(None)` then, before more than the budget was built in memory.
    pub fn bounded(
        id: DocumentId,
        doc: &Automerge,
        budget: ReadBudget,
    ) -> Result<Option<Hydrated>> {
        match tree(doc, None, Some(budget)) {
            Some((tree, size)) => Self::from_tree(id, tree, size).map(Some),
            None => Ok(None),
        }
    }

    /// Map entries and list items read (at any depth), and the bytes of their strings and
    /// texts: what [`Hydrated::bounded`] counted against its budget.
    pub fn size(&self) -> (usize, usize) {
        self.size
    }

    /// [`Hydrated::new`] keeping only map entries whose key passes `keep` (all if none).
    pub(super) fn walk(
        id: DocumentId,
        doc: &Automerge,
        keep: Option<fn(&str) -> bool>,
    ) -> Result<Hydrated> {
        // Without a budget the walk always completes.
        let (tree, size) = tree(doc, keep, None).unwrap_or_default();
        Self::from_tree(id, tree, size)
    }

    fn from_tree(
        id: DocumentId,
        tree: serde_json::Value,
        size: (usize, usize),
    ) -> Result<Hydrated> {
        let header = values::map(&tree)
            .and_then(|root| values::get(root, HEADER_KEY))
            .and_then(values::map)
            .and_then(values::header)
            .ok_or_else(|| Error::InvalidDocument {
                id,
                kind: "any",
                reason: "header: missing or of the wrong type".into(),
            })?;
        Ok(Hydrated {
            id,
            header,
            tree,
            size,
        })
    }

    /// The typed record (serde over the tree), checking the kind: the same result as
    /// autosurgeon's for records without Automerge text (signals, thermometer months),
    /// about 3x cheaper.
    pub fn record<R: Record + serde::de::DeserializeOwned>(&self) -> Result<R> {
        let bad = |reason: String| Error::InvalidDocument {
            id: self.id,
            kind: R::KIND.as_str(),
            reason,
        };
        if self.header.kind != R::KIND.as_str() {
            return Err(bad("document has another kind".into()));
        }
        let rec = values::map(&self.tree)
            .and_then(|m| m.get(RECORD_KEY))
            .ok_or_else(|| bad("record missing".into()))?;
        // Read from the tree in place (no copy of it).
        <R as serde::Deserialize>::deserialize(rec).map_err(|e| bad(e.to_string()))
    }

    /// The document's [`Summary`].
    pub fn summary(self) -> Result<Summary> {
        use values::*;
        let Hydrated {
            id, header, tree, ..
        } = self;
        let kind = header.kind()?;
        let bad = |what: &str| Error::InvalidDocument {
            id,
            kind: kind.as_str(),
            reason: format!("{what} missing or of the wrong type"),
        };
        let root = map(&tree).ok_or_else(|| bad("root"))?;
        let rec = get(root, RECORD_KEY)
            .and_then(map)
            .ok_or_else(|| bad("record"))?;
        let (fields, body) = match kind {
            Kind::Conversation => {
                let visibility = crate::model::Visibility::parse(
                    &str(rec, "visibility").ok_or_else(|| bad("visibility"))?,
                );
                let open: Vec<_> = list(rec, "agreements")
                    .into_iter()
                    .filter_map(map)
                    .filter(|a| !bool(a, "done").unwrap_or(false))
                    .collect();
                let open_agreements = open.len() as i64;
                let due_agreements = open
                    .iter()
                    .filter_map(|a| {
                        Some((
                            str(a, "id")?,
                            str(a, "owner").unwrap_or_default(),
                            str(a, "due")?,
                        ))
                    })
                    .collect();
                (
                    AccessFields::of_visibility(visibility.as_str()),
                    SummaryBody::Conversation {
                        held_on: str(rec, "held_on").ok_or_else(|| bad("held_on"))?,
                        status: crate::model::ConversationStatus::parse(
                            &str(rec, "status").ok_or_else(|| bad("status"))?,
                        ),
                        visibility,
                        template_id: str(rec, "template_id").ok_or_else(|| bad("template_id"))?,
                        open_agreements,
                        due_agreements,
                    },
                )
            }
            Kind::Signal => {
                let urgency = int(rec, "urgency")
                    .and_then(|u| u8::try_from(u).ok())
                    .ok_or_else(|| bad("urgency"))?;
                let category = str(rec, "category").ok_or_else(|| bad("category"))?;
                let entries: Vec<String> = list(rec, "follow_ups")
                    .into_iter()
                    .filter_map(map)
                    .filter_map(|f| str(f, "kind"))
                    .collect();
                (
                    AccessFields {
                        urgency: Some(urgency),
                        category: Some(category.clone()),
                        readers: strings(rec, "added_readers"),
                        ..Default::default()
                    },
                    SummaryBody::Signal {
                        category,
                        urgency,
                        observed_at: int(rec, "observed_at").ok_or_else(|| bad("observed_at"))?,
                        recorded_at: int(rec, "recorded_at").ok_or_else(|| bad("recorded_at"))?,
                        shared: bool(rec, "shared").ok_or_else(|| bad("shared"))?,
                        open: !entries
                            .iter()
                            .any(|k| k == crate::model::FollowUpKind::Closed.as_str()),
                        picked_up: entries
                            .iter()
                            .any(|k| k == crate::model::FollowUpKind::PickedUp.as_str()),
                        follow_ups: entries.len() as i64,
                        excursion: get(rec, "context")
                            .and_then(map)
                            .and_then(|c| str(c, "excursion")),
                    },
                )
            }
            Kind::Thermometer => {
                let mut entries = Vec::new();
                // Answers are record keys of their own (`ThermometerMonth`).
                let answered: std::collections::BTreeMap<String, String> = rec
                    .iter()
                    .filter(|(k, _)| k.starts_with(crate::model::thermometer::ANSWER_PREFIX))
                    .filter_map(|(_, v)| {
                        let v = map(v)?;
                        Some((str(v, "entry")?, str(v, "on").unwrap_or_default()))
                    })
                    .collect();
                for e in list(rec, "entries").into_iter().filter_map(map) {
                    let id = str(e, "id").ok_or_else(|| bad("entry id"))?;
                    entries.push(ThermometerRow {
                        at: int(e, "at").ok_or_else(|| bad("entry at"))?,
                        scale: str(e, "scale").ok_or_else(|| bad("entry scale"))?,
                        score: int(e, "score")
                            .and_then(|s| u8::try_from(s).ok())
                            .ok_or_else(|| bad("entry score"))?,
                        wants_to_talk: bool(e, "wants_to_talk").unwrap_or(false),
                        recorded_by: str(e, "recorded_by").unwrap_or_default(),
                        by_pupil: str(e, "source").as_deref() == Some(crate::model::SOURCE_PUPIL),
                        answered_on: answered.get(&id).cloned(),
                        id,
                    });
                }
                let open = entries
                    .iter()
                    .any(|e| e.wants_to_talk && e.answered_on.is_none());
                let fields = AccessFields {
                    urgency: open.then_some(1),
                    ..Default::default()
                };
                (fields, SummaryBody::Thermometer(entries))
            }
            Kind::Case => {
                let present = |k: &str| get(rec, k).is_some_and(|v| !v.is_null());
                let report = get(rec, "report").and_then(map);
                let feedback_due = report
                    .filter(|r| get(r, "feedback_on").is_none_or(|v| v.is_null()))
                    .and_then(|r| str(r, "feedback_due"));
                let steps = list(rec, "steps")
                    .into_iter()
                    .filter_map(map)
                    .filter_map(|s| int(s, "step"))
                    .filter_map(|s| u8::try_from(s).ok());
                (
                    AccessFields::default(),
                    SummaryBody::Case {
                        status: crate::model::CaseStatus::parse(
                            &str(rec, "status").ok_or_else(|| bad("status"))?,
                        ),
                        opened_at: int(rec, "opened_at").ok_or_else(|| bad("opened_at"))?,
                        step: crate::model::case::current_step(
                            steps,
                            present("weighing"),
                            present("help") || present("report"),
                        ),
                        signals: list(rec, "signals").len() as i64,
                        feedback_due,
                        evaluation_on: get(rec, "help")
                            .and_then(map)
                            .and_then(|h| str(h, "evaluation_on")),
                    },
                )
            }
            Kind::Excursion => (
                AccessFields {
                    readers: strings(rec, "staff"),
                    ..Default::default()
                },
                SummaryBody::Excursion {
                    name: str(rec, "name").ok_or_else(|| bad("name"))?,
                    starts_on: str(rec, "starts_on").ok_or_else(|| bad("starts_on"))?,
                    ends_on: str(rec, "ends_on").ok_or_else(|| bad("ends_on"))?,
                    // Each pupil once (two devices may add the same one at the same time).
                    participants: list(rec, "participants")
                        .into_iter()
                        .filter_map(|v| v.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .len() as i64,
                },
            ),
            Kind::ParentContact => (
                AccessFields::default(),
                SummaryBody::ParentContact {
                    held_on: str(rec, "held_on").ok_or_else(|| bad("held_on"))?,
                    status: crate::model::ConversationStatus::parse(
                        &str(rec, "status").ok_or_else(|| bad("status"))?,
                    ),
                    channel: str(rec, "channel").ok_or_else(|| bad("channel"))?,
                    open_agreements: list(rec, "agreements")
                        .into_iter()
                        .filter_map(map)
                        .filter(|a| !bool(a, "done").unwrap_or(false))
                        .count() as i64,
                },
            ),
            Kind::Roster => (
                AccessFields {
                    readers: str(rec, "viewer").into_iter().collect(),
                    ..Default::default()
                },
                SummaryBody::Other,
            ),
            Kind::SociogramRound | Kind::SociogramAnswers => (
                AccessFields::of_sociogram_group(&str(rec, "group").ok_or_else(|| bad("group"))?),
                SummaryBody::Other,
            ),
            Kind::SignalNotes => (
                AccessFields {
                    urgency: Some(
                        int(rec, "urgency")
                            .and_then(|u| u8::try_from(u).ok())
                            .ok_or_else(|| bad("urgency"))?,
                    ),
                    category: Some(str(rec, "category").ok_or_else(|| bad("category"))?),
                    readers: strings(rec, "added_readers"),
                    ..Default::default()
                },
                SummaryBody::Other,
            ),
        };
        Ok(Summary {
            header,
            fields,
            body,
        })
    }
}

/// Read the typed record of a document from one walk over it (see [`Hydrated::record`]).
pub fn record_fast<R: Record + serde::de::DeserializeOwned>(
    id: DocumentId,
    doc: &Automerge,
) -> Result<R> {
    Hydrated::new(id, doc)?.record()
}

/// The current value of the document as JSON: maps (and tables) as objects, lists as
/// arrays, strings as strings (text as `{"text": ..}`), integers and timestamps as numbers.
/// Counters, bytes and unknown scalars appear in no record and read as null. With `keep`,
/// map entries with other keys are left out (and what is under them is never built).
///
/// One pass of `Automerge::iter` over every object (an object is reached through its
/// parent, so parents come first), not one `map_range` per object: setting up a range
/// costs more than reading a small object's values. This is about 40% cheaper than
/// walking object by object, and cheaper than `Automerge::hydrate`.
///
/// With a `budget`, the walk stops (None) once the values read pass it.
pub(super) fn tree(
    doc: &Automerge,
    keep: Option<fn(&str) -> bool>,
    budget: Option<ReadBudget>,
) -> Option<(serde_json::Value, (usize, usize))> {
    use automerge::iter::DocItem;
    use automerge::{ObjId, ObjType, ReadDoc, ScalarValueRef as S, ValueRef};
    use serde_json::Value;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A value, or an object being built (its index in `nodes`).
    enum Slot {
        Value(Value),
        Object(usize),
    }
    enum Node {
        Map(Vec<(String, Slot)>),
        List(Vec<Slot>),
    }
    fn build(nodes: &mut [Node], i: usize) -> Value {
        let value = |nodes: &mut [Node], slot: Slot| match slot {
            Slot::Value(v) => v,
            Slot::Object(j) => build(nodes, j),
        };
        match std::mem::replace(&mut nodes[i], Node::List(Vec::new())) {
            Node::Map(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, slot)| (k, value(nodes, slot)))
                    .collect(),
            ),
            Node::List(items) => {
                Value::Array(items.into_iter().map(|slot| value(nodes, slot)).collect())
            }
        }
    }

    let mut nodes = vec![Node::Map(Vec::new())];
    let mut index: HashMap<ObjId, usize> = HashMap::from([(automerge::ROOT, 0)]);
    let slot = |nodes: &mut Vec<Node>,
                index: &mut HashMap<ObjId, usize>,
                v: &ValueRef<'_>,
                id: &dyn Fn() -> ObjId| match v {
        ValueRef::Object(ty @ (ObjType::Map | ObjType::Table | ObjType::List)) => {
            nodes.push(match ty {
                ObjType::List => Node::List(Vec::new()),
                _ => Node::Map(Vec::new()),
            });
            index.insert(id(), nodes.len() - 1);
            Slot::Object(nodes.len() - 1)
        }
        // Not a string: the typed records (autosurgeon) do not read text as a `String`
        // either, and the fast reads must not accept what the typed ones refuse.
        ValueRef::Object(ObjType::Text) => {
            Slot::Value(Value::Object(serde_json::Map::from_iter([(
                "text".to_string(),
                Value::String(doc.text(id()).unwrap_or_default()),
            )])))
        }
        ValueRef::Scalar(s) => Slot::Value(match s {
            S::Str(s) => Value::String(s.to_string()),
            S::Int(i) | S::Timestamp(i) => (*i).into(),
            S::Uint(u) => (*u).into(),
            S::F64(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            S::Boolean(b) => (*b).into(),
            _ => Value::Null,
        }),
    };
    // Bytes of a string or text value.
    let bytes = |s: &Slot| match s {
        Slot::Value(Value::String(s)) => s.len(),
        Slot::Value(Value::Object(m)) => m.get("text").and_then(Value::as_str).map_or(0, str::len),
        _ => 0,
    };
    let (mut items, mut total) = (0usize, 0usize);
    let mut within = |s: &Slot| {
        let n = bytes(s);
        items += 1;
        total += n;
        budget.is_none_or(|b| items <= b.items && n <= b.string_bytes && total <= b.total_bytes)
    };
    // The items of one object come one after another and share their `obj`.
    let mut current: Option<(Arc<ObjId>, Option<usize>)> = None;
    for item in doc.iter() {
        let node = match &current {
            Some((obj, node)) if Arc::ptr_eq(obj, &item.obj) => *node,
            _ => {
                // Not indexed: under a key left out, or the spans of a text.
                let node = index.get(&*item.obj).copied();
                current = Some((item.obj.clone(), node));
                node
            }
        };
        let Some(node) = node else { continue };
        match &item.item {
            DocItem::Map(m) => {
                if keep.is_some_and(|k| !k(&m.key)) {
                    continue;
                }
                let s = slot(&mut nodes, &mut index, &m.value, &|| m.id());
                if !within(&s) {
                    return None;
                }
                if let Node::Map(entries) = &mut nodes[node] {
                    entries.push((m.key.to_string(), s));
                }
            }
            DocItem::List(l) => {
                let s = slot(&mut nodes, &mut index, &l.value, &|| l.id());
                if !within(&s) {
                    return None;
                }
                if let Node::List(items) = &mut nodes[node] {
                    items.push(s);
                }
            }
            DocItem::Text(_) => {}
        }
    }
    let size = (items, total);
    Some((build(&mut nodes, 0), size))
}

/// How much of a document [`Hydrated::bounded`] reads before it gives up: values and
/// objects (map entries and list items), bytes of one string or text, bytes of all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBudget {
    /// Map entries and list items, at any depth.
    pub items: usize,
    /// Bytes of one string or text.
    pub string_bytes: usize,
    /// Bytes of all strings and texts together.
    pub total_bytes: usize,
}
