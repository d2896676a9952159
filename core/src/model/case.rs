//! Meldcode case: the care team's file for the five-step reporting code on domestic
//! violence and child abuse (DOMAIN.md, "Meldcode").
//!
//! One document per case, bound to one pupil, written by the care team. It links the
//! signals it is built on (step 1), holds dated entries for each step (date, participants,
//! outcome, or the reason a step was skipped), the step-4 weighing (afwegingskader), the
//! step-5 decision (help with a case manager, deadline and evaluation date; a report to
//! Veilig Thuis with its reference and feedback date) and the monitoring agreements
//! without which a case cannot close.
//!
//! What was recorded stays: step entries, linked signals and monitoring agreements are
//! only ever added, and a closed case stays closed. The store and the server both check
//! this ([`Case::follows`]) and the closing rules ([`Case::check`]).

use super::{Kind, Record, check_date};
use autosurgeon::{Hydrate, Reconcile};

/// The steps of the meldcode.
pub const STEPS: u8 = 5;

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Being worked on.
    Open,
    /// Closed, with monitoring agreements recorded.
    Closed,
}

stable_names!(
    /// Parse; anything but "closed" is open (a case never closes by accident).
    CaseStatus { Open => "open", Closed => "closed" } else Open
);

/// Step 4 of the afwegingskader: is there acute or structural unsafety?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafety {
    /// Neither.
    None,
    /// Acute unsafety.
    Acute,
    /// Structural unsafety.
    Structural,
    /// In doubt: counts as unsafety (report).
    Doubt,
}

stable_names!(Unsafety {
    None => "none",
    Acute => "acute",
    Structural => "structural",
    Doubt => "doubt",
});

/// A dated entry of one step: what happened, with whom, or why the step was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct CaseStep {
    /// Stable id (concurrent entries both survive).
    #[key]
    pub id: String,
    /// 1-5.
    #[autosurgeon(hydrate = "super::any_uint")]
    pub step: u8,
    /// Date, `YYYY-MM-DD`.
    pub on: String,
    /// Who took part (staff ids, or roles such as "ouders", "Veilig Thuis").
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub participants: Vec<String>,
    /// What came of it (empty when skipped).
    pub outcome: String,
    /// Why the step was skipped, when it was.
    #[autosurgeon(missing = "Default::default")]
    pub skipped_because: Option<String>,
    /// Staff id of whoever recorded it.
    pub by: String,
    /// When recorded, unix ms.
    pub at: i64,
    /// How the parents were involved in this step, where the meldcode asks for it (step 3:
    /// talk with the parents and the pupil, or record why not; step 5: tell them about the
    /// help organised or the report). None: not recorded for this step.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub parents: Option<ParentsInvolved>,
}

/// How parents were involved in a meldcode step: [`PARENTS_INVOLVEMENT`].
pub const PARENTS_INVOLVEMENT: [&str; 3] = ["informed", "consulted", "not_involved"];

/// The parents' part in one step of a meldcode case.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct ParentsInvolved {
    /// "informed" (told), "consulted" (talked with, their view heard) or "not_involved".
    pub how: String,
    /// When they were informed or consulted, `YYYY-MM-DD` (needed for those two).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub on: Option<String>,
    /// Why they were not involved (needed for "not_involved": for instance their
    /// involvement would endanger the pupil).
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub reason: Option<String>,
}

/// How parents were involved in a step ([`ParentsInvolved::how`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentsInvolvement {
    /// Told (of the help organised, of the report).
    Informed,
    /// Talked with, their view heard.
    Consulted,
    /// Not involved, with the reason.
    NotInvolved,
}

stable_names!(ParentsInvolvement {
    Informed => "informed",
    Consulted => "consulted",
    NotInvolved => "not_involved",
});

impl ParentsInvolved {
    /// Check on its own: a known `how`, a date for informed / consulted, a reason for not
    /// involved.
    pub fn check(&self) -> Result<(), CaseRule> {
        use ParentsInvolvement::*;
        match ParentsInvolvement::parse(&self.how) {
            Some(Informed | Consulted) => match self.on.as_deref() {
                Some(d) if check_date("date", d).is_ok() => Ok(()),
                _ => Err("parents informed or consulted need a date YYYY-MM-DD"),
            },
            Some(NotInvolved) if self.reason.as_deref().is_some_and(|r| !r.trim().is_empty()) => {
                Ok(())
            }
            Some(NotInvolved) => Err("parents not involved needs the reason"),
            None => Err("parents' involvement must be informed, consulted or not_involved"),
        }
    }
}

/// Step 4: the weighing (afwegingskader).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct Weighing {
    /// Date, `YYYY-MM-DD`.
    pub on: String,
    /// Is there a suspicion of domestic violence or child abuse?
    pub suspicion: bool,
    /// See [`Unsafety`].
    pub unsafety: String,
    /// Staff id.
    pub by: String,
}

impl Weighing {
    /// Whether this weighing means a report to Veilig Thuis: a suspicion with acute or
    /// structural unsafety, or doubt about it.
    pub fn report_required(&self) -> bool {
        self.suspicion && Unsafety::parse(&self.unsafety).is_some_and(|u| u != Unsafety::None)
    }
}

/// Step 5: help organised by the school.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct CaseHelp {
    /// Who manages the case (staff id or name of the organisation).
    pub case_manager: String,
    /// Date the help must have started, `YYYY-MM-DD`.
    pub deadline: String,
    /// Date of the evaluation, `YYYY-MM-DD`.
    pub evaluation_on: String,
}

/// Step 5: the report to Veilig Thuis.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct CaseReport {
    /// Date reported, `YYYY-MM-DD`.
    pub reported_on: String,
    /// Veilig Thuis's reference.
    pub reference: String,
    /// Veilig Thuis gives feedback within five working days: the date it is due.
    pub feedback_due: String,
    /// Date the feedback came, once it did.
    #[autosurgeon(missing = "Default::default")]
    pub feedback_on: Option<String>,
}

/// A monitoring agreement (who keeps an eye on what, until when).
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct MonitoringAgreement {
    /// Stable id.
    #[key]
    pub id: String,
    /// What was agreed.
    pub text: String,
    /// Who (staff id or name).
    pub owner: String,
    /// Until or check date, `YYYY-MM-DD`.
    #[autosurgeon(missing = "Default::default")]
    pub due: Option<String>,
}

/// A meldcode case.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, serde::Deserialize)]
pub struct Case {
    /// When opened, unix ms.
    pub opened_at: i64,
    /// The signal documents it is built on (step 1); only ever added to.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub signals: Vec<String>,
    /// Dated entries of the five steps; only ever added to.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub steps: Vec<CaseStep>,
    /// Step 4.
    #[autosurgeon(missing = "Default::default")]
    pub weighing: Option<Weighing>,
    /// Step 5: help.
    #[autosurgeon(missing = "Default::default")]
    pub help: Option<CaseHelp>,
    /// Step 5: report to Veilig Thuis.
    #[autosurgeon(missing = "Default::default")]
    pub report: Option<CaseReport>,
    /// Monitoring agreements; only ever added to.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub monitoring: Vec<MonitoringAgreement>,
    /// "open" or "closed".
    pub status: String,
    /// When closed, unix ms.
    #[autosurgeon(missing = "Default::default")]
    pub closed_at: Option<i64>,
}

impl Record for Case {
    const KIND: Kind = Kind::Case;
}

/// Why a case record is not valid, or not a valid successor of an earlier state. The
/// reasons name fields, never content.
pub type CaseRule = &'static str;

impl Case {
    /// A new open case on `signals`.
    pub fn new(opened_at: i64, signals: Vec<String>) -> Case {
        Case {
            opened_at,
            signals,
            steps: vec![],
            weighing: None,
            help: None,
            report: None,
            monitoring: vec![],
            status: CaseStatus::Open.as_str().into(),
            closed_at: None,
        }
    }

    /// Status, typed.
    pub fn status(&self) -> CaseStatus {
        CaseStatus::parse(&self.status)
    }

    /// The furthest step with anything recorded (0 when nothing is): step entries, the
    /// weighing (4), help or a report (5).
    pub fn current_step(&self) -> u8 {
        current_step(
            self.steps.iter().map(|s| s.step),
            self.weighing.is_some(),
            self.help.is_some() || self.report.is_some(),
        )
    }

    /// Whether the weighing means a report to Veilig Thuis.
    pub fn report_required(&self) -> bool {
        self.weighing
            .as_ref()
            .is_some_and(Weighing::report_required)
    }

    /// Check the record on its own: steps 1-5 with valid dates and an outcome or a reason
    /// for skipping, a known weighing, valid dates, and a closed case with monitoring
    /// agreements and a closing time. These hold for any merge of two states that pass
    /// them and [`Case::follows`], so the server enforces them on every push.
    pub fn check(&self) -> Result<(), CaseRule> {
        let date = |s: &str| check_date("date", s).is_ok();
        for s in &self.steps {
            if !(1..=STEPS).contains(&s.step) {
                return Err("step must be 1-5");
            }
            if !date(&s.on) {
                return Err("step date must be YYYY-MM-DD");
            }
            let skipped = s
                .skipped_because
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty());
            if s.outcome.trim().is_empty() && !skipped {
                return Err("a step needs an outcome or the reason it was skipped");
            }
            if let Some(p) = &s.parents {
                p.check()?;
            }
        }
        if let Some(w) = &self.weighing {
            if Unsafety::parse(&w.unsafety).is_none() {
                return Err("unsafety must be none, acute, structural or doubt");
            }
            if !date(&w.on) {
                return Err("weighing date must be YYYY-MM-DD");
            }
        }
        if let Some(h) = &self.help
            && (!date(&h.deadline) || !date(&h.evaluation_on) || h.case_manager.trim().is_empty())
        {
            return Err("help needs a case manager, a deadline and an evaluation date");
        }
        if let Some(r) = &self.report
            && (!date(&r.reported_on)
                || !date(&r.feedback_due)
                || r.feedback_on.as_deref().is_some_and(|d| !date(d)))
        {
            return Err("report dates must be YYYY-MM-DD");
        }
        for m in &self.monitoring {
            if m.text.trim().is_empty() || m.due.as_deref().is_some_and(|d| !date(d)) {
                return Err("a monitoring agreement needs text and a valid date");
            }
        }
        match self.status.as_str() {
            "open" => Ok(()),
            "closed" if self.monitoring.is_empty() => {
                Err("a case closes only with monitoring agreements")
            }
            "closed" if self.closed_at.is_none() => Err("a closed case has a closing time"),
            "closed" => Ok(()),
            _ => Err("status must be open or closed"),
        }
    }

    /// Whether the case may be closed now: monitoring agreements are recorded, and so is
    /// the report to Veilig Thuis when the weighing requires one. (The store asks this
    /// before closing; the server does not refuse a concurrent change to the weighing of a
    /// case closed elsewhere, so that no merge is ever refused.)
    pub fn may_close(&self) -> Result<(), CaseRule> {
        if self.monitoring.is_empty() {
            return Err("a case closes only with monitoring agreements");
        }
        if self.report_required() && self.report.is_none() {
            return Err("the weighing requires a report to Veilig Thuis");
        }
        Ok(())
    }

    /// Whether this state may follow `before`: nothing recorded is taken away or changed
    /// (linked signals, step entries, monitoring agreements), the opening time stays, and
    /// a closed case stays closed.
    pub fn follows(&self, before: &Case) -> Result<(), CaseRule> {
        if self.opened_at != before.opened_at {
            return Err("the opening time never changes");
        }
        if !before.signals.iter().all(|s| self.signals.contains(s)) {
            return Err("linked signals are never removed");
        }
        if !before.steps.iter().all(|s| self.steps.contains(s)) {
            return Err("step entries are never changed or removed");
        }
        if !before
            .monitoring
            .iter()
            .all(|m| self.monitoring.contains(m))
        {
            return Err("monitoring agreements are never changed or removed");
        }
        if before.status() == CaseStatus::Closed
            && (self.status() != CaseStatus::Closed || self.closed_at != before.closed_at)
        {
            return Err("a closed case stays closed");
        }
        Ok(())
    }
}

/// [`Case::current_step`] from its parts (the one-pass summary computes it too).
pub(crate) fn current_step(steps: impl Iterator<Item = u8>, weighed: bool, decided: bool) -> u8 {
    let recorded = steps.filter(|s| (1..=STEPS).contains(s)).max().unwrap_or(0);
    let decision = if decided {
        5
    } else if weighed {
        4
    } else {
        0
    };
    recorded.max(decision)
}

/// The date five working days (Monday to Friday) after `date` (`YYYY-MM-DD`): when
/// Veilig Thuis's feedback on a report is due.
pub fn five_working_days_after(date: &str) -> crate::Result<String> {
    use jiff::civil::Weekday;
    let mut d: jiff::civil::Date = date
        .parse()
        .map_err(|_| crate::Error::Invalid("date must be YYYY-MM-DD".into()))?;
    let mut left = 5;
    while left > 0 {
        d = d
            .tomorrow()
            .map_err(|_| crate::Error::Invalid("date out of range".into()))?;
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    Ok(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, step: u8) -> CaseStep {
        CaseStep {
            id: id.into(),
            step,
            on: "2026-11-02".into(),
            participants: vec![],
            outcome: "besproken".into(),
            skipped_because: None,
            by: "ib".into(),
            at: 1,
            parents: None,
        }
    }

    #[test]
    fn feedback_is_due_five_working_days_later() {
        // Monday -> next Monday; Thursday -> Thursday after (over a weekend).
        assert_eq!(five_working_days_after("2026-11-02").unwrap(), "2026-11-09");
        assert_eq!(five_working_days_after("2026-11-05").unwrap(), "2026-11-12");
        // Saturday -> the Friday after.
        assert_eq!(five_working_days_after("2026-11-07").unwrap(), "2026-11-13");
        assert!(five_working_days_after("2-11").is_err());
    }

    #[test]
    fn a_case_closes_only_with_monitoring_and_the_required_report() {
        let mut c = Case::new(1, vec![]);
        assert_eq!(
            c.may_close(),
            Err("a case closes only with monitoring agreements")
        );
        c.status = "closed".into();
        c.closed_at = Some(2);
        assert_eq!(
            c.check(),
            Err("a case closes only with monitoring agreements")
        );
        c.monitoring.push(MonitoringAgreement {
            id: "m".into(),
            text: "wekelijks gesprek".into(),
            owner: "mentor".into(),
            due: Some("2026-12-01".into()),
        });
        assert_eq!(c.check(), Ok(()));
        assert_eq!(c.may_close(), Ok(()));
        c.weighing = Some(Weighing {
            on: "2026-11-03".into(),
            suspicion: true,
            unsafety: "doubt".into(),
            by: "ib".into(),
        });
        assert_eq!(
            c.may_close(),
            Err("the weighing requires a report to Veilig Thuis")
        );
        c.weighing.as_mut().unwrap().unsafety = "none".into();
        assert_eq!(c.may_close(), Ok(()));
        c.weighing.as_mut().unwrap().unsafety = "maybe".into();
        assert!(c.check().is_err());
    }

    #[test]
    fn recorded_entries_stay_and_closed_stays_closed() {
        let mut before = Case::new(1, vec!["s1".into()]);
        before.steps.push(step("a", 1));
        let mut after = before.clone();
        after.steps.push(step("b", 2));
        after.signals.push("s2".into());
        assert_eq!(after.follows(&before), Ok(()));
        assert_eq!(after.current_step(), 2);

        let mut edited = after.clone();
        edited.steps[0].outcome = "anders".into();
        assert!(edited.follows(&after).is_err());
        let mut unlinked = after.clone();
        unlinked.signals.remove(0);
        assert!(unlinked.follows(&after).is_err());

        let mut closed = after.clone();
        closed.status = "closed".into();
        closed.closed_at = Some(5);
        let mut reopened = closed.clone();
        reopened.status = "open".into();
        assert!(reopened.follows(&closed).is_err());
        assert_eq!(closed.follows(&after), Ok(()));
    }

    #[test]
    fn a_step_needs_an_outcome_or_a_reason() {
        let mut c = Case::new(1, vec![]);
        let mut s = step("a", 3);
        s.outcome = " ".into();
        c.steps.push(s.clone());
        assert!(c.check().is_err());
        c.steps[0].skipped_because = Some("ouders onbereikbaar".into());
        assert_eq!(c.check(), Ok(()));
        c.steps[0].step = 6;
        assert_eq!(c.check(), Err("step must be 1-5"));
    }
}
