//! Oudercontacten (contacts with a pupil's parents) and the parents' part in a meldcode step.

use crate::error::Result;
use crate::records::{Agreement, ConversationStatus, doc_id};
use crate::store::OmkijkenStore;
use omkijken_core::DocumentId;
use omkijken_core::model as core;
use omkijken_core::store;

/// A parent (or carer) who took part, by role.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParentPresent {
    /// "moeder", "vader", "ouder", "verzorger", "pleegouder", "voogd" or "anders".
    pub role: String,
    /// The parent's name: only where the school records names
    /// (`SchoolSettings.parent_names`); `Invalid` otherwise.
    #[uniffi(default)]
    pub name: Option<String>,
}

impl From<ParentPresent> for core::ParentPresent {
    fn from(p: ParentPresent) -> Self {
        core::ParentPresent {
            role: p.role,
            name: p.name,
        }
    }
}

impl From<core::ParentPresent> for ParentPresent {
    fn from(p: core::ParentPresent) -> Self {
        ParentPresent {
            role: p.role,
            name: p.name,
        }
    }
}

/// What a user enters for an oudercontact (also the whole new content for
/// `update_parent_contact`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewParentContact {
    /// Pupil id.
    pub pupil: String,
    /// Date of the contact, `YYYY-MM-DD`.
    pub held_on: String,
    /// How: "meeting", "phone", "video", "home_visit" or "other".
    pub channel: String,
    /// Staff present (staff ids); empty: the user alone.
    #[uniffi(default)]
    pub staff: Vec<String>,
    /// Parents present, by role.
    #[uniffi(default)]
    pub parents: Vec<ParentPresent>,
    /// Whether the pupil was there.
    #[uniffi(default)]
    pub pupil_present: bool,
    /// What was discussed.
    #[uniffi(default)]
    pub discussed: String,
}

impl From<NewParentContact> for store::NewParentContact {
    fn from(c: NewParentContact) -> Self {
        store::NewParentContact {
            pupil: c.pupil,
            held_on: c.held_on,
            channel: c.channel,
            staff: c.staff,
            parents: c.parents.into_iter().map(Into::into).collect(),
            pupil_present: c.pupil_present,
            discussed: c.discussed,
        }
    }
}

/// An oudercontact, as read.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParentContact {
    /// Document id.
    pub id: String,
    /// Date of the contact.
    pub held_on: String,
    /// How it took place.
    pub channel: String,
    /// Staff present (staff ids).
    pub staff: Vec<String>,
    /// Parents present, by role.
    pub parents: Vec<ParentPresent>,
    /// Whether the pupil was there.
    pub pupil_present: bool,
    /// What was discussed.
    pub discussed: String,
    /// Agreements, in the order made (owner: a staff id, "pupil" or "parents").
    pub agreements: Vec<Agreement>,
    /// Draft or final.
    pub status: ConversationStatus,
}

impl ParentContact {
    pub(crate) fn new(id: DocumentId, c: core::ParentContact) -> Self {
        ParentContact {
            id: id.to_string(),
            status: c.status().into(),
            held_on: c.held_on,
            channel: c.channel,
            staff: c.staff,
            parents: c.parents.into_iter().map(Into::into).collect(),
            pupil_present: c.pupil_present,
            discussed: c.discussed.as_str().to_string(),
            agreements: c.agreements.into_iter().map(Into::into).collect(),
        }
    }
}

/// An oudercontact in a list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParentContactSummary {
    /// Document id.
    pub id: String,
    /// Pupil id.
    pub pupil: String,
    /// Staff id of whoever recorded it.
    pub author: String,
    /// Date of the contact.
    pub held_on: String,
    /// Draft or final.
    pub status: ConversationStatus,
    /// How it took place.
    pub channel: String,
    /// Agreements not done yet.
    pub open_agreements: u32,
}

impl From<store::ParentContactSummary> for ParentContactSummary {
    fn from(c: store::ParentContactSummary) -> Self {
        ParentContactSummary {
            id: c.id.to_string(),
            pupil: c.pupil,
            author: c.author,
            held_on: c.held_on,
            status: core::ConversationStatus::parse(&c.status).into(),
            channel: c.channel,
            open_agreements: c.open_agreements,
        }
    }
}

/// How parents were involved in a meldcode step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ParentsInvolvement {
    /// Told (for instance of the help organised or of the report).
    Informed,
    /// Talked with, their view heard (step 3).
    Consulted,
    /// Not involved, with the reason (for instance it would endanger the pupil).
    NotInvolved,
}

/// The parents' part in one step of a meldcode case (steps 3 and 5 ask for it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParentsInvolved {
    /// How.
    pub how: ParentsInvolvement,
    /// When (`YYYY-MM-DD`): needed for informed and consulted.
    #[uniffi(default)]
    pub on: Option<String>,
    /// Why not: needed for not involved.
    #[uniffi(default)]
    pub reason: Option<String>,
}

impl From<ParentsInvolved> for core::ParentsInvolved {
    fn from(p: ParentsInvolved) -> Self {
        core::ParentsInvolved {
            how: match p.how {
                ParentsInvolvement::Informed => core::ParentsInvolvement::Informed,
                ParentsInvolvement::Consulted => core::ParentsInvolvement::Consulted,
                ParentsInvolvement::NotInvolved => core::ParentsInvolvement::NotInvolved,
            }
            .as_str()
            .into(),
            on: p.on,
            reason: p.reason,
        }
    }
}

impl From<core::ParentsInvolved> for ParentsInvolved {
    /// An unknown value reads as not involved (the weakest claim).
    fn from(p: core::ParentsInvolved) -> Self {
        ParentsInvolved {
            how: match core::ParentsInvolvement::parse(&p.how) {
                Some(core::ParentsInvolvement::Informed) => ParentsInvolvement::Informed,
                Some(core::ParentsInvolvement::Consulted) => ParentsInvolvement::Consulted,
                Some(core::ParentsInvolvement::NotInvolved) | None => {
                    ParentsInvolvement::NotInvolved
                }
            },
            on: p.on,
            reason: p.reason,
        }
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// Record an oudercontact (a draft until `finalize_parent_contact`); returns its id.
    /// The pupil's mentors and, for a pupil in care, the care team (`Forbidden` for
    /// others); part of the pupil's dossier from the start. Works offline.
    pub fn record_parent_contact(&self, contact: NewParentContact) -> Result<String> {
        Ok(self
            .inner
            .record_parent_contact(contact.into())?
            .to_string())
    }

    /// An oudercontact the user may read (`NotFound` otherwise). The read is logged.
    pub fn parent_contact(&self, id: String) -> Result<ParentContact> {
        let doc = doc_id(&id)?;
        Ok(ParentContact::new(doc, self.inner.parent_contact(doc)?))
    }

    /// Replace what was entered for an oudercontact (the pupil stays: `Invalid` otherwise).
    /// What was discussed is stored as the minimal edit, so typing on another device merges.
    pub fn update_parent_contact(&self, id: String, contact: NewParentContact) -> Result<()> {
        Ok(self
            .inner
            .update_parent_contact(doc_id(&id)?, contact.into())?)
    }

    /// Splice what was discussed: delete `delete` UTF-16 units at `pos`, insert `insert`.
    pub fn edit_parent_contact_discussed(
        &self,
        id: String,
        pos: u32,
        delete: u32,
        insert: String,
    ) -> Result<()> {
        Ok(self.inner.edit_parent_contact_discussed(
            doc_id(&id)?,
            pos as usize,
            delete as usize,
            &insert,
        )?)
    }

    /// Add an agreement to an oudercontact (owner: a staff id, "pupil" or "parents");
    /// returns its id.
    pub fn add_parent_contact_agreement(
        &self,
        id: String,
        text: String,
        owner: String,
        due: Option<String>,
    ) -> Result<String> {
        Ok(self
            .inner
            .add_parent_contact_agreement(doc_id(&id)?, &text, &owner, due.as_deref())?)
    }

    /// Mark an agreement of an oudercontact done or not done.
    pub fn set_parent_contact_agreement_done(
        &self,
        id: String,
        agreement_id: String,
        done: bool,
    ) -> Result<()> {
        Ok(self
            .inner
            .set_parent_contact_agreement_done(doc_id(&id)?, &agreement_id, done)?)
    }

    /// Mark an oudercontact final (it stays final).
    pub fn finalize_parent_contact(&self, id: String) -> Result<()> {
        Ok(self.inner.finalize_parent_contact(doc_id(&id)?)?)
    }

    /// The oudercontacten about a pupil that the user may read, newest first.
    pub fn list_parent_contacts(&self, pupil: String) -> Result<Vec<ParentContactSummary>> {
        Ok(self
            .inner
            .list_parent_contacts(&pupil)?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}
