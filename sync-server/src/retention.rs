//! Retention by the calendar (DOMAIN.md, "Retention"): which documents a school keeps how
//! long, legal holds, and the daily run that erases what expired.
//!
//! Terms, per school (`admin retention --school S --set ...`), with DOMAIN.md's defaults:
//! - the pupil file (kindgesprekken): `pupil_file_years` (2) after the pupil left;
//! - signals (incidents): `incident_years` after the pupil left, or the pupil file's term;
//! - meldcode cases: `meldcode_case_years` after the pupil left; no default (kept until the
//!   school sets one), so no default is shorter than the law allows;
//! - thermometer months: until the end of the school year they belong to
//!   (`school_year_ends`, `MM-DD`, default `07-31`), and never past the pupil file's term.
//!
//! A pupil left on the date the roster import gives in `left_on`, or, when it does not give
//! one, on the date of the first import that no longer lists the pupil. The roster and
//! excursions are not pupil documents and are not erased by retention.
//!
//! Holds stop retention: a legal hold on a pupil (`admin hold`, written to the audit log as
//! `hold`/`release` rows: the latest row wins) keeps all of that pupil's documents; an open
//! meldcode case keeps itself and the signals it is built on. Every document retention erases
//! gets an audit row `retention` with its id, kind and pupil: the kind says which term.

use crate::storage::{AuditAction, AuditRecord, Batch, Storage};
use crate::{Error, Result};
use jiff::civil::Date;
use omkijken_core::model::{Case, Kind};
use omkijken_core::{DocumentId, doc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A school's retention terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Retention {
    /// Years the pupil file is kept after the pupil left.
    #[serde(default = "default_pupil_file_years")]
    pub pupil_file_years: u32,
    /// Years signals are kept after the pupil left (None: as the pupil file).
    #[serde(default)]
    pub incident_years: Option<u32>,
    /// Years meldcode cases are kept after the pupil left (None: not erased by retention).
    #[serde(default)]
    pub meldcode_case_years: Option<u32>,
    /// Last day of the school year, `MM-DD`: thermometer months go after it.
    #[serde(default = "default_school_year_ends")]
    pub school_year_ends: String,
}

fn default_pupil_file_years() -> u32 {
    2
}

fn default_school_year_ends() -> String {
    "07-31".into()
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            pupil_file_years: default_pupil_file_years(),
            incident_years: None,
            meldcode_case_years: None,
            school_year_ends: default_school_year_ends(),
        }
    }
}

impl Retention {
    /// Check the terms (a year count of 0 is allowed: erase once the pupil left).
    pub fn check(&self) -> Result<()> {
        year_end(2026, &self.school_year_ends)
            .map(|_| ())
            .ok_or_else(|| Error::Invalid("school_year_ends must be MM-DD".into()))
    }
}

/// What the server keeps per school besides the documents (never sent to devices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolPolicy {
    /// Retention terms.
    #[serde(default)]
    pub retention: Retention,
    /// Pupil id -> the date (`YYYY-MM-DD`) the pupil left.
    #[serde(default)]
    pub left_on: BTreeMap<String, String>,
    /// The incident register shows counts under this as "< N" (`register`).
    #[serde(default = "default_threshold")]
    pub register_threshold: u32,
}

fn default_threshold() -> u32 {
    crate::register::DEFAULT_THRESHOLD
}

impl Default for SchoolPolicy {
    fn default() -> Self {
        SchoolPolicy {
            retention: Retention::default(),
            left_on: BTreeMap::new(),
            register_threshold: default_threshold(),
        }
    }
}

/// The school's policy (defaults if none was stored).
pub fn policy(st: &mut dyn Storage, school: &str) -> Result<SchoolPolicy> {
    match st.school_policy(school)? {
        None => Ok(SchoolPolicy::default()),
        Some(json) => {
            serde_json::from_str(&json).map_err(|_| Error::Corrupt("school policy is not valid"))
        }
    }
}

/// Store the school's policy.
pub fn set_policy(st: &mut dyn Storage, school: &str, p: &SchoolPolicy) -> Result<()> {
    p.retention.check()?;
    let json = serde_json::to_string(p).map_err(|_| Error::Invalid("policy".into()))?;
    st.set_school_policy(school, &json)
}

fn year_end(year: i16, mm_dd: &str) -> Option<Date> {
    let (m, d) = mm_dd.split_once('-')?;
    Date::new(year, m.parse().ok()?, d.parse().ok()?).ok()
}

fn add_years(d: Date, years: u32) -> Date {
    d.checked_add(jiff::Span::new().years(i64::from(years)))
        .unwrap_or(Date::MAX)
}

/// The day a document's term ends (it goes the day after), and which term it is; None when
/// no term applies.
pub fn due(r: &Retention, kind: &str, created_at: i64, left: Option<Date>) -> Option<Date> {
    let after_leaving = |years: Option<u32>| years.zip(left).map(|(y, l)| add_years(l, y));
    match kind.parse::<Kind>().ok()? {
        Kind::Conversation | Kind::ParentContact => after_leaving(Some(r.pupil_file_years)),
        // A signal's notes go with it.
        Kind::Signal | Kind::SignalNotes => {
            after_leaving(Some(r.incident_years.unwrap_or(r.pupil_file_years)))
        }
        Kind::Case => after_leaving(r.meldcode_case_years),
        // A pupil's sociogram answers are social-emotional data like her thermometer:
        // kept for the school year. (A round itself is a group's, not a pupil document.)
        Kind::Thermometer | Kind::SociogramAnswers => {
            let month = jiff::Timestamp::from_millisecond(created_at)
                .ok()?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date();
            let end_this = year_end(month.year(), &r.school_year_ends)?;
            let end = if month <= end_this {
                end_this
            } else {
                year_end(month.year() + 1, &r.school_year_ends)?
            };
            Some(match after_leaving(Some(r.pupil_file_years)) {
                Some(file) => end.min(file),
                None => end,
            })
        }
        _ => None,
    }
}

/// One document whose term has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// The document.
    pub id: DocumentId,
    /// Its kind.
    pub kind: String,
    /// Its pupil.
    pub pupil: String,
    /// The last day of its term.
    pub due: Date,
    /// Why it is kept all the same (None: it goes).
    pub held: Option<&'static str>,
}

fn date_of(ms: i64) -> Result<Date> {
    Ok(jiff::Timestamp::from_millisecond(ms)
        .map_err(|_| Error::Invalid("time".into()))?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date())
}

/// Pupils of `school` under a legal hold (the latest hold/release row of each wins).
fn held_pupils(
    st: &mut dyn Storage,
    school: &str,
    pupils: &BTreeSet<String>,
) -> Result<BTreeSet<String>> {
    // The holds alone (their own index), not every row of each pupil's log.
    Ok(holds(st)?
        .into_iter()
        .filter(|(s, p, _)| s == school && pupils.contains(p))
        .map(|(_, p, _)| p)
        .collect())
}

/// What retention would erase in `school` on `today`, and what holds keep.
pub fn plan(st: &mut dyn Storage, school: &str, today: Date) -> Result<Vec<Expired>> {
    due_by(st, school, Some(today))
}

/// Every document of `school` that has a term, with the last day of it and what holds it,
/// soonest first (`admin retention --dry-run`).
pub fn schedule(st: &mut dyn Storage, school: &str) -> Result<Vec<Expired>> {
    due_by(st, school, None)
}

/// The documents of `school` with a term, those due before `today` when given (then what
/// the run keeps in memory is what it erases, not the school's catalog), with what holds
/// them.
fn due_by(st: &mut dyn Storage, school: &str, today: Option<Date>) -> Result<Vec<Expired>> {
    let (mut expired, cases) = scan_school(st, school, today)?;
    if !expired.is_empty() {
        mark_holds(st, school, &mut expired, cases)?;
    }
    Ok(expired)
}

/// One read of a school's catalog, page by page: the documents with a term (due before
/// `today` when given), soonest first, and the school's meldcode cases.
fn scan_school(
    st: &mut dyn Storage,
    school: &str,
    today: Option<Date>,
) -> Result<(Vec<Expired>, Vec<DocumentId>)> {
    let policy = policy(st, school)?;
    let mut expired = vec![];
    let mut cases = vec![];
    st.for_each_in_school(school, &mut |r| {
        if r.erased {
            return Ok(());
        }
        if r.header.kind == Kind::Case.as_str() {
            cases.push(r.id);
        }
        expired.extend(expired_of(&policy, r, today));
        Ok(())
    })?;
    expired.sort_by_key(|e| (e.due, e.id));
    Ok((expired, cases))
}

/// A catalog row's term under `policy`: none for a document without one (or not due before
/// `today`, when given).
fn expired_of(
    policy: &SchoolPolicy,
    r: crate::storage::CatalogRow,
    today: Option<Date>,
) -> Option<Expired> {
    let pupil = r.header.pupil?;
    let left = policy
        .left_on
        .get(&pupil)
        .and_then(|d| d.parse::<Date>().ok());
    let due = due(&policy.retention, &r.header.kind, r.header.created_at, left)?;
    today.is_none_or(|today| today > due).then_some(Expired {
        id: r.id,
        kind: r.header.kind,
        pupil,
        due,
        held: None,
    })
}

/// Mark in `expired` what a legal hold on its pupil or an open meldcode case among `cases`
/// (their documents as stored now) keeps.
fn mark_holds(
    st: &mut dyn Storage,
    school: &str,
    expired: &mut [Expired],
    cases: Vec<DocumentId>,
) -> Result<()> {
    // Open meldcode cases hold themselves and their signals.
    let mut by_case: BTreeSet<DocumentId> = BTreeSet::new();
    for id in cases {
        let Some(bytes) = st.load_doc(id)? else {
            continue;
        };
        let d = automerge::Automerge::load(&bytes)
            .map_err(|_| Error::Corrupt("a stored case does not load"))?;
        let Ok(case) = doc::record::<Case>(id, &d) else {
            continue;
        };
        if case.status != "closed" {
            by_case.insert(id);
            by_case.extend(
                case.signals
                    .iter()
                    .filter_map(|s| s.parse::<DocumentId>().ok()),
            );
        }
    }
    // A signal's notes are held with it (the school's signals among what the cases name).
    let named: Vec<DocumentId> = by_case.iter().copied().collect();
    let notes: Vec<DocumentId> = st
        .catalog_get(&named)?
        .iter()
        .filter(|r| r.header.school == school && !r.erased)
        .filter(|r| r.header.kind == Kind::Signal.as_str())
        .filter_map(|r| {
            let pupil = r.header.pupil.as_deref()?;
            let category = r.fields.category.as_deref()?;
            let urgency = r.fields.urgency?;
            Some(doc::signal_notes_id(school, pupil, r.id, category, urgency))
        })
        .collect();
    by_case.extend(notes);
    let pupils: BTreeSet<String> = expired.iter().map(|e| e.pupil.clone()).collect();
    let on_hold = held_pupils(st, school, &pupils)?;
    for e in expired.iter_mut() {
        if on_hold.contains(&e.pupil) {
            e.held = Some("legal hold on the pupil");
        } else if by_case.contains(&e.id) {
            e.held = Some("open meldcode case");
        }
    }
    Ok(())
}

/// What one read of a school's catalog found for a retention run: the documents whose term
/// had passed, and the school's meldcode cases, as of catalog sequence `seq`.
#[derive(Debug, Clone)]
pub struct Scan {
    school: String,
    seq: u64,
    due: Vec<DocumentId>,
    cases: Vec<DocumentId>,
}

/// The reading half of a retention run at `now` (unix ms), every school: it only reads, so
/// it runs on a connection of its own beside the hub (a large catalog takes seconds to go
/// through); [`erase_scanned`] then erases on the writer.
pub fn scan(st: &mut dyn Storage, now: i64) -> Result<Vec<Scan>> {
    let today = date_of(now)?;
    let mut scans = vec![];
    for school in st.schools()? {
        let seq = st.last_seq()?;
        let (expired, cases) = scan_school(st, &school.id, Some(today))?;
        scans.push(Scan {
            school: school.id,
            seq,
            due: expired.into_iter().map(|e| e.id).collect(),
            cases,
        });
    }
    Ok(scans)
}

/// The writing half of a retention run: of what `scans` found, what is still stored and
/// due under the terms as they are now, and kept by no hold as it is now (the cases written
/// since the scan included), is erased. One transaction per school, an audit row `retention`
/// per document. Returns the documents erased. Costs what is due, not the catalog.
pub fn erase_scanned(st: &mut dyn Storage, now: i64, scans: Vec<Scan>) -> Result<Vec<Expired>> {
    let today = date_of(now)?;
    let mut erased = vec![];
    for scan in scans {
        let school = scan.school;
        let policy = policy(st, &school)?;
        let mut expired: Vec<Expired> = st
            .catalog_get(&scan.due)?
            .into_iter()
            .filter(|r| r.header.school == school && !r.erased)
            .filter_map(|r| expired_of(&policy, r, Some(today)))
            .collect();
        if expired.is_empty() {
            continue;
        }
        expired.sort_by_key(|e| (e.due, e.id));
        // Cases opened or changed since the scan hold what they name as well.
        let mut cases = scan.cases;
        st.for_each_since(&school, scan.seq, "", &mut |r, _| {
            if r.header.kind == Kind::Case.as_str() && !r.erased && !cases.contains(&r.id) {
                cases.push(r.id);
            }
            Ok(())
        })?;
        mark_holds(st, &school, &mut expired, cases)?;
        let gone: Vec<Expired> = expired.into_iter().filter(|e| e.held.is_none()).collect();
        if gone.is_empty() {
            continue;
        }
        let audit = gone
            .iter()
            .map(|e| AuditRecord {
                document: Some(e.id),
                kind: Some(e.kind.clone()),
                pupil: Some(e.pupil.clone()),
                ..AuditRecord::new(now, &school, AuditAction::Retention)
            })
            .collect();
        st.commit(Batch::erasure(
            now,
            &school,
            gone.iter().map(|e| e.id).collect(),
            audit,
        ))?;
        tracing::info!(school = %school, documents = gone.len(), "retention erased expired documents");
        erased.extend(gone);
    }
    Ok(erased)
}

/// Erase what retention erases in every school at `now` (unix ms), reading and writing on
/// one connection ([`scan`], then [`erase_scanned`]). Returns the documents erased.
pub fn apply(st: &mut dyn Storage, now: i64) -> Result<Vec<Expired>> {
    let scans = scan(st, now)?;
    erase_scanned(st, now, scans)
}

/// Put a legal hold on a pupil's file, or lift it (`hold = false`): an audit row.
pub fn set_hold(
    st: &mut dyn Storage,
    now: i64,
    school: &str,
    pupil: &str,
    hold: bool,
) -> Result<()> {
    st.commit(Batch {
        audit: vec![AuditRecord {
            pupil: Some(pupil.into()),
            ..AuditRecord::new(
                now,
                school,
                if hold {
                    AuditAction::Hold
                } else {
                    AuditAction::Release
                },
            )
        }],
        ..Default::default()
    })?;
    Ok(())
}

/// That the school's roster knows `pupil` (a leaver too: her file is what a hold keeps),
/// before a hold is placed, so that a mistyped id holds nothing unnoticed:
/// `NotFound("pupil")` otherwise.
pub fn known_pupil(st: &mut dyn Storage, school: &str, pupil: &str) -> Result<()> {
    match crate::admin::roster(st, school)?.pupils.contains_key(pupil) {
        true => Ok(()),
        false => Err(Error::NotFound("pupil")),
    }
}

/// That a hold stands on `pupil`'s file, before it is lifted: `NotFound("hold")` otherwise
/// (lifting what is not held writes nothing).
pub fn held(st: &mut dyn Storage, school: &str, pupil: &str) -> Result<()> {
    let one = BTreeSet::from([pupil.to_string()]);
    match held_pupils(st, school, &one)?.is_empty() {
        false => Ok(()),
        true => Err(Error::NotFound("hold")),
    }
}

/// The legal holds in effect, by school and pupil: the latest hold or release row of
/// each pupil is a hold. With the time it was placed (unix ms).
pub fn holds(st: &mut dyn Storage) -> Result<Vec<(String, String, i64)>> {
    let mut last: BTreeMap<(String, String), (u64, AuditAction, i64)> = BTreeMap::new();
    for r in st.hold_rows()? {
        let Some(pupil) = r.pupil else { continue };
        let e = last.entry((r.school, pupil)).or_insert((0, r.action, r.at));
        if r.seq >= e.0 {
            *e = (r.seq, r.action, r.at);
        }
    }
    Ok(last
        .into_iter()
        .filter(|(_, (_, a, _))| *a == AuditAction::Hold)
        .map(|((school, pupil), (_, _, at))| (school, pupil, at))
        .collect())
}

/// Record the date pupils left: those inactive in `roster` without a date get `today`;
/// those active again lose theirs. Called after every roster import.
pub fn note_leavers(
    st: &mut dyn Storage,
    school: &str,
    roster: &omkijken_core::model::Roster,
    given: &BTreeMap<String, String>,
    today: Date,
) -> Result<()> {
    let mut p = policy(st, school)?;
    let before = p.clone();
    for (id, pupil) in &roster.pupils {
        if let Some(d) = given.get(id) {
            p.left_on.insert(id.clone(), d.clone());
        } else if pupil.active {
            p.left_on.remove(id);
        } else {
            p.left_on
                .entry(id.clone())
                .or_insert_with(|| today.to_string());
        }
    }
    if p != before {
        set_policy(st, school, &p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn ms(s: &str) -> i64 {
        d(s).to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[test]
    fn terms_follow_the_defaults() {
        let r = Retention::default();
        let left = Some(d("2026-07-10"));
        assert_eq!(due(&r, "conversation", 0, left), Some(d("2028-07-10")));
        assert_eq!(due(&r, "signal", 0, left), Some(d("2028-07-10")));
        assert_eq!(due(&r, "conversation", 0, None), None, "still at school");
        assert_eq!(
            due(&r, "case", 0, left),
            None,
            "no default for meldcode cases"
        );
        assert_eq!(due(&r, "roster", 0, left), None);
        assert_eq!(due(&r, "excursion", 0, left), None);
        // Thermometer: to the end of its school year.
        assert_eq!(
            due(&r, "thermometer", ms("2026-03-01"), None),
            Some(d("2026-07-31"))
        );
        assert_eq!(
            due(&r, "thermometer", ms("2026-09-01"), None),
            Some(d("2027-07-31"))
        );
        let r = Retention {
            incident_years: Some(5),
            meldcode_case_years: Some(20),
            school_year_ends: "08-15".into(),
            ..Retention::default()
        };
        assert_eq!(due(&r, "signal", 0, left), Some(d("2031-07-10")));
        assert_eq!(due(&r, "case", 0, left), Some(d("2046-07-10")));
        assert_eq!(
            due(&r, "thermometer", ms("2026-08-01"), None),
            Some(d("2026-08-15"))
        );
        assert!(
            Retention {
                school_year_ends: "13-01".into(),
                ..Retention::default()
            }
            .check()
            .is_err()
        );
    }
}
