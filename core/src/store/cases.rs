//! Meldcode cases: what the care team's app calls (DOMAIN.md, "Meldcode").
//!
//! The care team opens a case on a pupil's signals and records the five steps as it goes.
//! The signaller does not read the case; each linked signal gets a "picked up" entry
//! instead, with a fixed status text, so the signaller sees that it was picked up and, at
//! the end, that the case was closed, and nothing else of it.

use super::Store;
use super::records::check_text;
use crate::access::Access;
use crate::doc;
use crate::ids::DocumentId;
use crate::model::case::{CaseRule, five_working_days_after};
use crate::model::{
    Case, CaseHelp, CaseReport, CaseStatus, CaseStep, FollowUpKind, Kind, MonitoringAgreement,
    ParentsInvolved, Signal, Unsafety, Weighing, check_date,
};
use crate::{Error, Result};
use rusqlite::params;

/// Status text appended to each signal a case is built on (a `picked_up` entry): all the
/// signaller learns; and the one appended to each linked signal when the case closes (a
/// `to_signaller` entry). Fixed texts: see [`crate::model::signal::STATUS_TEXTS`].
pub use crate::model::signal::{CASE_CLOSED_STATUS, CASE_OPENED_STATUS};

/// What a user enters for one step of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCaseStep {
    /// 1-5.
    pub step: u8,
    /// Date, `YYYY-MM-DD`.
    pub on: String,
    /// Who took part.
    pub participants: Vec<String>,
    /// What came of it; may be empty when the step was skipped.
    pub outcome: String,
    /// Why the step was skipped, if it was.
    pub skipped_because: Option<String>,
    /// How the parents were involved, where the meldcode asks for it (steps 3 and 5).
    pub parents: Option<ParentsInvolved>,
}

/// A case in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSummary {
    /// Document id.
    pub id: DocumentId,
    /// Pupil.
    pub pupil: String,
    /// Who opened it.
    pub author: String,
    /// Open or closed.
    pub status: CaseStatus,
    /// Unix ms.
    pub opened_at: i64,
    /// The furthest step with anything recorded (0-5).
    pub step: u8,
    /// Linked signals.
    pub signals: u32,
    /// Veilig Thuis's feedback is due on this date and has not come yet.
    pub feedback_due: Option<String>,
    /// Evaluation date of the help organised.
    pub evaluation_on: Option<String>,
}

fn rule(r: CaseRule) -> Error {
    Error::Invalid(r.into())
}

impl Store {
    /// Open a meldcode case about a pupil, built on some of the pupil's signals (at least
    /// one; more can be linked later). Care team only. Each signal gets a "picked up" entry
    /// with [`CASE_OPENED_STATUS`]. Works offline like every record.
    pub fn open_case(&self, pupil: &str, signals: &[DocumentId]) -> Result<DocumentId> {
        self.require_pupil(pupil)?;
        let me = self.unlocked_identity()?;
        if signals.is_empty() {
            return Err(Error::Invalid(
                "a case is built on at least one signal".into(),
            ));
        }
        for s in signals {
            self.case_signal(*s, pupil)?;
        }
        let header = self.new_header(me, Kind::Case, pupil)?;
        let mut ids: Vec<String> = vec![];
        for s in signals {
            if !ids.contains(&s.to_string()) {
                ids.push(s.to_string());
            }
        }
        let case = Case::new(self.now(), ids);
        let id = self.create_document(&header, &case).map_err(|e| match e {
            Error::Forbidden(_) => Error::Forbidden("only the care team opens a case"),
            e => e,
        })?;
        for s in signals {
            self.case_status_to_signal(*s, FollowUpKind::PickedUp, CASE_OPENED_STATUS)?;
        }
        Ok(id)
    }

    /// A case the user may read (the care team). The read is logged.
    pub fn case(&self, id: DocumentId) -> Result<Case> {
        Ok(self.read_record::<Case>(id, true)?.1)
    }

    /// Link another of the pupil's signals to an open case (step 1: map the signals).
    pub fn link_case_signal(&self, id: DocumentId, signal: DocumentId) -> Result<()> {
        let pupil = self
            .read_record::<Case>(id, false)?
            .0
            .pupil
            .ok_or(Error::NotFound)?;
        self.case_signal(signal, &pupil)?;
        let key = signal.to_string();
        let mut added = false;
        self.edit_case(id, |c| {
            if !c.signals.contains(&key) {
                c.signals.push(key.clone());
                added = true;
            }
            Ok(())
        })?;
        if added {
            self.case_status_to_signal(signal, FollowUpKind::PickedUp, CASE_OPENED_STATUS)?;
        }
        Ok(())
    }

    /// Record a dated entry of a step: its outcome, or the reason it was skipped.
    /// Returns the entry's id.
    pub fn record_case_step(&self, id: DocumentId, s: NewCaseStep) -> Result<String> {
        check_text("outcome", &s.outcome)?;
        if let Some(r) = &s.skipped_because {
            check_text("skipped_because", r)?;
        }
        if let Some(r) = s.parents.as_ref().and_then(|p| p.reason.as_ref()) {
            check_text("parents reason", r)?;
        }
        let me = self.unlocked_identity()?;
        let entry = CaseStep {
            id: self.new_id().to_string(),
            step: s.step,
            on: s.on,
            participants: s.participants,
            outcome: s.outcome,
            skipped_because: s.skipped_because.filter(|r| !r.trim().is_empty()),
            by: me.user,
            at: self.now(),
            parents: s.parents,
        };
        let entry_id = entry.id.clone();
        self.edit_case(id, |c| {
            c.steps.push(entry);
            Ok(())
        })?;
        Ok(entry_id)
    }

    /// Step 4: record the weighing (afwegingskader). A suspicion with acute or structural
    /// unsafety, or doubt, means the case cannot close without a report to Veilig Thuis.
    pub fn weigh_case(
        &self,
        id: DocumentId,
        on: &str,
        suspicion: bool,
        unsafety: Unsafety,
    ) -> Result<()> {
        let me = self.unlocked_identity()?;
        let w = Weighing {
            on: on.into(),
            suspicion,
            unsafety: unsafety.as_str().into(),
            by: me.user,
        };
        self.edit_case(id, |c| {
            c.weighing = Some(w);
            Ok(())
        })
    }

    /// Step 5: the help the school organises (case manager, deadline, evaluation date).
    pub fn arrange_case_help(&self, id: DocumentId, help: CaseHelp) -> Result<()> {
        check_text("case_manager", &help.case_manager)?;
        self.edit_case(id, |c| {
            c.help = Some(help);
            Ok(())
        })
    }

    /// Step 5: the report to Veilig Thuis, with its reference. Feedback is due five working
    /// days later.
    pub fn report_case(&self, id: DocumentId, reported_on: &str, reference: &str) -> Result<()> {
        check_text("reference", reference)?;
        if reference.trim().is_empty() {
            return Err(Error::Invalid(
                "a report needs Veilig Thuis's reference".into(),
            ));
        }
        let report = CaseReport {
            reported_on: reported_on.into(),
            reference: reference.into(),
            feedback_due: five_working_days_after(reported_on)?,
            feedback_on: None,
        };
        self.edit_case(id, |c| {
            c.report = Some(report);
            Ok(())
        })
    }

    /// Record the date Veilig Thuis's feedback came.
    pub fn record_case_feedback(&self, id: DocumentId, on: &str) -> Result<()> {
        check_date("feedback_on", on)?;
        self.edit_case(id, |c| match &mut c.report {
            Some(r) => {
                r.feedback_on = Some(on.into());
                Ok(())
            }
            None => Err(Error::Invalid("record the report first".into())),
        })
    }

    /// Add a monitoring agreement; returns its id.
    pub fn add_monitoring_agreement(
        &self,
        id: DocumentId,
        text: &str,
        owner: &str,
        due: Option<&str>,
    ) -> Result<String> {
        check_text("text", text)?;
        let m = MonitoringAgreement {
            id: self.new_id().to_string(),
            text: text.into(),
            owner: owner.into(),
            due: due.map(Into::into),
        };
        let mid = m.id.clone();
        self.edit_case(id, |c| {
            c.monitoring.push(m);
            Ok(())
        })?;
        Ok(mid)
    }

    /// Close the case: only with monitoring agreements, and with the report when the
    /// weighing requires one. Each linked signal the user may write gets a
    /// [`CASE_CLOSED_STATUS`] entry.
    pub fn close_case(&self, id: DocumentId) -> Result<()> {
        let now = self.now();
        let mut signals = vec![];
        self.edit_case(id, |c| {
            c.may_close().map_err(rule)?;
            c.status = CaseStatus::Closed.as_str().into();
            c.closed_at = Some(now);
            signals = c.signals.clone();
            Ok(())
        })?;
        for s in signals.iter().filter_map(|s| s.parse::<DocumentId>().ok()) {
            self.case_status_to_signal(s, FollowUpKind::ToSignaller, CASE_CLOSED_STATUS)?;
        }
        Ok(())
    }

    /// Cases the user may read (the care team), of one pupil or all, newest first.
    pub fn list_cases(&self, pupil: Option<&str>) -> Result<Vec<CaseSummary>> {
        self.list_pupil_records(
            "SELECT id, pupil, author, status, opened_at, step, signals, feedback_due, evaluation_on
             FROM cases WHERE (?1 IS NULL OR pupil = ?1) ORDER BY opened_at DESC, id",
            params![pupil],
            Kind::Case,
            |id, r| {
                Ok(CaseSummary {
                    id,
                    pupil: r.get(1)?,
                    author: r.get(2)?,
                    status: CaseStatus::parse(&r.get::<_, String>(3)?),
                    opened_at: r.get(4)?,
                    step: r.get(5)?,
                    signals: r.get(6)?,
                    feedback_due: r.get(7)?,
                    evaluation_on: r.get(8)?,
                })
            },
            |c| (&c.pupil, &c.author, Default::default()),
        )
    }

    /// Edit an open case (write access needed), keeping the case's rules: nothing
    /// recorded is changed or removed, and the record stays valid.
    fn edit_case(&self, id: DocumentId, edit: impl FnOnce(&mut Case) -> Result<()>) -> Result<()> {
        self.edit_record::<Case>(id, |_, c| {
            if c.status() == CaseStatus::Closed {
                return Err(Error::Forbidden("the case is closed"));
            }
            let before = c.clone();
            edit(c)?;
            c.check().map_err(rule)?;
            c.follows(&before).map_err(rule)
        })
    }

    /// A signal a case may be built on: the user reads it and it is about `pupil`.
    fn case_signal(&self, signal: DocumentId, pupil: &str) -> Result<()> {
        let (header, _, _) = self.read_record::<Signal>(signal, false)?;
        if header.pupil.as_deref() != Some(pupil) {
            return Err(Error::Invalid(
                "a case links signals about its own pupil only".into(),
            ));
        }
        Ok(())
    }

    /// Tell the signaller the status through the signal itself, where the user may write
    /// to it (a draft or a signal the user only reads is left alone).
    fn case_status_to_signal(
        &self,
        signal: DocumentId,
        kind: FollowUpKind,
        status: &str,
    ) -> Result<()> {
        let me = self.unlocked_identity()?;
        let (writable, own) = match self.load(signal)? {
            Some(d) => match doc::parse(signal, &d) {
                Ok(doc::Parsed {
                    header,
                    fields,
                    body: doc::Body::Signal(s),
                }) => (
                    s.shared && self.access_to(&header, &fields)? == Access::Write,
                    header.author == me.user,
                ),
                _ => (false, false),
            },
            None => (false, false),
        };
        // A note to the signaller is for someone else: on her own signal the care team
        // member notes it as her own follow-up.
        let kind = match kind {
            FollowUpKind::ToSignaller if own => FollowUpKind::FollowUp,
            k => k,
        };
        if writable {
            self.append_follow_up(signal, kind, status)?;
        }
        Ok(())
    }
}
