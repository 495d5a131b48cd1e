//! Workflow operations. Public functions own their transactions: each loads what it needs,
//! asks the pure engine what happens, writes the difference, the action row, the audit
//! event and the notifications in one transaction.
//!
//! By what they do: `routes.rs` starting and recalling a route, `act.rs` acting on a task
//! (idempotency, deputies, the action log), `sign.rs` signing and issuing in the route,
//! `remote.rs` signing with a remote service and the poller of signatures waiting for the
//! holder's confirmation, `inbox.rs` the inbox, `persist.rs` the stored
//! route in and out of the pure engine, `view.rs` what the API shows, `support.rs` the small
//! shared rules (ids, text, assignee resolution, stage checks, engine errors).

mod act;
mod inbox;
mod persist;
mod remote;
mod routes;
mod sign;
mod support;
mod view;

pub use act::{act, replayed, ActInput};
pub use inbox::{inbox, inbox_json};
pub use remote::{
    complete_prepared, poll_due, sign_remote, start as start_remote_poller, Actor, Completion,
    RemoteAnswer, RemoteEnv, RemoteSign,
};
pub use routes::{recall, start_route};
pub use sign::{
    prepare_token, unlock_for, unlock_handle, Prepared, SignKit, SignPlan, SignatureOutcome,
    TokenEnv, TokenUnlocked, Unlock, Unlocked, DEFAULT_STAMP,
};
pub use view::get_route;

pub(super) use support::{active_user, check_specs, head_of, is_uuid, new_id, text};
pub(super) use view::{people_of, person, task_view};
