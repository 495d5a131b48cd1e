//! Signing credentials: whose key, kept how (issue 14). A user holds `server` credentials (the
//! key kept here, encrypted under the KEK and the holder's PIN), `token` ones (only the
//! certificate; the key stays on the holder's USB token) and `csc` ones (a remote signing
//! service's settings); a unit holds its organisation seal (a `server` credential plus the red
//! seal image). `service::unlock` / `unlock_seal` give the signing engine a `Signer` for one use.
//! See docs/SIGNING.md, "Signing credentials".

pub mod certs;
pub mod crypto;
pub mod form;
pub mod handlers;
pub mod images;
pub mod issue;
pub mod model;
pub mod pin;
pub mod queries;
pub mod service;
pub mod unlock;

pub use model::{Credential, CredentialId, CredentialKind};
