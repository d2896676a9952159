//! "Wil je even praten?": requests to talk and their answers.
//!
//! A reading that asks to talk is a request until someone who writes the pupil's
//! thermometer (her mentors, the teachers of her group) marks it answered, with the date of
//! the talk and, optionally, the kindgesprek that followed. Until then it is on their
//! attention list, and after the school's number of school days (settings,
//! `talk_escalation_school_days`, default 3) on the care coordinator's too: a month with an
//! open request is readable by the care team (`access`), as a signal of urgency 1 is.

use super::Store;
use super::queries::{AttentionItem, AttentionReason, header};
use crate::access::Access;
use crate::doc::{self, AccessFields};
use crate::ids::DocumentId;
use crate::model::{Kind, Role, Roster, TalkAnswer, ThermometerMonth};
use crate::{Error, Result};
use rusqlite::{OptionalExtension, params};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A request to talk that nobody answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkRequest {
    /// Pupil id.
    pub pupil: String,
    /// The reading that asks (entry id).
    pub entry: String,
    /// When the pupil asked (unix ms).
    pub at: i64,
    /// The pupil asked herself (pupil mode), not through staff.
    pub by_pupil: bool,
    /// School days (Monday to Friday) since she asked.
    pub school_days: u32,
    /// Waited the school's number of school days: the care coordinator sees it.
    pub escalated: bool,
}

/// School days (Monday to Friday) after the day of `from` up to and including the day of
/// `to` (unix ms, UTC days). Holidays count as school days: the school's calendar is not
/// known to the app.
pub fn school_days_between(from: i64, to: i64) -> u32 {
    let (a, b) = (from.div_euclid(DAY_MS), to.div_euclid(DAY_MS));
    // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
    (a + 1..=b).filter(|d| (d + 3).rem_euclid(7) < 5).count() as u32
}

fn writes_thermometer(roster: &Roster, user: &str, pupil: &str) -> bool {
    let h = header(Kind::Thermometer, &roster.school, Some(pupil), "system");
    crate::access(roster, user, &h, &AccessFields::default()) == Access::Write
}

impl Store {
    /// Requests to talk not answered yet, of the pupils this user holds the thermometer
    /// of: her mentors and teachers all of them, the care team those that waited the
    /// school's number of school days (and those of pupils in care). Oldest first.
    pub fn open_talk_requests(&self) -> Result<Vec<TalkRequest>> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let now = self.now();
        let days = self.school_settings()?.talk_escalation_days();
        let rows: Vec<(String, String, i64, bool)> = self.read(|tx| {
            let mut st = tx.prepare_cached(
                "SELECT pupil, entry_id, at, by_pupil FROM thermometer_entries \
                 WHERE wants_to_talk = 1 AND answered_on IS NULL ORDER BY at, entry_id",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let care = roster
            .active_staff(&me.user)
            .is_some_and(|s| s.has(Role::CareCoordinator));
        let mut out = vec![];
        for (pupil, entry, at, by_pupil) in rows {
            let school_days = school_days_between(at, now);
            let escalated = school_days >= days;
            let writes = writes_thermometer(&roster, &me.user, &pupil);
            let in_care = care && roster.in_care(&pupil);
            if writes || (care && (escalated || in_care)) {
                out.push(TalkRequest {
                    pupil,
                    entry,
                    at,
                    by_pupil,
                    school_days,
                    escalated,
                });
            }
        }
        Ok(out)
    }

    /// The attention list's requests to talk (see [`Store::open_talk_requests`]): for those
    /// who write the pupil's thermometer at once, for the care coordinator once escalated.
    pub(super) fn talk_attention(
        &self,
        roster: &Roster,
        user: &str,
        _now: i64,
    ) -> Result<Vec<(u8, AttentionItem)>> {
        let mut items = vec![];
        for r in self.open_talk_requests()? {
            if writes_thermometer(roster, user, &r.pupil) {
                items.push((
                    2,
                    AttentionItem {
                        pupil: r.pupil,
                        reason: AttentionReason::WantsToTalk { at: r.at },
                    },
                ));
            } else if r.escalated {
                items.push((
                    2,
                    AttentionItem {
                        pupil: r.pupil,
                        reason: AttentionReason::TalkNotAnswered {
                            at: r.at,
                            school_days: r.school_days,
                        },
                    },
                ));
            }
        }
        Ok(items)
    }

    /// Mark the request to talk of reading `entry` (of `pupil`) answered: the talk was on
    /// `on` (`YYYY-MM-DD`), optionally the kindgesprek `conversation` followed. Her mentors
    /// and the teachers of her group (`Forbidden` for others); `NotFound` for a reading
    /// this device does not hold, `Invalid` for one that did not ask to talk or was
    /// answered already.
    pub fn answer_talk_request(
        &self,
        pupil: &str,
        entry: &str,
        on: &str,
        conversation: Option<DocumentId>,
    ) -> Result<()> {
        let me = self.unlocked_identity()?;
        if on.parse::<jiff::civil::Date>().is_err() {
            return Err(Error::Invalid("the date of the talk is YYYY-MM-DD".into()));
        }
        let doc_id: Option<String> = self.read(|tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT doc_id FROM thermometer_entries WHERE pupil = ?1 AND entry_id = ?2",
                )?
                .query_row(params![pupil, entry], |r| r.get(0))
                .optional()?)
        })?;
        let id: DocumentId = doc_id.and_then(|d| d.parse().ok()).ok_or(Error::NotFound)?;
        let info = self.info(id)?.ok_or(Error::NotFound)?;
        if self.access_to(&info.header, &info.fields)? < Access::Write {
            return Err(Error::Forbidden(
                "requests to talk are answered by the pupil's mentors and teachers",
            ));
        }
        let answer = TalkAnswer {
            entry: entry.into(),
            on: on.into(),
            by: me.user.clone(),
            conversation: conversation.map(|c| c.to_string()),
        };
        let actor = self.writer_actor();
        let now = self.now();
        self.transact(id, |d| {
            let before = d.clone();
            doc::update::<ThermometerMonth>(id, d, &actor, now, |m| {
                match m.entries.iter().find(|e| e.id == entry) {
                    Some(e) if e.wants_to_talk => {}
                    Some(_) => {
                        return Err(Error::Invalid("this reading did not ask to talk".into()));
                    }
                    None => return Err(Error::NotFound),
                }
                if m.answer(entry).is_some() {
                    return Err(Error::Invalid("this request was answered already".into()));
                }
                m.answers.push(answer);
                Ok(())
            })?;
            self.admit_local(id, Some(&before), d)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::school_days_between;

    #[test]
    fn school_days_skip_weekends() {
        // 2026-11-20 is a Friday; Monday 23 to Wednesday 25 are three school days.
        let friday = 1_795_176_000_000; // 2026-11-20 12:00 UTC
        let day = 24 * 3600 * 1000;
        assert_eq!(crate::model::date_of(friday), "2026-11-20");
        assert_eq!(school_days_between(friday, friday), 0);
        assert_eq!(school_days_between(friday, friday + 2 * day), 0); // Sunday
        assert_eq!(school_days_between(friday, friday + 3 * day), 1); // Monday
        assert_eq!(school_days_between(friday, friday + 5 * day), 3); // Wednesday
    }
}
