//! Omkijken core: care records as Automerge documents, the access rules, the encrypted
//! local store with its projections, and the sans-io sync engine.
//!
//! Feature `transport` adds the tokio WebSocket transport that devices use (`transport`).

pub mod access;
pub mod budget;
mod by_content;
pub mod defaults;
pub mod doc;
pub mod error;
pub mod ids;
pub mod invite;
pub mod markup;
pub mod model;
pub mod rosters;
pub mod sociogram;
pub mod store;
pub mod sync;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
#[cfg(feature = "transport")]
pub mod transport;

pub use access::{Access, access};
pub use doc::AccessFields;
pub use error::{Error, OpenError, Result};
pub use ids::DocumentId;
pub use model::{Header, Kind};
pub use store::Store;
