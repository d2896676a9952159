//! Oudercontacten: what the mentor's and the care team's apps call to record a contact with
//! a pupil's parents (`model::parent_contact`). Always part of the dossier: readable and
//! writable by its author, the pupil's mentors and, for a pupil in care, the care team.

use super::Store;
use super::records::{agreement_mut, check_text, splice_text};
use crate::doc::AccessFields;
use crate::ids::DocumentId;
use crate::model::parent_contact::{CHANNELS, PARENT_ROLES};
use crate::model::{ConversationStatus, Kind, ParentContact, ParentPresent, Roster, check_date};
use crate::text::Text;
use crate::{Error, Result};

/// What a user enters for an oudercontact (also the whole new content of
/// [`Store::update_parent_contact`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewParentContact {
    /// Pupil id.
    pub pupil: String,
    /// Date of the contact, `YYYY-MM-DD`.
    pub held_on: String,
    /// How: one of `model::parent_contact::CHANNELS` ("meeting", "phone", "video",
    /// "home_visit", "other").
    pub channel: String,
    /// Staff present (staff ids); empty: the user alone.
    pub staff: Vec<String>,
    /// Parents present, by role (a name only where the school records names).
    pub parents: Vec<ParentPresent>,
    /// Whether the pupil was there.
    pub pupil_present: bool,
    /// What was discussed.
    pub discussed: String,
}

/// An oudercontact in a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentContactSummary {
    /// Document id.
    pub id: DocumentId,
    /// Pupil.
    pub pupil: String,
    /// Who recorded it.
    pub author: String,
    /// Date of the contact.
    pub held_on: String,
    /// "draft" / "final".
    pub status: String,
    /// How it took place.
    pub channel: String,
    /// Agreements not done.
    pub open_agreements: u32,
}

/// Check what a user entered; returns the staff list (the user when empty, no duplicates).
/// `before`: the contact as recorded, whose staff (who may have left since) and named
/// parents (the school may have stopped recording names since) stay allowed.
fn check(
    roster: &Roster,
    me: &str,
    c: &NewParentContact,
    before: Option<&ParentContact>,
) -> Result<Vec<String>> {
    check_date("held_on", &c.held_on)?;
    check_text("discussed", &c.discussed)?;
    if !CHANNELS.contains(&c.channel.as_str()) {
        return Err(Error::Invalid(format!(
            "channel must be one of {}",
            CHANNELS.join(", ")
        )));
    }
    for p in &c.parents {
        if !PARENT_ROLES.contains(&p.role.as_str()) {
            return Err(Error::Invalid(format!(
                "a parent's role must be one of {}",
                PARENT_ROLES.join(", ")
            )));
        }
        let recorded = before.is_some_and(|b| b.parents.contains(p));
        if p.name.is_some() && !roster.parent_names && !recorded {
            return Err(Error::Invalid(
                "parents' names are not recorded at this school: record the role only".into(),
            ));
        }
        if p.name.as_ref().is_some_and(|n| n.len() > 200) {
            return Err(Error::Invalid("a parent's name: at most 200 bytes".into()));
        }
    }
    let mut staff: Vec<String> = vec![];
    let given = if c.staff.is_empty() {
        vec![me.to_string()]
    } else {
        c.staff.clone()
    };
    for s in given {
        let recorded = before.is_some_and(|b| b.staff.contains(&s));
        if roster.active_staff(&s).is_none() && !recorded {
            return Err(Error::Invalid(
                "staff present must be active staff of the school".into(),
            ));
        }
        if !staff.contains(&s) {
            staff.push(s);
        }
    }
    Ok(staff)
}

impl Store {
    /// Record an oudercontact (a draft until [`Store::finalize_parent_contact`]). The
    /// pupil's mentors and, for a pupil in care, the care team; works offline.
    pub fn record_parent_contact(&self, c: NewParentContact) -> Result<DocumentId> {
        self.require_pupil(&c.pupil)?;
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        if !crate::access::pupil_permissions(&roster, &me.user, &c.pupil).record_parent_contact {
            return Err(Error::Forbidden(
                "only the pupil's mentors and care team record a parent contact",
            ));
        }
        let staff = check(&roster, &me.user, &c, None)?;
        let header = self.new_header(me, Kind::ParentContact, &c.pupil)?;
        let mut discussed = Text::default();
        discussed.update(&c.discussed);
        let record = ParentContact {
            held_on: c.held_on,
            channel: c.channel,
            staff,
            parents: c.parents,
            pupil_present: c.pupil_present,
            discussed,
            agreements: vec![],
            status: ConversationStatus::Draft.as_str().into(),
        };
        self.create_document(&header, &record)
    }

    /// An oudercontact the user may read. The read is logged.
    pub fn parent_contact(&self, id: DocumentId) -> Result<ParentContact> {
        Ok(self.read_record::<ParentContact>(id, true)?.1)
    }

    /// Replace what was entered (date, channel, who was there, what was discussed; the
    /// pupil stays). The text is stored as the minimal edit, so concurrent typing on another
    /// device merges. Write access needed; a final contact can still be completed.
    pub fn update_parent_contact(&self, id: DocumentId, c: NewParentContact) -> Result<()> {
        let me = self.unlocked_identity()?;
        let roster = self.roster()?;
        self.edit_record::<ParentContact>(id, |h, r| {
            if h.pupil.as_deref() != Some(c.pupil.as_str()) {
                return Err(Error::Invalid(
                    "the pupil of a parent contact does not change".into(),
                ));
            }
            let staff = check(&roster, &me.user, &c, Some(r))?;
            r.held_on = c.held_on;
            r.channel = c.channel;
            r.staff = staff;
            r.parents = c.parents;
            r.pupil_present = c.pupil_present;
            r.discussed.update(&c.discussed);
            Ok(())
        })
    }

    /// Splice what was discussed, like [`Store::edit_notes`] (UTF-16 positions).
    pub fn edit_parent_contact_discussed(
        &self,
        id: DocumentId,
        pos: usize,
        delete: usize,
        insert: &str,
    ) -> Result<()> {
        check_text("insert", insert)?;
        self.edit_record::<ParentContact>(id, |_, r| {
            splice_text(&mut r.discussed, "discussed", pos, delete, insert)?;
            check_text("text", r.discussed.as_str())
        })
    }

    /// Add an agreement to an oudercontact; returns its id. `owner`: a staff id, "pupil"
    /// or "parents".
    pub fn add_parent_contact_agreement(
        &self,
        id: DocumentId,
        text: &str,
        owner: &str,
        due: Option<&str>,
    ) -> Result<String> {
        check_text("text", text)?;
        let a = self.new_agreement(text, owner, due)?;
        let aid = a.id.clone();
        self.edit_record::<ParentContact>(id, |_, r| {
            r.agreements.push(a);
            Ok(())
        })?;
        Ok(aid)
    }

    /// Mark an agreement of an oudercontact done or not done.
    pub fn set_parent_contact_agreement_done(
        &self,
        id: DocumentId,
        agreement: &str,
        done: bool,
    ) -> Result<()> {
        self.edit_record::<ParentContact>(id, |_, r| {
            agreement_mut(&mut r.agreements, agreement)?.done = done;
            Ok(())
        })
    }

    /// Mark an oudercontact final (it stays final).
    pub fn finalize_parent_contact(&self, id: DocumentId) -> Result<()> {
        self.edit_record::<ParentContact>(id, |_, r| {
            r.status = ConversationStatus::Final.as_str().into();
            Ok(())
        })
    }

    /// The oudercontacten about a pupil that the user may read, newest first.
    pub fn list_parent_contacts(&self, pupil: &str) -> Result<Vec<ParentContactSummary>> {
        self.list_pupil_records(
            "SELECT id, pupil, author, held_on, status, channel, open_agreements
             FROM parent_contacts WHERE pupil = ?1 ORDER BY held_on DESC, id",
            [pupil],
            Kind::ParentContact,
            |id, r| {
                Ok(ParentContactSummary {
                    id,
                    pupil: r.get(1)?,
                    author: r.get(2)?,
                    held_on: r.get(3)?,
                    status: r.get(4)?,
                    channel: r.get(5)?,
                    open_agreements: r.get(6)?,
                })
            },
            |c| (&c.pupil, &c.author, AccessFields::default()),
        )
    }
}
