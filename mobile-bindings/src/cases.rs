//! Meldcode cases for the care team's app: the case record and its parts as FFI records,
//! and the store calls that open a case, record the five steps and close it.
//!
//! Only the care team reads or writes a case. The signaller never sees it: each linked
//! signal gets an entry with a fixed status text instead (`case_opened_status()`, and
//! `case_closed_status()` when the case closes), which the signaller reads on her signal.
//! The closing rules are the core's: `close_case` is `Invalid` without monitoring
//! agreements, or without the report to Veilig Thuis when the weighing requires one; a
//! closed case refuses every change with `Forbidden`.

use crate::error::Result;
use crate::parent_contacts::ParentsInvolved;
use crate::records::doc_id;
use crate::store::OmkijkenStore;
use omkijken_core::DocumentId;
use omkijken_core::model::{self as core};
use omkijken_core::store::{self as store};

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CaseStatus {
    /// Being worked on.
    Open,
    /// Closed, with monitoring agreements recorded; no change is accepted any more.
    Closed,
}

impl From<core::CaseStatus> for CaseStatus {
    fn from(s: core::CaseStatus) -> Self {
        match s {
            core::CaseStatus::Open => CaseStatus::Open,
            core::CaseStatus::Closed => CaseStatus::Closed,
        }
    }
}

/// Step 4 of the afwegingskader: is there acute or structural unsafety?
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Unsafety {
    /// Neither.
    None,
    /// Acute unsafety.
    Acute,
    /// Structural unsafety.
    Structural,
    /// In doubt: counts as unsafety (a suspicion then requires a report).
    Doubt,
}

impl From<Unsafety> for core::Unsafety {
    fn from(u: Unsafety) -> Self {
        match u {
            Unsafety::None => core::Unsafety::None,
            Unsafety::Acute => core::Unsafety::Acute,
            Unsafety::Structural => core::Unsafety::Structural,
            Unsafety::Doubt => core::Unsafety::Doubt,
        }
    }
}

impl From<core::Unsafety> for Unsafety {
    fn from(u: core::Unsafety) -> Self {
        match u {
            core::Unsafety::None => Unsafety::None,
            core::Unsafety::Acute => Unsafety::Acute,
            core::Unsafety::Structural => Unsafety::Structural,
            core::Unsafety::Doubt => Unsafety::Doubt,
        }
    }
}

/// What a user enters for one step of a case: its outcome, or why it was skipped.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewCaseStep {
    /// 1-5.
    pub step: u8,
    /// Date, `YYYY-MM-DD`.
    pub on: String,
    /// Who took part (staff ids, or roles such as "ouders", "Veilig Thuis").
    #[uniffi(default)]
    pub participants: Vec<String>,
    /// What came of it; may be empty when the step was skipped.
    pub outcome: String,
    /// Why the step was skipped, if it was.
    #[uniffi(default)]
    pub skipped_because: Option<String>,
    /// How the parents were involved, where the meldcode asks for it (step 3: talk with
    /// them, or why not; step 5: tell them of the help or the report).
    #[uniffi(default)]
    pub parents: Option<ParentsInvolved>,
}

impl From<NewCaseStep> for store::NewCaseStep {
    fn from(s: NewCaseStep) -> Self {
        store::NewCaseStep {
            step: s.step,
            on: s.on,
            participants: s.participants,
            outcome: s.outcome,
            skipped_because: s.skipped_because,
            parents: s.parents.map(Into::into),
        }
    }
}

/// A dated entry of one step, as read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseStep {
    /// Stable id.
    pub id: String,
    /// 1-5.
    pub step: u8,
    /// Date, `YYYY-MM-DD`.
    pub on: String,
    /// Who took part.
    pub participants: Vec<String>,
    /// What came of it (empty when skipped).
    pub outcome: String,
    /// Why the step was skipped, when it was.
    pub skipped_because: Option<String>,
    /// Staff id of whoever recorded it.
    pub by: String,
    /// When recorded (unix ms).
    pub at: i64,
    /// How the parents were involved, when recorded.
    pub parents: Option<ParentsInvolved>,
}

impl From<core::CaseStep> for CaseStep {
    fn from(s: core::CaseStep) -> Self {
        CaseStep {
            id: s.id,
            step: s.step,
            on: s.on,
            participants: s.participants,
            outcome: s.outcome,
            skipped_because: s.skipped_because,
            by: s.by,
            at: s.at,
            parents: s.parents.map(Into::into),
        }
    }
}

/// Step 4: the weighing (afwegingskader).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Weighing {
    /// Date, `YYYY-MM-DD`.
    pub on: String,
    /// Is there a suspicion of domestic violence or child abuse?
    pub suspicion: bool,
    /// Acute or structural unsafety (a value this version does not know reads as doubt,
    /// the cautious reading).
    pub unsafety: Unsafety,
    /// Staff id of whoever weighed.
    pub by: String,
}

impl From<core::Weighing> for Weighing {
    fn from(w: core::Weighing) -> Self {
        Weighing {
            unsafety: core::Unsafety::parse(&w.unsafety)
                .unwrap_or(core::Unsafety::Doubt)
                .into(),
            on: w.on,
            suspicion: w.suspicion,
            by: w.by,
        }
    }
}

/// Step 5: the help the school organises.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseHelp {
    /// Who manages the case (staff id or name of the organisation).
    pub case_manager: String,
    /// Date the help must have started, `YYYY-MM-DD`.
    pub deadline: String,
    /// Date of the evaluation, `YYYY-MM-DD`.
    pub evaluation_on: String,
}

impl From<CaseHelp> for core::CaseHelp {
    fn from(h: CaseHelp) -> Self {
        core::CaseHelp {
            case_manager: h.case_manager,
            deadline: h.deadline,
            evaluation_on: h.evaluation_on,
        }
    }
}

impl From<core::CaseHelp> for CaseHelp {
    fn from(h: core::CaseHelp) -> Self {
        CaseHelp {
            case_manager: h.case_manager,
            deadline: h.deadline,
            evaluation_on: h.evaluation_on,
        }
    }
}

/// Step 5: the report to Veilig Thuis.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseReport {
    /// Date reported, `YYYY-MM-DD`.
    pub reported_on: String,
    /// Veilig Thuis's reference.
    pub reference: String,
    /// Feedback is due five working days after the report: this date.
    pub feedback_due: String,
    /// Date the feedback came, once it did.
    pub feedback_on: Option<String>,
}

impl From<core::CaseReport> for CaseReport {
    fn from(r: core::CaseReport) -> Self {
        CaseReport {
            reported_on: r.reported_on,
            reference: r.reference,
            feedback_due: r.feedback_due,
            feedback_on: r.feedback_on,
        }
    }
}

/// A monitoring agreement (who keeps an eye on what, until when).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MonitoringAgreement {
    /// Stable id.
    pub id: String,
    /// What was agreed.
    pub text: String,
    /// Who (staff id or name).
    pub owner: String,
    /// Until or check date, `YYYY-MM-DD`.
    pub due: Option<String>,
}

impl From<core::MonitoringAgreement> for MonitoringAgreement {
    fn from(m: core::MonitoringAgreement) -> Self {
        MonitoringAgreement {
            id: m.id,
            text: m.text,
            owner: m.owner,
            due: m.due,
        }
    }
}

/// A meldcode case, as read (care team only).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Case {
    /// Document id.
    pub id: String,
    /// When opened (unix ms).
    pub opened_at: i64,
    /// The signal document ids it is built on (step 1); only ever added to.
    pub signals: Vec<String>,
    /// Dated entries of the five steps, in the order recorded; only ever added to.
    pub steps: Vec<CaseStep>,
    /// Step 4.
    pub weighing: Option<Weighing>,
    /// Step 5: help.
    pub help: Option<CaseHelp>,
    /// Step 5: report to Veilig Thuis.
    pub report: Option<CaseReport>,
    /// Monitoring agreements; only ever added to. A case closes only with at least one.
    pub monitoring: Vec<MonitoringAgreement>,
    /// Open or closed.
    pub status: CaseStatus,
    /// When closed (unix ms).
    pub closed_at: Option<i64>,
    /// The furthest step with anything recorded (0 when nothing is): step entries, the
    /// weighing (4), help or a report (5).
    pub current_step: u8,
    /// The weighing requires a report to Veilig Thuis (a suspicion with acute or
    /// structural unsafety, or doubt): the case closes only once it is recorded.
    pub report_required: bool,
}

impl Case {
    pub(crate) fn new(id: DocumentId, c: core::Case) -> Self {
        Case {
            id: id.to_string(),
            status: c.status().into(),
            current_step: c.current_step(),
            report_required: c.report_required(),
            opened_at: c.opened_at,
            signals: c.signals,
            steps: c.steps.into_iter().map(Into::into).collect(),
            weighing: c.weighing.map(Into::into),
            help: c.help.map(Into::into),
            report: c.report.map(Into::into),
            monitoring: c.monitoring.into_iter().map(Into::into).collect(),
            closed_at: c.closed_at,
        }
    }
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CaseSummary {
    /// Document id.
    pub id: String,
    /// Pupil id.
    pub pupil: String,
    /// Staff id of whoever opened it.
    pub author: String,
    /// Open or closed.
    pub status: CaseStatus,
    /// When opened (unix ms).
    pub opened_at: i64,
    /// The furthest step with anything recorded (0-5).
    pub step: u8,
    /// Number of linked signals.
    pub signals: u32,
    /// Veilig Thuis's feedback is due on this date and has not come yet.
    pub feedback_due: Option<String>,
    /// Evaluation date of the help organised.
    pub evaluation_on: Option<String>,
}

impl From<store::CaseSummary> for CaseSummary {
    fn from(c: store::CaseSummary) -> Self {
        CaseSummary {
            id: c.id.to_string(),
            pupil: c.pupil,
            author: c.author,
            status: c.status.into(),
            opened_at: c.opened_at,
            step: c.step,
            signals: c.signals,
            feedback_due: c.feedback_due,
            evaluation_on: c.evaluation_on,
        }
    }
}

/// The status text a linked signal gets when a case is opened on it: all the signaller
/// learns of the case (she sees it as a "picked up" entry on her signal).
#[uniffi::export]
pub fn case_opened_status() -> String {
    store::CASE_OPENED_STATUS.into()
}

/// The status text each linked signal gets when the case closes.
#[uniffi::export]
pub fn case_closed_status() -> String {
    store::CASE_CLOSED_STATUS.into()
}

#[uniffi::export]
impl OmkijkenStore {
    /// Open a meldcode case about a pupil on some of the pupil's signals (at least one;
    /// more can be linked later). Care team only (`Forbidden` for anyone else). Each signal
    /// gets a "picked up" entry with `case_opened_status()`. Works offline. Returns its id.
    pub fn open_case(&self, pupil: String, signals: Vec<String>) -> Result<String> {
        let signals = signals
            .iter()
            .map(|s| doc_id(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.inner.open_case(&pupil, &signals)?.to_string())
    }

    /// Read a case (the read is logged). `NotFound` for anyone outside the care team.
    pub fn case(&self, id: String) -> Result<Case> {
        let id = doc_id(&id)?;
        Ok(Case::new(id, self.inner.case(id)?))
    }

    /// Link another of the pupil's signals to an open case (step 1); linking one twice
    /// does nothing. The signal gets a "picked up" entry.
    pub fn link_case_signal(&self, id: String, signal: String) -> Result<()> {
        Ok(self
            .inner
            .link_case_signal(doc_id(&id)?, doc_id(&signal)?)?)
    }

    /// Record a dated entry of a step (1-5): its outcome, or why it was skipped. Returns
    /// the entry's id. A bad step or date is `Invalid` and records nothing.
    pub fn record_case_step(&self, id: String, step: NewCaseStep) -> Result<String> {
        Ok(self.inner.record_case_step(doc_id(&id)?, step.into())?)
    }

    /// Step 4: record the weighing on `on` (`YYYY-MM-DD`). A suspicion with acute or
    /// structural unsafety, or doubt, means the case closes only after `report_case`.
    pub fn weigh_case(
        &self,
        id: String,
        on: String,
        suspicion: bool,
        unsafety: Unsafety,
    ) -> Result<()> {
        Ok(self
            .inner
            .weigh_case(doc_id(&id)?, &on, suspicion, unsafety.into())?)
    }

    /// Step 5: the help the school organises (case manager, deadline, evaluation date).
    pub fn arrange_case_help(&self, id: String, help: CaseHelp) -> Result<()> {
        Ok(self.inner.arrange_case_help(doc_id(&id)?, help.into())?)
    }

    /// Step 5: the report to Veilig Thuis on `reported_on`, with its reference. Feedback is
    /// due five working days later (`CaseReport.feedback_due`).
    pub fn report_case(&self, id: String, reported_on: String, reference: String) -> Result<()> {
        Ok(self
            .inner
            .report_case(doc_id(&id)?, &reported_on, &reference)?)
    }

    /// Record the date Veilig Thuis's feedback came. `Invalid` before the report.
    pub fn record_case_feedback(&self, id: String, on: String) -> Result<()> {
        Ok(self.inner.record_case_feedback(doc_id(&id)?, &on)?)
    }

    /// Add a monitoring agreement with an owner and an optional date `YYYY-MM-DD`. Returns
    /// its id.
    pub fn add_monitoring_agreement(
        &self,
        id: String,
        text: String,
        owner: String,
        due: Option<String>,
    ) -> Result<String> {
        Ok(self
            .inner
            .add_monitoring_agreement(doc_id(&id)?, &text, &owner, due.as_deref())?)
    }

    /// Close the case. `Invalid` without monitoring agreements, or without the report to
    /// Veilig Thuis when the weighing requires one (nothing changes then). Each linked
    /// signal gets an entry with `case_closed_status()`. A closed case stays closed.
    pub fn close_case(&self, id: String) -> Result<()> {
        Ok(self.inner.close_case(doc_id(&id)?)?)
    }

    /// The cases this user may read (the care team; empty for anyone else), of one pupil
    /// or, with `null`, of all pupils; newest first.
    pub fn list_cases(&self, pupil: Option<String>) -> Result<Vec<CaseSummary>> {
        let list = self.inner.list_cases(pupil.as_deref())?;
        Ok(list.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafety_maps_both_ways_and_an_unknown_one_reads_as_doubt() {
        for u in [
            Unsafety::None,
            Unsafety::Acute,
            Unsafety::Structural,
            Unsafety::Doubt,
        ] {
            let core: core::Unsafety = u.into();
            assert_eq!(Unsafety::from(core), u);
            assert_eq!(core::Unsafety::parse(core.as_str()), Some(core));
        }
        let w = core::Weighing {
            on: "2026-11-18".into(),
            suspicion: true,
            unsafety: "from-a-newer-version".into(),
            by: "zc".into(),
        };
        assert_eq!(Weighing::from(w).unsafety, Unsafety::Doubt);
    }
}
