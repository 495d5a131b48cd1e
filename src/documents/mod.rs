//! Documents: Decree 30 metadata, immutable versions of the main PDF (checked on arrival),
//! attachments, registration of incoming papers, access grants, listing and search, and the
//! verification of a version's signatures.

pub mod access;
mod guarded;
pub mod handlers;
pub mod inspect;
pub mod model;
pub mod queries;
pub mod service;
pub mod upload;
pub mod verification;

pub use model::DocumentId;
