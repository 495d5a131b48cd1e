//! The route engine's vocabulary: what a stage is for, how many approvals it needs, the
//! statuses of routes, stages and tasks (stored as text, see `text_enum!`), and the actions,
//! events and errors of a step.

use serde::{Deserialize, Serialize};

/// What a stage is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum StageKind {
    /// Thẩm định: approve, return or reject.
    Review,
    /// Ký: approval by the competent signer (the signing module plugs in here).
    Sign,
    /// Phát hành: the clerk numbers, stamps and seals.
    Issue,
    /// Để biết: read only, never blocks the route.
    Inform,
}

/// How many approvals a stage needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Policy {
    /// Every assignee.
    All,
    /// Any one assignee.
    Any,
    /// At least N assignees.
    Quorum(u32),
}

/// State of a whole route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum RouteStatus {
    /// Moving through its stages.
    Active,
    /// Every stage done.
    Completed,
    /// Sent back to the drafter for revision (a new route starts after it).
    Returned,
    /// Refused; ends the route.
    Rejected,
    /// Taken back by the drafter.
    Recalled,
}

impl RouteStatus {
    /// Whether the route still accepts actions.
    pub fn is_finished(self) -> bool {
        self != RouteStatus::Active
    }
}

/// State of a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum StageStatus {
    /// Not reached yet (or reset by a return to an earlier stage).
    Waiting,
    /// Holding the route now.
    Active,
    /// Policy met.
    Done,
    /// Closed without completing (the route ended while it was active).
    Closed,
}

/// State of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum TaskStatus {
    /// Waiting for its holder.
    Pending,
    /// Approved (signed, issued, for the stage's kind).
    Approved,
    /// Sent back.
    Returned,
    /// Refused.
    Rejected,
    /// Handed to someone else, who holds a new task.
    Delegated,
    /// An opinion was asked and given.
    Answered,
    /// For information; needs nothing.
    Informed,
    /// No longer needed (the stage completed or the route ended).
    Cancelled,
    /// Incoming work reported done by its lead or cooperating unit (never set by the route
    /// engine, which handles approval routes only).
    Completed,
}

/// What a task is in its stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub enum TaskRole {
    /// Counts towards the stage's policy.
    Approver,
    /// Asked for an opinion; does not count.
    Opinion,
    /// For information.
    Inform,
}

/// Where a return sends the route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnTarget {
    /// To the drafter: the route ends as `returned`.
    Drafter,
    /// To an earlier stage (index), which starts a new round.
    Stage(usize),
}

/// One thing someone does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Approve (sign, issue) the task.
    Approve { task: String },
    /// Send back; comment required.
    Return {
        task: String,
        to: ReturnTarget,
        comment: String,
    },
    /// Refuse; ends the route. Comment required.
    Reject { task: String, comment: String },
    /// A remark; answers an opinion task.
    Comment { task: String, comment: String },
    /// Hand the task to another user (a subordinate; the service checks who may).
    Delegate { task: String, to: String },
    /// Ask another user's opinion; the stage does not wait for it.
    RequestOpinion { task: String, from: String },
    /// The drafter takes the route back before the active stage has decided anything.
    Recall { by: String },
    /// Add a review stage with one reviewer right after the task's stage.
    InsertReviewer { task: String, reviewer: String },
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the route is finished and accepts no action")]
    Finished,
    #[error("no such task on this route")]
    UnknownTask,
    #[error("the task is not open (it is {0:?})")]
    TaskClosed(TaskStatus),
    #[error("the task's stage is not the active one")]
    NotCurrentStage,
    #[error("this task cannot take that action: {0}")]
    NotAllowed(&'static str),
    #[error("a comment is required")]
    CommentRequired,
    #[error("a return can only go to an earlier stage")]
    BadReturnTarget,
    #[error("only the drafter can recall, before the active stage has decided")]
    RecallRefused,
    #[error("the route is not valid: {0}")]
    Invalid(String),
}

/// What happened, for audit rows and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A task was opened for a user.
    TaskAssigned {
        task: String,
        assignee: String,
    },
    /// A stage's policy was met.
    StageCompleted {
        stage: usize,
    },
    /// The route was sent back.
    Returned {
        to: ReturnTarget,
    },
    Rejected,
    Recalled,
    /// Every stage done.
    Completed,
    Commented,
}
