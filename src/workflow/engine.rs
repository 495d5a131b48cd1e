//! The route engine: a pure state machine (no I/O, no clock, no ids of its own). The service
//! loads a [`Route`] from the database, applies one [`Action`], writes back what changed and
//! turns the returned [`Event`]s into audit rows and notifications.
//!
//! A route is an ordered list of stages; exactly one stage is active while the route is.
//! Each stage holds the tasks of its current round; a stage completes when its policy is met
//! (all, any one, or a quorum of N approvals), and the next stage is activated. `inform`
//! stages never block: their tasks are created as `informed` and the route moves on.

mod terms;
pub use terms::{
    Action, EngineError, Event, Policy, ReturnTarget, RouteStatus, StageKind, StageStatus,
    TaskRole, TaskStatus,
};

/// One task in the current round of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Id given by the caller's id source.
    pub id: String,
    /// The user holding it.
    pub assignee: String,
    pub role: TaskRole,
    pub status: TaskStatus,
}

/// One stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Id given by the caller (or by the id source when empty).
    pub id: String,
    pub kind: StageKind,
    pub policy: Policy,
    /// Users a new round gives a task to.
    pub assignees: Vec<String>,
    pub status: StageStatus,
    /// 1 for the first activation, +1 for each return to it.
    pub round: u32,
    /// Tasks of the current round.
    pub tasks: Vec<Task>,
}

impl Stage {
    /// A stage not reached yet.
    pub fn new(kind: StageKind, policy: Policy, assignees: Vec<String>) -> Stage {
        Stage {
            id: String::new(),
            kind,
            policy,
            assignees,
            status: StageStatus::Waiting,
            round: 0,
            tasks: Vec::new(),
        }
    }

    /// Approvals still needed to complete the stage, counted on the current round.
    pub fn needed(&self) -> usize {
        let counting = self
            .tasks
            .iter()
            .filter(|t| {
                t.role == TaskRole::Approver
                    && !matches!(t.status, TaskStatus::Delegated | TaskStatus::Cancelled)
            })
            .count();
        match self.policy {
            Policy::All => counting,
            Policy::Any => 1,
            Policy::Quorum(n) => n as usize,
        }
    }

    /// Approvals given in the current round.
    pub fn approvals(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.role == TaskRole::Approver && t.status == TaskStatus::Approved)
            .count()
    }

    fn pending_approvers(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| t.role == TaskRole::Approver && t.status == TaskStatus::Pending)
            .count()
    }
}

/// A route: its stages, where it is, who drafted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub drafter: String,
    pub status: RouteStatus,
    /// Index of the active stage (meaningful while active).
    pub current: usize,
    pub stages: Vec<Stage>,
}

/// Checks a route's shape before it starts.
pub fn validate(stages: &[Stage]) -> Result<(), EngineError> {
    if stages.is_empty() {
        return Err(EngineError::Invalid(
            "a route needs at least one stage".into(),
        ));
    }
    if stages.len() > 50 {
        return Err(EngineError::Invalid("a route has at most 50 stages".into()));
    }
    for (i, s) in stages.iter().enumerate() {
        if s.assignees.is_empty() {
            return Err(EngineError::Invalid(format!(
                "stage {} has no assignee",
                i + 1
            )));
        }
        let mut seen = std::collections::HashSet::new();
        if !s.assignees.iter().all(|a| seen.insert(a)) {
            return Err(EngineError::Invalid(format!(
                "stage {} names an assignee twice",
                i + 1
            )));
        }
        if let Policy::Quorum(n) = s.policy {
            if n == 0 || n as usize > s.assignees.len() {
                return Err(EngineError::Invalid(format!(
                    "stage {}: a quorum must be between 1 and its {} assignees",
                    i + 1,
                    s.assignees.len()
                )));
            }
        }
    }
    if stages.iter().all(|s| s.kind == StageKind::Inform) {
        return Err(EngineError::Invalid(
            "a route needs at least one stage that is not for information".into(),
        ));
    }
    Ok(())
}

/// The task an action is on: its stage, its place in the stage, and the task as it was.
struct At<'a> {
    si: usize,
    ti: usize,
    task: &'a Task,
}

impl Route {
    /// Starts a route: activates the first stage.
    pub fn start(
        drafter: String,
        stages: Vec<Stage>,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<(Route, Vec<Event>), EngineError> {
        validate(&stages)?;
        let mut stages = stages;
        for s in stages.iter_mut().filter(|s| s.id.is_empty()) {
            s.id = ids();
        }
        let mut route = Route {
            drafter,
            status: RouteStatus::Active,
            current: 0,
            stages,
        };
        let mut events = Vec::new();
        route.activate(0, ids, &mut events);
        Ok((route, events))
    }

    /// The stage and index of a task of the current rounds.
    pub fn find_task(&self, id: &str) -> Option<(usize, usize)> {
        self.stages
            .iter()
            .enumerate()
            .find_map(|(si, s)| s.tasks.iter().position(|t| t.id == id).map(|ti| (si, ti)))
    }

    /// Applies one action.
    pub fn apply(
        &mut self,
        action: Action,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<Vec<Event>, EngineError> {
        if self.status.is_finished() {
            return Err(EngineError::Finished);
        }
        let task_id = match &action {
            Action::Recall { by } => return self.recall(by),
            Action::Approve { task }
            | Action::Return { task, .. }
            | Action::Reject { task, .. }
            | Action::Comment { task, .. }
            | Action::Delegate { task, .. }
            | Action::RequestOpinion { task, .. }
            | Action::InsertReviewer { task, .. } => task.clone(),
        };
        let (si, ti) = self.find_task(&task_id).ok_or(EngineError::UnknownTask)?;
        if si != self.current {
            return Err(EngineError::NotCurrentStage);
        }
        let task = self.stages[si].tasks[ti].clone();
        if task.status != TaskStatus::Pending {
            return Err(EngineError::TaskClosed(task.status));
        }
        if task.role == TaskRole::Opinion && !matches!(action, Action::Comment { .. }) {
            return Err(EngineError::NotAllowed(
                "an opinion is given with a comment",
            ));
        }
        let mut events = Vec::new();
        let at = At {
            si,
            ti,
            task: &task,
        };
        match action {
            Action::Approve { .. } => {
                self.stages[si].tasks[ti].status = TaskStatus::Approved;
                if self.stages[si].approvals() >= self.stages[si].needed() {
                    self.complete_current(ids, &mut events);
                }
            }
            Action::Return { to, comment, .. } => {
                self.send_back(&at, to, &comment, ids, &mut events)?
            }
            Action::Reject { comment, .. } => self.reject(&at, &comment, &mut events)?,
            Action::Comment { comment, .. } => {
                if comment.trim().is_empty() {
                    return Err(EngineError::CommentRequired);
                }
                if task.role == TaskRole::Opinion {
                    self.stages[si].tasks[ti].status = TaskStatus::Answered;
                }
                events.push(Event::Commented);
            }
            Action::Delegate { to, .. } => {
                if to == task.assignee || self.holds_open_task(si, &to) {
                    return Err(EngineError::NotAllowed(
                        "the delegate already holds a task in this stage",
                    ));
                }
                self.stages[si].tasks[ti].status = TaskStatus::Delegated;
                events.push(self.add_task(si, to, TaskRole::Approver, ids));
            }
            Action::RequestOpinion { from, .. } => {
                if from == task.assignee || self.holds_open_task(si, &from) {
                    return Err(EngineError::NotAllowed(
                        "that user already holds a task in this stage",
                    ));
                }
                events.push(self.add_task(si, from, TaskRole::Opinion, ids));
            }
            Action::InsertReviewer { reviewer, .. } => self.insert_reviewer(&at, reviewer, ids)?,
            Action::Recall { .. } => return Err(EngineError::RecallRefused),
        }
        Ok(events)
    }

    /// The drafter takes the route back while no approver of the active stage has decided.
    fn recall(&mut self, by: &str) -> Result<Vec<Event>, EngineError> {
        let stage = &self.stages[self.current];
        let decided = stage.tasks.iter().any(|t| {
            t.role == TaskRole::Approver
                && !matches!(t.status, TaskStatus::Pending | TaskStatus::Delegated)
        });
        if by != self.drafter || decided {
            return Err(EngineError::RecallRefused);
        }
        self.finish(RouteStatus::Recalled);
        Ok(vec![Event::Recalled])
    }

    /// Returns to the drafter (the route ends) or to an earlier stage (a new round from it).
    fn send_back(
        &mut self,
        at: &At,
        to: ReturnTarget,
        comment: &str,
        ids: &mut dyn FnMut() -> String,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        let (si, ti) = (at.si, at.ti);
        if comment.trim().is_empty() {
            return Err(EngineError::CommentRequired);
        }
        // The clerk may send a paper back to the drafter, not replay approvals.
        if self.stages[si].kind == StageKind::Issue && to != ReturnTarget::Drafter {
            return Err(EngineError::BadReturnTarget);
        }
        match to {
            ReturnTarget::Drafter => {
                self.stages[si].tasks[ti].status = TaskStatus::Returned;
                self.finish(RouteStatus::Returned);
            }
            ReturnTarget::Stage(target) => {
                if target >= si || self.stages[target].kind == StageKind::Inform {
                    return Err(EngineError::BadReturnTarget);
                }
                self.stages[si].tasks[ti].status = TaskStatus::Returned;
                close_pending(&mut self.stages[si].tasks);
                for s in &mut self.stages[target..=si] {
                    s.status = StageStatus::Waiting;
                }
                // Stages in between keep their finished tasks as history; the new
                // round starts from the target.
                self.activate(target, ids, events);
            }
        }
        events.insert(0, Event::Returned { to });
        Ok(())
    }

    fn reject(
        &mut self,
        at: &At,
        comment: &str,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        if comment.trim().is_empty() {
            return Err(EngineError::CommentRequired);
        }
        if self.stages[at.si].kind == StageKind::Issue {
            return Err(EngineError::NotAllowed(
                "the issuing clerk returns a paper, they do not reject it",
            ));
        }
        self.stages[at.si].tasks[at.ti].status = TaskStatus::Rejected;
        self.finish(RouteStatus::Rejected);
        events.push(Event::Rejected);
        Ok(())
    }

    /// A new pending task in stage `si` (a delegate's or an opinion's).
    fn add_task(
        &mut self,
        si: usize,
        assignee: String,
        role: TaskRole,
        ids: &mut dyn FnMut() -> String,
    ) -> Event {
        let id = ids();
        self.stages[si].tasks.push(Task {
            id: id.clone(),
            assignee: assignee.clone(),
            role,
            status: TaskStatus::Pending,
        });
        Event::TaskAssigned { task: id, assignee }
    }

    /// A review stage for `reviewer` right after the current one.
    fn insert_reviewer(
        &mut self,
        at: &At,
        reviewer: String,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<(), EngineError> {
        if !matches!(self.stages[at.si].kind, StageKind::Review | StageKind::Sign) {
            return Err(EngineError::NotAllowed(
                "reviewers are inserted from review and sign stages",
            ));
        }
        if self.stages.len() >= 50 {
            return Err(EngineError::Invalid("a route has at most 50 stages".into()));
        }
        if reviewer == at.task.assignee {
            return Err(EngineError::NotAllowed("you cannot insert yourself"));
        }
        let mut stage = Stage::new(StageKind::Review, Policy::All, vec![reviewer]);
        stage.id = ids();
        self.stages.insert(at.si + 1, stage);
        Ok(())
    }

    fn holds_open_task(&self, si: usize, user: &str) -> bool {
        self.stages[si]
            .tasks
            .iter()
            .any(|t| t.assignee == user && t.status == TaskStatus::Pending)
    }

    /// Opens a new round of stage `i` (skipping through inform stages).
    fn activate(&mut self, i: usize, ids: &mut dyn FnMut() -> String, events: &mut Vec<Event>) {
        self.current = i;
        let stage = &mut self.stages[i];
        stage.round += 1;
        stage.status = StageStatus::Active;
        let inform = stage.kind == StageKind::Inform;
        stage.tasks = stage
            .assignees
            .iter()
            .map(|a| Task {
                id: ids(),
                assignee: a.clone(),
                role: if inform {
                    TaskRole::Inform
                } else {
                    TaskRole::Approver
                },
                status: if inform {
                    TaskStatus::Informed
                } else {
                    TaskStatus::Pending
                },
            })
            .collect();
        for t in &stage.tasks {
            events.push(Event::TaskAssigned {
                task: t.id.clone(),
                assignee: t.assignee.clone(),
            });
        }
        if inform {
            self.complete_current(ids, events);
        }
    }

    /// Marks the active stage done and moves on (or completes the route).
    fn complete_current(&mut self, ids: &mut dyn FnMut() -> String, events: &mut Vec<Event>) {
        let i = self.current;
        self.stages[i].status = StageStatus::Done;
        close_pending(&mut self.stages[i].tasks);
        events.push(Event::StageCompleted { stage: i });
        if i + 1 < self.stages.len() {
            self.activate(i + 1, ids, events);
        } else {
            self.status = RouteStatus::Completed;
            events.push(Event::Completed);
        }
    }

    fn finish(&mut self, status: RouteStatus) {
        self.status = status;
        let i = self.current;
        self.stages[i].status = StageStatus::Closed;
        close_pending(&mut self.stages[i].tasks);
    }

    /// Checks the invariants; the property tests call it after every step.
    pub fn check(&self) -> Result<(), String> {
        if self.stages.is_empty() {
            return Err("no stages".into());
        }
        if self.current >= self.stages.len() {
            return Err("current stage out of range".into());
        }
        let pending = |s: &Stage| s.tasks.iter().any(|t| t.status == TaskStatus::Pending);
        match self.status {
            RouteStatus::Active => {
                for (i, s) in self.stages.iter().enumerate() {
                    let want = if i == self.current {
                        StageStatus::Active
                    } else if i < self.current {
                        StageStatus::Done
                    } else {
                        StageStatus::Waiting
                    };
                    // A stage before the current one may be Waiting only if it was never
                    // reached again after a return… which cannot happen: returns reset
                    // from the target up to the current stage and reactivate the target.
                    if s.status != want {
                        return Err(format!("stage {i} is {:?}, expected {want:?}", s.status));
                    }
                    if i != self.current && pending(s) {
                        return Err(format!("stage {i} is not active but has open tasks"));
                    }
                }
                let cur = &self.stages[self.current];
                if cur.kind == StageKind::Inform {
                    return Err("an inform stage holds the route".into());
                }
                if cur.approvals() >= cur.needed() {
                    return Err("the active stage's policy is met but it did not complete".into());
                }
                if cur.approvals() + cur.pending_approvers() < cur.needed() {
                    return Err("the active stage can no longer complete".into());
                }
            }
            RouteStatus::Completed => {
                for (i, s) in self.stages.iter().enumerate() {
                    if s.status != StageStatus::Done {
                        return Err(format!("completed route with stage {i} {:?}", s.status));
                    }
                    if s.kind != StageKind::Inform && s.approvals() < s.needed() {
                        return Err(format!("stage {i} done without its approvals"));
                    }
                }
            }
            RouteStatus::Returned | RouteStatus::Rejected | RouteStatus::Recalled => {
                if self.stages[self.current].status != StageStatus::Closed {
                    return Err("ended route without its stage closed".into());
                }
            }
        }
        if self.status.is_finished() && self.stages.iter().any(pending) {
            return Err("finished route with open tasks".into());
        }
        for s in &self.stages {
            if s.status == StageStatus::Done
                && s.kind != StageKind::Inform
                && s.approvals() < s.needed()
            {
                return Err("a done stage lacks approvals".into());
            }
            let mut open = std::collections::HashSet::new();
            for t in s.tasks.iter().filter(|t| t.status == TaskStatus::Pending) {
                if !open.insert(&t.assignee) {
                    return Err("a user holds two open tasks in one stage".into());
                }
            }
        }
        Ok(())
    }
}

fn close_pending(tasks: &mut [Task]) {
    for t in tasks.iter_mut().filter(|t| t.status == TaskStatus::Pending) {
        t.status = TaskStatus::Cancelled;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("t{n}")
        }
    }

    fn users(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn task_of(r: &Route, user: &str) -> String {
        r.stages[r.current]
            .tasks
            .iter()
            .find(|t| t.assignee == user && t.status == TaskStatus::Pending)
            .map(|t| t.id.clone())
            .expect("open task")
    }

    fn chain() -> Vec<Stage> {
        vec![
            Stage::new(StageKind::Review, Policy::All, users(&["head"])),
            Stage::new(StageKind::Review, Policy::All, users(&["legal", "finance"])),
            Stage::new(StageKind::Sign, Policy::Any, users(&["director"])),
            Stage::new(StageKind::Issue, Policy::Any, users(&["clerk1", "clerk2"])),
        ]
    }

    #[test]
    fn draft_climbs_the_chain() {
        let mut ids = counter();
        let (mut r, _) = Route::start("drafter".into(), chain(), &mut ids).unwrap();
        for (user, stage_after) in [("head", 1), ("legal", 1), ("finance", 2), ("director", 3)] {
            let t = task_of(&r, user);
            r.apply(Action::Approve { task: t }, &mut ids).unwrap();
            r.check().unwrap();
            assert_eq!(r.current, stage_after, "after {user}");
        }
        let t = task_of(&r, "clerk2");
        let ev = r.apply(Action::Approve { task: t }, &mut ids).unwrap();
        assert!(ev.contains(&Event::Completed));
        assert_eq!(r.status, RouteStatus::Completed);
        assert!(r.stages[3]
            .tasks
            .iter()
            .any(|t| t.assignee == "clerk1" && t.status == TaskStatus::Cancelled));
        r.check().unwrap();
        let any = r.stages[3].tasks[0].id.clone();
        assert_eq!(
            r.apply(Action::Approve { task: any }, &mut ids),
            Err(EngineError::Finished)
        );
    }

    #[test]
    fn return_to_an_earlier_stage_starts_a_new_round() {
        let mut ids = counter();
        let (mut r, _) = Route::start("drafter".into(), chain(), &mut ids).unwrap();
        let t = task_of(&r, "head");
        r.apply(Action::Approve { task: t }, &mut ids).unwrap();
        let t = task_of(&r, "legal");
        assert_eq!(
            r.apply(
                Action::Return {
                    task: t.clone(),
                    to: ReturnTarget::Stage(0),
                    comment: " ".into()
                },
                &mut ids
            ),
            Err(EngineError::CommentRequired)
        );
        r.apply(
            Action::Return {
                task: t,
                to: ReturnTarget::Stage(0),
                comment: "sửa điều 2".into(),
            },
            &mut ids,
        )
        .unwrap();
        r.check().unwrap();
        assert_eq!(r.current, 0);
        assert_eq!(r.stages[0].round, 2);
        assert_eq!(r.stages[1].status, StageStatus::Waiting);
    }

    #[test]
    fn quorum_counts_exactly() {
        let mut ids = counter();
        let stages = vec![
            Stage::new(
                StageKind::Review,
                Policy::Quorum(2),
                users(&["a", "b", "c"]),
            ),
            Stage::new(StageKind::Sign, Policy::Any, users(&["d"])),
        ];
        let (mut r, _) = Route::start("x".into(), stages, &mut ids).unwrap();
        let t = task_of(&r, "a");
        r.apply(Action::Approve { task: t }, &mut ids).unwrap();
        assert_eq!(r.current, 0, "one of two");
        let t = task_of(&r, "c");
        r.apply(Action::Approve { task: t }, &mut ids).unwrap();
        assert_eq!(r.current, 1, "two of two");
        assert_eq!(r.stages[0].tasks[1].status, TaskStatus::Cancelled);
    }

    #[test]
    fn recall_only_by_the_drafter_before_a_decision() {
        let mut ids = counter();
        let stages = vec![Stage::new(
            StageKind::Review,
            Policy::All,
            users(&["a", "b"]),
        )];
        let (mut r, _) = Route::start("x".into(), stages.clone(), &mut ids).unwrap();
        assert_eq!(
            r.apply(Action::Recall { by: "a".into() }, &mut ids),
            Err(EngineError::RecallRefused)
        );
        let t = task_of(&r, "a");
        r.apply(Action::Approve { task: t }, &mut ids).unwrap();
        assert_eq!(
            r.apply(Action::Recall { by: "x".into() }, &mut ids),
            Err(EngineError::RecallRefused)
        );
        let (mut r, _) = Route::start("x".into(), stages, &mut ids).unwrap();
        r.apply(Action::Recall { by: "x".into() }, &mut ids)
            .unwrap();
        assert_eq!(r.status, RouteStatus::Recalled);
        r.check().unwrap();
    }

    #[test]
    fn delegate_opinion_insert() {
        let mut ids = counter();
        let (mut r, _) = Route::start("x".into(), chain(), &mut ids).unwrap();
        let t = task_of(&r, "head");
        r.apply(
            Action::InsertReviewer {
                task: t.clone(),
                reviewer: "extra".into(),
            },
            &mut ids,
        )
        .unwrap();
        r.apply(
            Action::RequestOpinion {
                task: t.clone(),
                from: "expert".into(),
            },
            &mut ids,
        )
        .unwrap();
        let op = task_of(&r, "expert");
        assert!(matches!(
            r.apply(Action::Approve { task: op.clone() }, &mut ids),
            Err(EngineError::NotAllowed(_))
        ));
        r.apply(
            Action::Delegate {
                task: t,
                to: "deputy".into(),
            },
            &mut ids,
        )
        .unwrap();
        let d = task_of(&r, "deputy");
        r.apply(Action::Approve { task: d }, &mut ids).unwrap();
        r.check().unwrap();
        assert_eq!(r.current, 1);
        assert_eq!(r.stages[1].assignees, users(&["extra"]));
        assert_eq!(
            r.stages[0]
                .tasks
                .iter()
                .find(|t| t.id == op)
                .map(|t| t.status),
            Some(TaskStatus::Cancelled)
        );
    }

    #[test]
    fn shapes_are_checked() {
        let mut ids = counter();
        assert!(Route::start("x".into(), vec![], &mut ids).is_err());
        let bad = vec![Stage::new(
            StageKind::Review,
            Policy::Quorum(3),
            users(&["a", "b"]),
        )];
        assert!(Route::start("x".into(), bad, &mut ids).is_err());
        let dup = vec![Stage::new(
            StageKind::Review,
            Policy::All,
            users(&["a", "a"]),
        )];
        assert!(Route::start("x".into(), dup, &mut ids).is_err());
        let info = vec![Stage::new(StageKind::Inform, Policy::All, users(&["a"]))];
        assert!(Route::start("x".into(), info, &mut ids).is_err());
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    const USERS: &[&str] = &["drafter", "u1", "u2", "u3", "u4", "u5"];

    /// One random step: which action, on which open task (by position), with which user.
    #[derive(Debug, Clone)]
    struct Step {
        kind: u8,
        task: usize,
        user: usize,
        target: usize,
        comment: bool,
    }

    fn step() -> impl Strategy<Value = Step> {
        (
            0u8..8,
            0usize..8,
            0usize..USERS.len(),
            0usize..6,
            any::<bool>(),
        )
            .prop_map(|(kind, task, user, target, comment)| Step {
                kind,
                task,
                user,
                target,
                comment,
            })
    }

    fn stage() -> impl Strategy<Value = Stage> {
        (
            0u8..4,
            0u8..3,
            proptest::sample::subsequence(&USERS[1..], 1..=4),
            1u32..5,
        )
            .prop_map(|(kind, policy, who, q)| {
                let kind = match kind {
                    0 => StageKind::Review,
                    1 => StageKind::Sign,
                    2 => StageKind::Issue,
                    _ => StageKind::Inform,
                };
                let n = who.len() as u32;
                let policy = match policy {
                    0 => Policy::All,
                    1 => Policy::Any,
                    _ => Policy::Quorum(q.min(n)),
                };
                Stage::new(kind, policy, who.iter().map(|s| s.to_string()).collect())
            })
    }

    fn action_for(r: &Route, s: &Step) -> Action {
        let all: Vec<&Task> = r.stages.iter().flat_map(|st| st.tasks.iter()).collect();
        let task = all
            .get(s.task % all.len().max(1))
            .map(|t| t.id.clone())
            .unwrap_or_default();
        let comment = if s.comment {
            "lý do".to_string()
        } else {
            String::new()
        };
        let user = USERS[s.user].to_string();
        match s.kind {
            0 | 1 => Action::Approve { task },
            2 => Action::Return {
                task,
                to: if s.target == 0 {
                    ReturnTarget::Drafter
                } else {
                    ReturnTarget::Stage(s.target - 1)
                },
                comment,
            },
            3 => Action::Reject { task, comment },
            4 => Action::Comment { task, comment },
            5 => Action::Delegate { task, to: user },
            6 => Action::RequestOpinion { task, from: user },
            _ if s.comment => Action::InsertReviewer {
                task,
                reviewer: user,
            },
            _ => Action::Recall { by: user },
        }
    }

    proptest! {
        // No regression files: the top level of the repository stays as it is.
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// No sequence of actions reaches an invalid state; a refused action changes nothing;
        /// a finished route refuses everything; a stage completes exactly at its quorum.
        #[test]
        fn random_actions_keep_the_route_valid(
            stages in proptest::collection::vec(stage(), 1..6),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let mut n = 0u32;
            let mut ids = move || { n += 1; format!("t{n}") };
            let Ok((mut r, _)) = Route::start("drafter".into(), stages, &mut ids) else {
                return Ok(());
            };
            prop_assert!(r.check().is_ok(), "{:?}", r.check());
            for s in &steps {
                let before = r.clone();
                let action = action_for(&r, s);
                let stage_before = r.current;
                let approvals_before = r.stages[r.current].approvals();
                let needed_before = r.stages[r.current].needed();
                match r.apply(action.clone(), &mut ids) {
                    Ok(events) => {
                        prop_assert!(!before.status.is_finished(), "finished route took {action:?}");
                        if let Action::Approve { .. } = action {
                            let completed = events.contains(&Event::StageCompleted { stage: stage_before });
                            prop_assert_eq!(completed, approvals_before + 1 >= needed_before,
                                "quorum: {} of {} before", approvals_before, needed_before);
                        }
                    }
                    Err(_) => prop_assert_eq!(&r, &before, "a refused action changed the route"),
                }
                prop_assert!(r.check().is_ok(), "after {action:?}: {:?}\n{r:#?}", r.check());
            }
        }
    }
}
