//! Edits the apps need beyond creating records (issue: the gaps in the app API): change and
//! delete a draft signal, set who was present at a kindgesprek, edit an agreement, and who am
//! I (roles, my pupils with what I may do for each).

use super::Store;
use super::records::{NewSignal, agreement_mut, check_text};
use crate::access::PupilPermissions;
use crate::ids::DocumentId;
use crate::model::{Role, Signal};
use crate::{Error, Result};

/// A pupil of "my pupils", with what the user may do for her.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MyPupil {
    /// Pupil id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Group id.
    pub group: String,
    /// Why she is on the list: "mentor", "teacher", "care" (the care team, pupil in care).
    pub relation: &'static str,
    /// What the user may do for her.
    pub permissions: PupilPermissions,
}

/// How a draft was deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftDeleted {
    /// It never reached the server: gone from this device, nothing else to do.
    Locally,
    /// The server holds it: erase it there (`client::erase_record`, online).
    OnServer,
}

impl Store {
    /// Replace the content of one of the user's draft signals with `s` (author only, before
    /// it is shared). The pupil of a draft does not change: delete it and record a new one.
    /// Checked like [`Store::record_signal`]; `s.share` shares it afterwards.
    pub fn update_draft_signal(&self, id: DocumentId, s: NewSignal) -> Result<()> {
        s.check()?;
        let info = self.info(id)?.ok_or(Error::NotFound)?;
        if info.header.pupil.as_deref() != Some(s.pupil.as_str()) {
            return Err(Error::Invalid(
                "a draft's pupil does not change: delete it and record a new one".into(),
            ));
        }
        let me = self.unlocked_identity()?;
        let share = s.share;
        self.edit_signal_draft(id, |d| {
            d.observed_at = s.observed_at;
            d.context = s.context;
            d.category = s.category;
            d.urgency = s.urgency;
            d.facts = s.facts;
            d.interpretation = s.interpretation.map(|text| crate::model::Interpretation {
                text,
                by: me.user.clone(),
            });
            d.source = s.source;
            d.pupil_quote = s.pupil_quote;
            d.flag = s.flag;
        })?;
        if share {
            self.share_signal(id)?;
        }
        Ok(())
    }

    /// Delete one of the user's draft signals (author only, never shared). A draft that never
    /// reached the server is removed here and now; one the server holds must be erased there
    /// (online), which the bindings do next.
    pub fn delete_draft_signal(&self, id: DocumentId) -> Result<DraftDeleted> {
        let me = self.unlocked_identity()?;
        let (header, s, _) = self.read_record::<Signal>(id, false)?;
        if header.author != me.user {
            return Err(Error::Forbidden("only the author deletes a draft"));
        }
        if s.shared {
            return Err(Error::Forbidden(
                "a shared signal is not deleted; a care coordinator erases one recorded in error",
            ));
        }
        let info = self.info(id)?.ok_or(Error::NotFound)?;
        if info.acked_heads.is_some() {
            return Ok(DraftDeleted::OnServer);
        }
        self.purge(id)?;
        Ok(DraftDeleted::Locally)
    }

    /// Set who was present at a kindgesprek: staff ids and "pupil" (and, for parents, the
    /// roles "ouder" or "verzorger"). Write access needed.
    pub fn set_participants(&self, id: DocumentId, participants: &[String]) -> Result<()> {
        let roster = self.roster()?;
        for p in participants {
            let known = matches!(p.as_str(), "pupil" | "ouder" | "verzorger")
                || roster.staff.contains_key(p);
            if !known {
                return Err(Error::Invalid(
                    "participants are staff ids, \"pupil\", \"ouder\" or \"verzorger\"".into(),
                ));
            }
        }
        let mut list: Vec<String> = vec![];
        for p in participants {
            if !list.contains(p) {
                list.push(p.clone());
            }
        }
        self.update_conversation(id, |c| {
            c.participants = list;
            Ok(())
        })
    }

    /// Change an agreement of a kindgesprek: its text, owner (staff id or "pupil"), due date
    /// (`YYYY-MM-DD`, None: no date) and whether it is done. `NotFound` if the conversation
    /// has no agreement with that id.
    pub fn edit_agreement(
        &self,
        id: DocumentId,
        agreement: &str,
        text: &str,
        owner: &str,
        due: Option<&str>,
        done: bool,
    ) -> Result<()> {
        if let Some(d) = due {
            crate::model::check_date("due", d)?;
        }
        check_text("text", text)?;
        if text.trim().is_empty() {
            return Err(Error::Invalid("an agreement needs a text".into()));
        }
        self.update_conversation(id, |c| {
            let a = agreement_mut(&mut c.agreements, agreement)?;
            if a.text != text {
                a.text = text.into();
            }
            a.owner = owner.into();
            a.due = due.map(Into::into);
            a.done = done;
            Ok(())
        })
    }

    /// Mark an agreement done (or not done again).
    pub fn set_agreement_done(&self, id: DocumentId, agreement: &str, done: bool) -> Result<()> {
        self.update_conversation(id, |c| {
            agreement_mut(&mut c.agreements, agreement)?.done = done;
            Ok(())
        })
    }

    /// The roles of the enrolled user (the roster's names: "mentor", "teacher",
    /// "care_coordinator", ...), and whether she has meldcode duty.
    pub fn my_roles(&self) -> Result<(Vec<Role>, bool)> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let Some(s) = roster.active_staff(&me.user) else {
            return Ok((vec![], false));
        };
        let roles = s.roles.iter().filter_map(|r| Role::parse(r)).collect();
        Ok((roles, s.meldcode_duty))
    }

    /// "My pupils": the active pupils the user mentors, teaches, or (care team) has in care,
    /// by group and name, each with what she may do.
    pub fn my_pupils(&self) -> Result<Vec<MyPupil>> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        let care = roster
            .active_staff(&me.user)
            .is_some_and(|s| s.has(Role::CareCoordinator));
        let mut out: Vec<MyPupil> = roster
            .pupils
            .values()
            .filter(|p| p.active)
            .filter_map(|p| {
                let relation = if roster.is_mentor_of(&me.user, &p.id) {
                    "mentor"
                } else if roster.teaches_pupil(&me.user, &p.id) {
                    "teacher"
                } else if care && p.in_care {
                    "care"
                } else {
                    return None;
                };
                Some(MyPupil {
                    id: p.id.clone(),
                    name: p.display_name.clone(),
                    group: p.group.clone(),
                    relation,
                    permissions: crate::access::pupil_permissions(&roster, &me.user, &p.id),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.group, &a.name, &a.id).cmp(&(&b.group, &b.name, &b.id)));
        Ok(out)
    }

    /// The school's settings from the roster document this device holds (defaults before
    /// the first sync or when the school set none).
    pub fn school_settings(&self) -> Result<crate::model::SchoolSettings> {
        let me = self.identity()?.ok_or(Error::NotEnrolled)?;
        Ok(match self.roster_doc(&me)? {
            Some((_, d)) => crate::doc::school_settings(&d),
            None => Default::default(),
        })
    }

    /// The numbers for the acute screen (urgency 3): the national ones, and the school
    /// leader's from the school's settings (`None` while the school set none), as
    /// (Dutch label, English label, number).
    pub fn acute_contacts(&self) -> Result<Vec<(String, String, Option<String>)>> {
        let settings = self.school_settings()?;
        Ok(crate::defaults::EMERGENCY_CONTACTS
            .iter()
            .map(|c| {
                let (mut nl, mut en) = (c.label.nl.to_string(), c.label.en.to_string());
                let number = match c.number {
                    Some(n) => Some(n.to_string()),
                    None => {
                        if let Some(name) = &settings.leader_name {
                            nl = format!("{nl} ({name})");
                            en = format!("{en} ({name})");
                        }
                        settings.leader_phone.clone()
                    }
                };
                (nl, en, number)
            })
            .collect())
    }
}
