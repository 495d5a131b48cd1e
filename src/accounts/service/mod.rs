//! Account operations. Each public function owns its transaction and writes its audit event
//! inside it.
//!
//! By what they do: `units.rs` the unit tree, `users.rs` users and the first `admin`,
//! `sessions.rs` login, tokens and logout, `passwords.rs` changing one's own password,
//! `validate.rs` the checks of account input they share.

mod passwords;
mod sessions;
mod units;
mod users;
mod validate;

pub use passwords::{change_own_password, PasswordOutcome};
pub use sessions::{authenticate_hash, login, logout, token_hash, Authenticated, LoginOutcome};
pub use units::{create_unit, get_unit, list_units, unit_id_by_code, update_unit};
pub use users::{bootstrap_admin, create_user, get_user, list_users, update_user};

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
