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
