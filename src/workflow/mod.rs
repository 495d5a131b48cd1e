//! Workflow: approval chains (routes of stages) for drafts, assignment of incoming papers
//! to one lead, substitution of absent officials, working-day deadlines and the lateness
//! report. `engine.rs` (the route state machine) and `calendar.rs` (working days) are pure;
//! `service.rs` starts routes and acts on tasks; `incoming.rs`, `substitutions.rs`,
//! `templates.rs` and `report.rs` hold the rest; `notices.rs` is the one place notifications
//! are written. See `docs/WORKFLOW.md`.

pub mod calendar;
pub mod engine;
pub mod handlers;
pub mod incoming;
pub mod model;
pub mod notices;
pub mod queries;
pub mod report;
pub mod service;
pub mod substitutions;
pub mod templates;

pub use model::{RouteId, TaskId};
