//! Care records as Automerge documents.
//!
//! Every document has the same root layout:
//! - `header`: the immutable [`Header`] (kind, school, pupil, author, created_at, schema);
//! - `record`: the typed record of its kind, mapped with autosurgeon.
//!
//! Readers tolerate unknown fields and missing optional ones; schema changes are additive.

/// `as_str` and `parse` of an enum whose variants have stable names (the names documents,
/// projection tables and frames hold). `parse` gives `None` for an unknown name or, with
/// `else Variant`, that variant (with the doc comment given before the type name).
macro_rules! stable_names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
            /// Parse a stable name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
    ($(#[$doc:meta])* $ty:ident { $($variant:ident => $name:literal),+ $(,)? } else $fallback:ident) => {
        impl $ty {
            /// Stable name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
            $(#[$doc])*
            pub fn parse(s: &str) -> Self {
                match s {
                    $($name => $ty::$variant,)+
                    _ => $ty::$fallback,
                }
            }
        }
    };
}

pub mod case;
pub mod conversation;
pub mod excursion;
pub mod parent_contact;
pub mod pupil_session;
pub mod roster;
pub mod rules;
pub mod settings;
pub mod signal;
pub mod sociogram;
pub mod thermometer;

pub use case::{
    Case, CaseHelp, CaseReport, CaseStatus, CaseStep, MonitoringAgreement, ParentsInvolved,
    ParentsInvolvement, Unsafety, Weighing,
};
pub use conversation::{Agreement, Conversation, ConversationStatus, Visibility};
pub use excursion::{Excursion, Supervision, TripContact};
pub use parent_contact::{ParentContact, ParentPresent};
pub use pupil_session::PupilScope;
pub use roster::{AgeBand, Group, Pupil, Role, Roster, Staff};
pub use settings::{
    Localized, QuestionSetting, Round, RoundSetting, ScaleSetting, SchoolScale, SchoolSettings,
    SociogramQuestionSetting, TemplateSetting,
};
pub use signal::{
    FollowUp, FollowUpKind, Interpretation, Signal, SignalContext, SignalNotes, Source, SourceKind,
};
pub use sociogram::{
    RoundStatus, SociogramAnswer, SociogramAnswers, SociogramQuestion, SociogramRound,
};
pub use thermometer::{SOURCE_PUPIL, TalkAnswer, ThermometerEntry, ThermometerMonth};

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The schema version written into new headers.
pub const SCHEMA_VERSION: u64 = 1;

/// The kinds of document (DESIGN.md, "Documents").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The school's roster; written by the server only.
    Roster,
    /// A kindgesprek.
    Conversation,
    /// A signaal.
    Signal,
    /// A meldcode case.
    Case,
    /// The thermometer entries of one pupil in one month.
    Thermometer,
    /// An excursion (buitenschoolse activiteit).
    Excursion,
    /// An oudercontact (a contact with a pupil's parents).
    ParentContact,
    /// The mentors' and care team's notes on one signal ([`SignalNotes`]).
    SignalNotes,
    /// A sociogram round of one group ([`SociogramRound`]).
    SociogramRound,
    /// One pupil's answers in a sociogram round ([`SociogramAnswers`]).
    SociogramAnswers,
}

impl Kind {
    /// All kinds.
    pub const ALL: [Kind; 10] = [
        Kind::Roster,
        Kind::Conversation,
        Kind::Signal,
        Kind::Case,
        Kind::Thermometer,
        Kind::Excursion,
        Kind::ParentContact,
        Kind::SignalNotes,
        Kind::SociogramRound,
        Kind::SociogramAnswers,
    ];

    /// The stable name used in documents, the database and frames.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Roster => "roster",
            Kind::Conversation => "conversation",
            Kind::Signal => "signal",
            Kind::Case => "case",
            Kind::Thermometer => "thermometer",
            Kind::Excursion => "excursion",
            Kind::ParentContact => "parent_contact",
            Kind::SignalNotes => "signal_notes",
            Kind::SociogramRound => "sociogram_round",
            Kind::SociogramAnswers => "sociogram_answers",
        }
    }
}

impl Kind {
    /// Whether documents of this kind are the system's, started from a deterministic genesis
    /// any device may bring (a thermometer month, a signal's notes, a pupil's sociogram
    /// answers): they have no author, and their first change is nobody's in particular.
    pub fn has_shared_genesis(self) -> bool {
        matches!(
            self,
            Kind::Thermometer | Kind::SignalNotes | Kind::SociogramAnswers
        )
    }

    /// [`Kind::has_shared_genesis`] of a kind's stable name (false for an unknown one).
    pub fn name_has_shared_genesis(name: &str) -> bool {
        name.parse::<Kind>().is_ok_and(Kind::has_shared_genesis)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| crate::Error::Invalid("unknown document kind".into()))
    }
}

/// The immutable header every document carries. The server keeps a copy in its catalog so
/// access can be decided without opening the document.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct Header {
    /// Document kind, as [`Kind::as_str`].
    pub kind: String,
    /// School id.
    pub school: String,
    /// Pseudonymous pupil id, for documents bound to one pupil.
    #[autosurgeon(missing = "Default::default")]
    pub pupil: Option<String>,
    /// Staff id of the author ("system" for singleton and server documents).
    pub author: String,
    /// Creation time, unix milliseconds.
    pub created_at: i64,
    /// Schema version of the record when created.
    #[autosurgeon(hydrate = "any_uint")]
    pub schema: u64,
}

impl Header {
    /// A header of `kind` in the current schema.
    pub(crate) fn new(
        kind: Kind,
        school: impl Into<String>,
        pupil: Option<&str>,
        author: impl Into<String>,
        created_at: i64,
    ) -> Header {
        Header {
            kind: kind.as_str().into(),
            school: school.into(),
            pupil: pupil.map(Into::into),
            author: author.into(),
            created_at,
            schema: SCHEMA_VERSION,
        }
    }

    /// The parsed kind.
    pub fn kind(&self) -> crate::Result<Kind> {
        self.kind.parse()
    }
}

/// A typed record stored in the `record` key of a document.
pub trait Record: Hydrate + Reconcile + Clone + fmt::Debug {
    /// The kind of document holding this record.
    const KIND: Kind;
}

/// A whole number written as either of Automerge's integer types. Our writers
/// (autosurgeon) write an unsigned field as `uint`; Automerge's JavaScript and Python
/// libraries write every whole number as `int`. Both read alike; a negative number, or one
/// too large for the field, is a hydrate error (and so a record that does not read as its
/// kind).
pub(crate) struct AnyUint(u64);

impl Hydrate for AnyUint {
    fn hydrate_uint(u: u64) -> Result<Self, autosurgeon::HydrateError> {
        Ok(AnyUint(u))
    }
    fn hydrate_int(i: i64) -> Result<Self, autosurgeon::HydrateError> {
        u64::try_from(i).map(AnyUint).map_err(|_| {
            autosurgeon::HydrateError::unexpected(
                "a whole number of 0 or more",
                "a negative one".into(),
            )
        })
    }
}

impl AnyUint {
    /// The number as `T`, or an error if it does not fit.
    fn narrow<T: TryFrom<u64>>(self) -> Result<T, autosurgeon::HydrateError> {
        T::try_from(self.0).map_err(|_| {
            autosurgeon::HydrateError::unexpected("a smaller whole number", "one too large".into())
        })
    }
}

/// A field read through [`any_uint`]: a whole number, an optional one (null: none) or a
/// list of them, each narrowed from [`AnyUint`].
pub(crate) trait WholeNumber: Sized {
    /// What the field hydrates as before narrowing.
    type Raw: Hydrate;
    /// The field's value, or an error if a number does not fit.
    fn narrow(raw: Self::Raw) -> Result<Self, autosurgeon::HydrateError>;
}

/// The number types of the records' fields.
macro_rules! whole_number {
    ($($t:ty),*) => {$(
        impl WholeNumber for $t {
            type Raw = AnyUint;
            fn narrow(raw: AnyUint) -> Result<Self, autosurgeon::HydrateError> {
                raw.narrow()
            }
        }
    )*};
}
whole_number!(u8, u32, u64);

impl<T: WholeNumber<Raw = AnyUint>> WholeNumber for Option<T> {
    type Raw = Option<AnyUint>;
    fn narrow(raw: Option<AnyUint>) -> Result<Self, autosurgeon::HydrateError> {
        raw.map(T::narrow).transpose()
    }
}

impl<T: WholeNumber<Raw = AnyUint>> WholeNumber for Vec<T> {
    type Raw = Vec<AnyUint>;
    fn narrow(raw: Vec<AnyUint>) -> Result<Self, autosurgeon::HydrateError> {
        raw.into_iter().map(T::narrow).collect()
    }
}

/// Read an unsigned field (or an optional one, or a list) written as `int` or `uint` (see
/// `AnyUint`); for `#[autosurgeon(hydrate = "...")]`.
pub(crate) fn any_uint<'a, D, T>(
    doc: &D,
    obj: &automerge::ObjId,
    prop: autosurgeon::Prop<'a>,
) -> Result<T, autosurgeon::HydrateError>
where
    D: autosurgeon::ReadDoc,
    T: WholeNumber,
{
    T::narrow(autosurgeon::hydrate_prop(doc, obj, prop)?)
}

/// Check that a string is a civil date `YYYY-MM-DD`.
pub fn check_date(field: &str, s: &str) -> crate::Result<()> {
    s.parse::<jiff::civil::Date>()
        .map(|_| ())
        .map_err(|_| crate::Error::Invalid(format!("{field} must be a date YYYY-MM-DD")))
}

/// Check that a string is a month `YYYY-MM`.
pub fn check_month(s: &str) -> crate::Result<()> {
    check_date("month", &format!("{s}-01"))
}

/// The date (`YYYY-MM-DD`) of a unix-millisecond time, in the Dutch time zone.
pub fn date_of(at_ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned(tz).date().to_string()
}

/// The month (`YYYY-MM`) of a unix-millisecond time, in the Dutch time zone.
pub fn month_of(at_ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let tz = jiff::tz::TimeZone::get("Europe/Amsterdam").unwrap_or(jiff::tz::TimeZone::UTC);
    let d = ts.to_zoned(tz).date();
    format!("{:04}-{:02}", d.year(), d.month())
}
