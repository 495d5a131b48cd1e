//! Audit log: an append-only, hash-chained record of every state change.
//!
//! Each row carries the SHA-256 of the previous row's hash and its own canonical content,
//! so `docflow audit verify` can name the first row that was altered, removed or reordered.
//! On PostgreSQL events wait in `audit_pending` until a chainer places them (`service`).

pub mod handlers;
pub mod model;
pub mod service;

pub use model::{Action, AuditContext};
pub use service::{record, verify_chain, ChainReport};
