//! Agreements that come back (SGF handreiking: "hoe kan de klas of ik je helpen?"): the
//! agreements of kindgesprekken not done yet with a follow-up date, from the projection
//! (`agreements_due`), so the agenda never loads a document. A mentor's agenda lists those
//! due this week and those overdue across her pupils; overdue ones are on the attention
//! list of everyone who holds the kindgesprek.

use super::Store;
use crate::ids::DocumentId;
use crate::{Error, Result};

/// An agreement of a kindgesprek that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementDue {
    /// Pupil id.
    pub pupil: String,
    /// The kindgesprek.
    pub conversation: DocumentId,
    /// The agreement's id in it.
    pub agreement: String,
    /// Who acts on it (staff id, or "pupil").
    pub owner: String,
    /// Follow-up date, `YYYY-MM-DD`.
    pub due: String,
    /// The date has passed.
    pub overdue: bool,
}

fn date(what: &'static str, d: &str) -> Result<jiff::civil::Date> {
    d.parse()
        .map_err(|_| Error::Invalid(format!("{what} must be a date YYYY-MM-DD")))
}

impl Store {
    /// Open agreements with a follow-up date up to `until` (`YYYY-MM-DD`), of the
    /// kindgesprekken this device holds, soonest first; `overdue` against `today`.
    fn agreements_due_until(&self, today: &str, until: &str) -> Result<Vec<AgreementDue>> {
        let rows: Vec<(String, String, String, String, String)> = self.read(|tx| {
            let mut st = tx.prepare_cached(
                "SELECT doc_id, agreement_id, pupil, owner, due FROM agreements_due \
                 WHERE due <= ?1 ORDER BY due, pupil, agreement_id",
            )?;
            let rows = st.query_map([until], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(doc, agreement, pupil, owner, due)| {
                Some(AgreementDue {
                    conversation: doc.parse().ok()?,
                    overdue: due.as_str() < today,
                    pupil,
                    agreement,
                    owner,
                    due,
                })
            })
            .collect())
    }

    /// The mentor's agenda on `today` (`YYYY-MM-DD`): the open agreements of her pupils'
    /// kindgesprekken that are overdue or due this week (to Sunday), soonest first.
    pub fn agreement_agenda(&self, today: &str) -> Result<Vec<AgreementDue>> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let day = date("today", today)?;
        let sunday = day
            .checked_add(
                jiff::Span::new().days(6 - i64::from(day.weekday().to_monday_zero_offset())),
            )
            .map_err(|_| Error::Invalid("today is out of range".into()))?;
        Ok(self
            .agreements_due_until(today, &sunday.to_string())?
            .into_iter()
            .filter(|a| roster.is_mentor_of(&me.user, &a.pupil))
            .collect())
    }

    /// Open agreements whose follow-up date has passed on `today`, of every kindgesprek
    /// this device holds (the attention list).
    pub(super) fn overdue_agreements(&self, today: &str) -> Result<Vec<AgreementDue>> {
        let yesterday = date("today", today)?
            .yesterday()
            .map_err(|_| Error::Invalid("today is out of range".into()))?;
        self.agreements_due_until(today, &yesterday.to_string())
    }
}
