//! What devices read of the school's settings (`model::SchoolSettings`) beyond the acute
//! screen: the kindgesprek templates on offer and the cadence of kindgesprekken.

use super::Store;
use super::queries::ConversationSummary;
use crate::Result;
use crate::model::{Roster, TemplateSetting};

/// A pupil of the user's (as mentor) and when her next kindgesprek is due by the school's
/// cadence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationDue {
    /// Pupil id.
    pub pupil: String,
    /// Date of the last kindgesprek this device holds and the user may read, if any.
    pub last_held_on: Option<String>,
    /// When the next one is due (`YYYY-MM-DD`): the last plus a year divided by the
    /// school's kindgesprekken per year; today when there was none.
    pub due_on: String,
    /// The due date has come.
    pub due: bool,
}

/// The current round of kindgesprekken and the user's pupils who had none in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRoundStatus {
    /// The round, 1-based.
    pub number: u32,
    /// Its first day, `YYYY-MM-DD`.
    pub from: String,
    /// Its last day, `YYYY-MM-DD`.
    pub to: String,
    /// Active pupils the user mentors with no kindgesprek held in the round (of those this
    /// device holds), by id.
    pub without: Vec<String>,
}

impl Store {
    /// The round of kindgesprekken `today` (`YYYY-MM-DD`) falls in by the school's cadence
    /// (`conversation_rounds`, default three a year), and which of the user's pupils (as
    /// mentor) had no kindgesprek in it yet; none between the school's rounds.
    pub fn conversation_round(&self, today: &str) -> Result<Option<ConversationRoundStatus>> {
        let day = parse_today(today)?;
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let Some(round) = self.school_settings()?.round_on(day) else {
            return Ok(None);
        };
        let (from, to) = (round.from.to_string(), round.to.to_string());
        let mut without = vec![];
        for (pupil, conversations) in self.mentees_conversations(&me.user, &roster)? {
            let held = conversations
                .iter()
                .any(|c| c.held_on >= from && c.held_on <= to);
            if !held {
                without.push(pupil);
            }
        }
        Ok(Some(ConversationRoundStatus {
            number: round.number,
            from,
            to,
            without,
        }))
    }

    /// The kindgesprek templates on offer at the school: its own, then the default ones.
    pub fn conversation_templates(&self) -> Result<Vec<TemplateSetting>> {
        Ok(self.school_settings()?.templates())
    }

    /// For each pupil the user mentors, when the next kindgesprek is due by the school's
    /// cadence (kindgesprekken per year), on `today` (`YYYY-MM-DD`); soonest first.
    pub fn conversations_due(&self, today: &str) -> Result<Vec<ConversationDue>> {
        let today = parse_today(today)?;
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let per_year = i64::from(self.school_settings()?.conversations_per_year().max(1));
        let every = jiff::Span::new().days(365 / per_year);
        let mut out = vec![];
        for (pupil, conversations) in self.mentees_conversations(&me.user, &roster)? {
            let last = conversations.into_iter().map(|c| c.held_on).max();
            let due_on = match last
                .as_deref()
                .and_then(|d| d.parse::<jiff::civil::Date>().ok())
            {
                Some(d) => d.checked_add(every).unwrap_or(d),
                None => today,
            };
            out.push(ConversationDue {
                pupil,
                last_held_on: last,
                due_on: due_on.to_string(),
                due: due_on <= today,
            });
        }
        out.sort_by(|a, b| (&a.due_on, &a.pupil).cmp(&(&b.due_on, &b.pupil)));
        Ok(out)
    }

    /// The active pupils `user` mentors, by id, each with her kindgesprekken the user may
    /// read.
    fn mentees_conversations(
        &self,
        user: &str,
        roster: &Roster,
    ) -> Result<Vec<(String, Vec<ConversationSummary>)>> {
        let mut out = vec![];
        for p in roster.pupils.values().filter(|p| p.active) {
            if roster.is_mentor_of(user, &p.id) {
                out.push((p.id.clone(), self.list_conversations(&p.id)?));
            }
        }
        Ok(out)
    }
}

/// `today`, a date `YYYY-MM-DD`.
fn parse_today(today: &str) -> Result<jiff::civil::Date> {
    crate::model::check_date("today", today)?;
    today
        .parse()
        .map_err(|_| crate::Error::Invalid("today must be a date YYYY-MM-DD".into()))
}
