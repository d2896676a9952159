//! Opening, creating and editing record documents. Every document has the same root: an
//! immutable `header` and the typed `record`.
//!
//! - `edit`: creating (genesis) and editing documents, the roster and school settings.
//! - `parse`: a document read into its typed body and access fields.
//! - `singletons`: documents every device creates alike (deterministic id and genesis).
//! - `summary`: what list views need of a document.
//! - `reader`: the one-pass reader ([`Hydrated`]) the summary and fast record reads use.

mod edit;
mod parse;
mod reader;
mod singletons;
mod summary;
#[cfg(test)]
mod tests;

pub use crate::access::AccessFields;
pub use edit::*;
pub use parse::*;
pub use reader::*;
pub use singletons::*;
pub use summary::*;

use crate::ids::DocumentId;
use crate::model::{Header, Record};
use crate::{Error, Result};
use automerge::ROOT;

/// Key of the header in the document root.
pub const HEADER_KEY: &str = "header";

/// Key of the record in the document root.
pub const RECORD_KEY: &str = "record";

/// Root key of a roster document's school settings ([`crate::model::SchoolSettings`]).
pub const SETTINGS_KEY: &str = "settings";

/// Root key of a school roster document's mark of the staff's views ([`views_mark`]): what
/// the views were last written from, so that a server start need not read every view.
pub const VIEWS_KEY: &str = "views";

/// Read the header of a document.
pub fn header(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<Header> {
    autosurgeon::hydrate_prop(doc, ROOT, HEADER_KEY).map_err(|e| Error::InvalidDocument {
        id,
        kind: "any",
        reason: format!("header: {e}"),
    })
}

/// That a document's header names kind `R`.
fn check_kind<R: Record>(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<()> {
    if header(id, doc)?.kind != R::KIND.as_str() {
        return Err(Error::InvalidDocument {
            id,
            kind: R::KIND.as_str(),
            reason: "document has another kind".into(),
        });
    }
    Ok(())
}

/// Read the typed record of a document, checking its kind.
pub fn record<R: Record>(id: DocumentId, doc: &impl autosurgeon::ReadDoc) -> Result<R> {
    check_kind::<R>(id, doc)?;
    autosurgeon::hydrate_prop(doc, ROOT, RECORD_KEY).map_err(|e| Error::InvalidDocument {
        id,
        kind: R::KIND.as_str(),
        reason: e.to_string(),
    })
}
