//! Registers (sổ văn bản) of a unit and their yearly, gap-free numbering.
//!
//! A register has a kind (`incoming`, `outgoing`, `internal`), a name and a symbol template;
//! numbers restart at 1 every 1 January (Vietnam time) and confidential documents (mật and
//! above) are numbered in their own series. [`service::assign_number`] is the one place a
//! number is given; it runs inside the caller's transaction.

pub mod handlers;
pub mod model;
pub mod queries;
pub mod report;
pub mod service;

pub use model::{RegisterId, Series};
