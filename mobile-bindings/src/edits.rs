//! Edits beyond creating records, and "who am I": change and delete a draft signal, who was
//! present at a kindgesprek, edit an agreement, my roles and my pupils.

use crate::error::Result;
use crate::records::{NewSignal, doc_id};
use crate::roster::{PupilPermissions, StaffRole};
use crate::store::OmkijkenStore;
use omkijken_core::store::{self as store, DraftDeleted};

/// The enrolled user's roles.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MyRoles {
    /// Roles (empty for staff no longer active).
    pub roles: Vec<StaffRole>,
    /// Aandachtsfunctionaris: meldcode duty.
    pub meldcode_duty: bool,
}

/// One of "my pupils", with what the user may do for her.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MyPupil {
    /// Pupil id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Group id.
    pub group: String,
    /// Why she is on the list: "mentor", "teacher" or "care" (care team, pupil in care).
    pub relation: String,
    /// What the user may do for her.
    pub permissions: PupilPermissions,
}

impl From<store::MyPupil> for MyPupil {
    fn from(p: store::MyPupil) -> Self {
        MyPupil {
            id: p.id,
            name: p.name,
            group: p.group,
            relation: p.relation.into(),
            permissions: p.permissions.into(),
        }
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// Replace the content of one of your draft signals (author only, not shared yet) with
    /// `signal`; checked like `record_signal`. The pupil does not change (`Invalid`: delete
    /// the draft and record a new one). `signal.share` shares it afterwards.
    pub fn update_draft_signal(&self, id: String, signal: NewSignal) -> Result<()> {
        Ok(self
            .inner
            .update_draft_signal(doc_id(&id)?, signal.into())?)
    }

    /// Delete one of your draft signals (author only, never shared). One that never reached
    /// the server goes at once, offline too; one the server holds is erased there (needs the
    /// network: `Network` offline, nothing changes then).
    pub fn delete_draft_signal(&self, id: String) -> Result<()> {
        let doc = doc_id(&id)?;
        match self.inner.delete_draft_signal(doc)? {
            DraftDeleted::Locally => Ok(()),
            DraftDeleted::OnServer => self.erase_record(id),
        }
    }

    /// Set who was present at a kindgesprek: staff ids, "pupil", and for parents the roles
    /// "ouder" or "verzorger" (no names). Write access needed.
    pub fn set_participants(&self, id: String, participants: Vec<String>) -> Result<()> {
        Ok(self.inner.set_participants(doc_id(&id)?, &participants)?)
    }

    /// Change an agreement of a kindgesprek: text, owner (staff id or "pupil"), due date
    /// (`YYYY-MM-DD` or null) and done. `NotFound` for an unknown agreement id.
    pub fn edit_agreement(
        &self,
        id: String,
        agreement_id: String,
        text: String,
        owner: String,
        due: Option<String>,
        done: bool,
    ) -> Result<()> {
        Ok(self.inner.edit_agreement(
            doc_id(&id)?,
            &agreement_id,
            &text,
            &owner,
            due.as_deref(),
            done,
        )?)
    }

    /// The numbers for the acute screen (urgency 3), the school leader's filled in from the
    /// school's settings (`admin settings --leader-phone`): show them at once, before the
    /// signal is sent. The leader's number is null while the school set none.
    pub fn acute_contacts(&self) -> Result<Vec<crate::defaults::EmergencyContact>> {
        Ok(self
            .inner
            .acute_contacts()?
            .into_iter()
            .map(|(nl, en, number)| crate::defaults::EmergencyContact {
                label: crate::defaults::LocalizedText { nl, en },
                number,
            })
            .collect())
    }

    /// The enrolled user's roles and meldcode duty (from the roster).
    pub fn my_roles(&self) -> Result<MyRoles> {
        let (roles, meldcode_duty) = self.inner.my_roles()?;
        Ok(MyRoles {
            roles: roles.into_iter().map(Into::into).collect(),
            meldcode_duty,
        })
    }

    /// "My pupils": the active pupils you mentor, teach, or (care team) have in care, by
    /// group and name, each with what you may do for her.
    pub fn my_pupils(&self) -> Result<Vec<MyPupil>> {
        Ok(self
            .inner
            .my_pupils()?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// One week of a group's thermometer.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GroupWeek {
    /// Monday of the week, `YYYY-MM-DD`.
    pub week_of: String,
    /// Readings per level: index 0 the lowest fifth of the scale, 4 the highest.
    pub levels: Vec<u32>,
    /// Readings in the week.
    pub readings: u32,
    /// Of them, how many asked to talk.
    pub wants_to_talk: u32,
    /// Mean level, 0 (lowest) to 1 (highest); null without readings.
    pub mean: Option<f64>,
}

/// Signals of one category in one month.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CategoryCount {
    /// Month, `YYYY-MM`.
    pub month: String,
    /// Category id (see `signal_categories()`).
    pub category: String,
    /// Shared signals.
    pub count: u32,
}

/// A group's overview for its mentors and the care team.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct GroupOverview {
    /// Group id.
    pub group: String,
    /// Active pupils in the group.
    pub pupils: u32,
    /// Thermometer per week, oldest first.
    pub weeks: Vec<GroupWeek>,
    /// Shared signals per month and category.
    pub signals: Vec<CategoryCount>,
    /// Agreements not done yet in the group's kindgesprekken you read.
    pub open_agreements: u32,
    /// The attention list for this group's pupils.
    pub to_watch: Vec<crate::records::AttentionItem>,
    /// The weekly mean level as an SVG line chart (600 x 200), for the app to show.
    pub trend_svg: String,
}

#[uniffi::export]
impl OmkijkenStore {
    /// The overview of a group from `from` to `to` (unix ms, at most a year): thermometer
    /// levels per week, signals per category per month, open agreements and pupils to
    /// watch, from what this device holds. The group's mentors and the care team only
    /// (`Forbidden` for others, `NotFound` for an unknown group).
    pub fn group_overview(&self, group: String, from: i64, to: i64) -> Result<GroupOverview> {
        let o = self.inner.group_overview(&group, from, to)?;
        Ok(GroupOverview {
            trend_svg: o.trend_svg(),
            group: o.group,
            pupils: o.pupils,
            weeks: o
                .weeks
                .into_iter()
                .map(|w| GroupWeek {
                    week_of: w.week_of,
                    levels: w.levels.to_vec(),
                    readings: w.readings,
                    wants_to_talk: w.wants_to_talk,
                    mean: w.mean,
                })
                .collect(),
            signals: o
                .signals
                .into_iter()
                .map(|(month, category, count)| CategoryCount {
                    month,
                    category,
                    count,
                })
                .collect(),
            open_agreements: o.open_agreements,
            to_watch: o.to_watch.into_iter().map(Into::into).collect(),
        })
    }
}
