//! Accounts and organisation: units (a tree), users with roles, passwords, login tokens,
//! login throttling, and the first-start admin account.

pub mod auth;
pub mod handlers;
pub mod model;
pub mod password;
pub mod queries;
pub mod service;
pub mod throttle;

pub use auth::CurrentUser;
pub use model::{Role, UnitId, UserId};
