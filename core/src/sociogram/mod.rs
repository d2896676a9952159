//! The sociogram of a group (issue 14, "Pupil voice"; the SGF handreiking's three steps:
//! pupils answer individually, the result is made visual, the mentor links it to what the
//! pupil monitoring shows).
//!
//! Pure functions, no store: [`analysis::analyse`] turns a round's questions, the group's
//! members and their answers into who chooses and rejects whom, mutual choices, isolated,
//! rejected and popular pupils and sub-groups; [`svg::render`] draws it. The records are
//! `model::sociogram`, the store's calls `store::sociogram`.

pub mod analysis;
pub mod svg;

#[cfg(test)]
pub(crate) mod fixture;

pub use analysis::{Analysis, Answers, Member, Position, analyse};
pub use svg::render;
