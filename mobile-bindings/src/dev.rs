//! Test support, compiled only with the `dev-seed` feature (never in an app build): give a
//! store an identity and a roster without a server, as enrollment and the first sync would.

use crate::error::Result;
use crate::roster::{Identity, Roster};
use crate::store::OmkijkenStore;
use omkijken_core::model::{self as core, AgeBand};
use omkijken_core::{doc, ids, store::Identity as CoreIdentity};

impl From<Roster> for core::Roster {
    fn from(r: Roster) -> Self {
        core::Roster {
            school: r.school,
            pupils: r
                .pupils
                .into_iter()
                .map(|p| {
                    let band = p.age_band.map(|b| AgeBand::from(b).as_str().to_string());
                    let pupil = core::Pupil {
                        id: p.id.clone(),
                        display_name: p.display_name,
                        group: p.group,
                        age_band: band.unwrap_or_default(),
                        active: p.active,
                        in_care: p.in_care,
                        mentors: p.mentors,
                    };
                    (p.id, pupil)
                })
                .collect(),
            groups: r
                .groups
                .into_iter()
                .map(|g| {
                    let group = core::Group {
                        id: g.id.clone(),
                        name: g.name,
                        teachers: g.teachers,
                    };
                    (g.id, group)
                })
                .collect(),
            staff: r
                .staff
                .into_iter()
                .map(|s| {
                    let staff = core::Staff {
                        id: s.id.clone(),
                        display_name: s.display_name,
                        roles: s
                            .roles
                            .into_iter()
                            .map(|r| core::Role::from(r).as_str().to_string())
                            .collect(),
                        meldcode_duty: s.meldcode_duty,
                        active: s.active,
                    };
                    (s.id, staff)
                })
                .collect(),
        }
    }
}

#[uniffi::export]
impl OmkijkenStore {
    /// TEST ONLY (feature `dev-seed`): set the identity and write `roster` as the school's
    /// roster document, as enrollment and a first sync would. Apps enroll instead.
    pub fn dev_seed_roster(&self, identity: Identity, roster: Roster) -> Result<()> {
        self.inner.set_identity(&CoreIdentity {
            school: identity.school.clone(),
            user: identity.user,
        })?;
        let (id, genesis) = doc::roster_genesis(&identity.school)?;
        let (actor, now, roster) = (ids::random_actor(), self.inner.now(), roster.into());
        Ok(self.inner.transact(id, |d| {
            if d.get_heads().is_empty() {
                *d = genesis;
            }
            doc::update::<core::Roster>(id, d, &actor, now, |r| {
                *r = roster;
                Ok(())
            })
            .map(drop)
        })?)
    }
}
