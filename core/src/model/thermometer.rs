//! Gevoelsthermometer: one document per pupil and month holding entries.
//!
//! The document has a deterministic id and genesis (see `doc::genesis_singleton`), so two
//! devices that both create the month offline create the same change, and their entries
//! append to one list.

use super::{Kind, Record};
use autosurgeon::{Hydrate, Reconcile};

/// One reading.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct ThermometerEntry {
    /// Stable id.
    #[key]
    pub id: String,
    /// Unix ms.
    pub at: i64,
    /// Scale id (see `defaults::scales`).
    pub scale: String,
    /// Score on the scale (1-based; for the emotion scale: emotion index * 3 + intensity).
    #[autosurgeon(hydrate = "super::any_uint")]
    pub score: u8,
    /// Optional emotion words (ids).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub emotions: Vec<String>,
    /// "Wil je even praten?"
    pub wants_to_talk: bool,
    /// Optional short note.
    #[autosurgeon(missing = "Default::default")]
    pub note: Option<String>,
    /// Staff id who recorded it; for an entry the pupil made in pupil mode, the staff
    /// member under whose pupil session it was made.
    pub recorded_by: String,
    /// Who entered it: [`SOURCE_PUPIL`] for the pupil herself in a pupil session; none
    /// (older entries too) for staff.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub source: Option<String>,
    /// The pupil session it was entered in (with `source` pupil).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub session: Option<String>,
}

/// `source` of an entry the pupil entered herself (pupil mode).
pub const SOURCE_PUPIL: &str = "pupil";

impl ThermometerEntry {
    /// Whether the pupil entered it herself (pupil mode).
    pub fn by_pupil(&self) -> bool {
        self.source.as_deref() == Some(SOURCE_PUPIL)
    }
}

/// A "wil je even praten?" request answered: the conversation was had.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct TalkAnswer {
    /// The entry (of this month) that asked to talk.
    pub entry: String,
    /// When the talk was, `YYYY-MM-DD`.
    pub on: String,
    /// Staff id who marks it answered.
    pub by: String,
    /// The kindgesprek that followed, if one was recorded (document id).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub conversation: Option<String>,
}

/// A month of readings for one pupil.
///
/// Answers to requests to talk are kept under record keys of their own
/// ([`ANSWER_PREFIX`] + the entry's id), not in a list: the month's genesis (which every
/// device makes alike) has no list for them, and two devices that each created such a list
/// offline would put two lists at one key, of which Automerge keeps one. Keys of their own
/// merge: two answers to different requests both stay. Hydrate, Reconcile and Deserialize
/// are written out for that reason; the genesis still holds `month` and `entries` only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThermometerMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// Entries in insertion order (concurrent appends both survive).
    pub entries: Vec<ThermometerEntry>,
    /// Requests to talk that were answered, in the order of their entry ids (one per
    /// entry; an answer is never removed).
    pub answers: Vec<TalkAnswer>,
}

/// Record key prefix of an answer (followed by the id of the entry it answers).
pub const ANSWER_PREFIX: &str = "answered:";

impl Hydrate for ThermometerMonth {
    fn hydrate_map<D: autosurgeon::ReadDoc>(
        doc: &D,
        obj: &automerge::ObjId,
    ) -> Result<Self, autosurgeon::HydrateError> {
        let month: String = autosurgeon::hydrate_prop(doc, obj, "month")?;
        let entries: Option<Vec<ThermometerEntry>> =
            autosurgeon::hydrate_prop(doc, obj, "entries")?;
        let keys: Vec<String> = doc
            .map_range(obj, ..)
            .map(|i| i.key.to_string())
            .filter(|k| k.starts_with(ANSWER_PREFIX))
            .collect();
        let mut answers = Vec::with_capacity(keys.len());
        for k in keys {
            answers.push(autosurgeon::hydrate_prop(doc, obj, k.as_str())?);
        }
        Ok(ThermometerMonth {
            month,
            entries: entries.unwrap_or_default(),
            answers,
        })
    }
}

impl Reconcile for ThermometerMonth {
    type Key<'a> = autosurgeon::reconcile::NoKey;

    fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let mut m = reconciler.map()?;
        // The order of the derived implementation: the genesis stays the same change.
        m.put("month", &self.month)?;
        m.put("entries", &self.entries)?;
        for a in &self.answers {
            m.put(format!("{ANSWER_PREFIX}{}", a.entry), a)?;
        }
        Ok(())
    }
}

impl<'de> serde::Deserialize<'de> for ThermometerMonth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            month: String,
            #[serde(default)]
            entries: Vec<ThermometerEntry>,
            #[serde(flatten)]
            rest: std::collections::BTreeMap<String, serde_json::Value>,
        }
        let raw = Raw::deserialize(d)?;
        let mut answers = vec![];
        for (k, v) in raw.rest {
            if k.starts_with(ANSWER_PREFIX) {
                answers.push(serde_json::from_value(v).map_err(serde::de::Error::custom)?);
            }
        }
        Ok(ThermometerMonth {
            month: raw.month,
            entries: raw.entries,
            answers,
        })
    }
}

impl ThermometerMonth {
    /// The answer to the request of entry `id`, if it was answered.
    pub fn answer(&self, id: &str) -> Option<&TalkAnswer> {
        self.answers.iter().find(|a| a.entry == id)
    }

    /// Entries that ask to talk and have no answer yet.
    pub fn open_requests(&self) -> impl Iterator<Item = &ThermometerEntry> {
        self.entries
            .iter()
            .filter(|e| e.wants_to_talk && self.answer(&e.id).is_none())
    }
}

impl Record for ThermometerMonth {
    const KIND: Kind = Kind::Thermometer;
}
