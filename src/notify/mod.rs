//! Email notifications that are never lost: a durable outbox written in the same transaction
//! as the action that causes it, senders that deliver it over SMTP (lettre) with retries,
//! backoff and a dead-letter state, per-user preferences and daily digests, and the deadline
//! reminders and escalations. See `docs/NOTIFICATIONS.md`.

pub mod handlers;
pub mod model;
pub mod queries;
pub mod schedule;
pub mod service;
pub mod templates;
pub mod transport;
pub mod worker;

pub use model::{NewNotification, NotificationKind};
pub use schedule::{AppClock, Clock};
pub use service::enqueue;
