//! Persisting the engine: a stored route loaded into the pure engine's shape, and the engine's
//! result written back as the difference (new stages and tasks, changed statuses, the route's
//! version bumped under the optimistic check).

use super::super::calendar::{self, Calendar};
use super::super::engine::{self, Event, Policy, TaskRole, TaskStatus};
use super::super::model::*;
use super::super::notices::Notice;
use super::super::queries::{self, TaskAct};
use super::support::corrupt;
use crate::accounts::model::UserRow;
use crate::db::DbConn;
use crate::documents::model::DocumentRow;
use crate::error::{ApiError, ErrorCode};
use chrono::NaiveDateTime;
use std::collections::HashMap;

/// A route as stored, with its stages and every task.
pub(super) struct Loaded {
    pub(super) row: RouteRow,
    pub(super) stages: Vec<StageRow>,
    pub(super) tasks: Vec<TaskRow>,
}

pub(super) fn load(conn: &mut DbConn, row: RouteRow) -> Result<Loaded, ApiError> {
    let stages = queries::stages(conn, &row.id)?;
    let tasks = queries::route_tasks(conn, &row.id)?;
    Ok(Loaded { row, stages, tasks })
}

pub(super) fn to_engine(l: &Loaded) -> Result<engine::Route, ApiError> {
    let mut stages = Vec::with_capacity(l.stages.len());
    for s in &l.stages {
        let policy = match s.policy {
            PolicyName::All => Policy::All,
            PolicyName::Any => Policy::Any,
            PolicyName::Quorum => Policy::Quorum(s.quorum.unwrap_or(1).max(1) as u32),
        };
        let assignees: Vec<String> =
            serde_json::from_str(&s.assignees).map_err(|_| corrupt("assignees"))?;
        let mut tasks = Vec::new();
        for t in l
            .tasks
            .iter()
            .filter(|t| t.stage_id.as_deref() == Some(s.id.as_str()) && t.round == s.round)
        {
            tasks.push(engine::Task {
                id: t.id.clone(),
                assignee: t.assignee_id.clone(),
                role: t.role.route_role().ok_or_else(|| corrupt("task role"))?,
                status: t.status,
            });
        }
        stages.push(engine::Stage {
            id: s.id.clone(),
            kind: s.kind,
            policy,
            assignees,
            status: s.status,
            round: s.round.max(0) as u32,
            tasks,
        });
    }
    Ok(engine::Route {
        drafter: l.row.drafter_id.clone(),
        status: l.row.status,
        current: l.row.current_stage.max(0) as usize,
        stages,
    })
}

/// How new rows are filled in while writing an engine step.
pub(super) struct Write<'a> {
    pub(super) doc: &'a DocumentRow,
    pub(super) cal: &'a Calendar,
    pub(super) now: NaiveDateTime,
    /// The task acted on, who acted, in which capacity, the comment, and (for a delegation)
    /// the task that new tasks come from.
    pub(super) acting: Option<Acting<'a>>,
    /// What the route's spec said of stages created in this step, by stage id.
    pub(super) new_stages: &'a HashMap<String, NewStage>,
}

/// What a route's spec says of a stage beyond what the engine knows.
#[derive(Debug, Clone, Default)]
pub(super) struct NewStage {
    /// Working days; none: by the document's urgency.
    pub(super) deadline_days: Option<u32>,
    /// How a `sign` / `issue` stage signs.
    pub(super) signing: StageSigning,
}

pub(super) struct Acting<'a> {
    pub(super) task: &'a TaskRow,
    pub(super) user: &'a str,
    pub(super) capacity: Option<Capacity>,
    pub(super) comment: Option<&'a str>,
    pub(super) delegation: bool,
}

/// A route as an engine step left it: what [`load`] would read back, and the people of its
/// tasks (assignees and acting users) as [`super::view::people_of`] would read them.
pub(super) struct Written {
    pub(super) route: Loaded,
    pub(super) people: HashMap<String, UserRow>,
}

impl Write<'_> {
    /// Writes what changed between the stored route and the engine's route; answers the route
    /// as it now stands, as [`load`] would read it back (stages by position, tasks oldest
    /// first), with the people of its tasks, so the caller need not read either again.
    pub(super) fn diff(
        &self,
        conn: &mut DbConn,
        before: &Loaded,
        after: &engine::Route,
    ) -> Result<Written, ApiError> {
        let old_stages: HashMap<&str, &StageRow> =
            before.stages.iter().map(|s| (s.id.as_str(), s)).collect();
        let old_tasks: HashMap<&str, &TaskRow> =
            before.tasks.iter().map(|t| (t.id.as_str(), t)).collect();
        // Everyone the route's tasks name once written, in one read: the new tasks' assignees
        // (for their units), the stored tasks' people and whoever acts now (for the answer).
        let mut ids: Vec<String> = after
            .stages
            .iter()
            .flat_map(|st| st.tasks.iter())
            .map(|t| t.assignee.clone())
            .chain(before.tasks.iter().flat_map(|t| {
                std::iter::once(t.assignee_id.clone()).chain(t.acting_user_id.clone())
            }))
            .chain(self.acting.as_ref().map(|a| a.user.to_string()))
            .collect();
        ids.sort();
        ids.dedup();
        let people = crate::accounts::queries::users_by_id(conn, &ids)?;
        let mut stages = Vec::with_capacity(after.stages.len());
        let mut tasks = before.tasks.clone();
        for (pos, st) in after.stages.iter().enumerate() {
            let old = old_stages.get(st.id.as_str()).copied();
            let (days, row) = self.write_stage(conn, before, pos as i32, st, old)?;
            stages.push(row);
            for t in &st.tasks {
                match old_tasks.get(t.id.as_str()) {
                    Some(old) if old.status != t.status => {
                        let row = self.update_task(conn, old, t)?;
                        if let Some(slot) = tasks.iter_mut().find(|x| x.id == row.id) {
                            *slot = row;
                        }
                    }
                    Some(_) => {}
                    None => tasks.push(self.insert_task(conn, before, st, t, days, &people)?),
                }
            }
        }
        // A stage the engine no longer lists (none does today) stays as it was stored.
        let listed: std::collections::HashSet<&str> =
            after.stages.iter().map(|s| s.id.as_str()).collect();
        stages.extend(
            before
                .stages
                .iter()
                .filter(|s| !listed.contains(s.id.as_str()))
                .cloned(),
        );
        let row = if before.stages.is_empty() {
            before.row.clone()
        } else {
            self.bump_route(conn, before, after)?
        };
        stages.sort_by_key(|s| s.position);
        tasks.sort_by(|a, b| (a.assigned_at, &a.id).cmp(&(b.assigned_at, &b.id)));
        Ok(Written {
            route: Loaded { row, stages, tasks },
            people,
        })
    }

    /// Inserts a new stage or updates a moved one; answers the stage's working days and its row
    /// as now stored.
    fn write_stage(
        &self,
        conn: &mut DbConn,
        before: &Loaded,
        pos: i32,
        st: &engine::Stage,
        old: Option<&StageRow>,
    ) -> Result<(Option<u32>, StageRow), ApiError> {
        if let Some(old) = old {
            let mut row = old.clone();
            if old.position != pos || old.status != st.status || old.round != st.round as i32 {
                queries::update_stage(conn, &st.id, pos, st.status, st.round as i32)?;
                row.position = pos;
                row.status = st.status;
                row.round = st.round as i32;
            }
            return Ok((old.deadline_days.map(|d| d.max(0) as u32), row));
        }
        let (policy, quorum) = match st.policy {
            Policy::All => (PolicyName::All, None),
            Policy::Any => (PolicyName::Any, None),
            Policy::Quorum(n) => (PolicyName::Quorum, Some(n as i32)),
        };
        let spec = self.new_stages.get(&st.id).cloned().unwrap_or_default();
        let days = spec.deadline_days;
        let row = StageRow {
            id: st.id.clone(),
            route_id: before.row.id.clone(),
            position: pos,
            kind: st.kind,
            policy,
            quorum,
            assignees: serde_json::to_string(&st.assignees).map_err(ApiError::internal)?,
            status: st.status,
            round: st.round as i32,
            deadline_days: days.map(|d| d as i32),
            signing: serde_json::to_string(&spec.signing).map_err(ApiError::internal)?,
        };
        queries::insert_stage(conn, &row)?;
        Ok((days, row))
    }

    /// A task whose status the step changed: the acted-on one records who, how and when.
    /// Answers the row as now stored.
    fn update_task(
        &self,
        conn: &mut DbConn,
        old: &TaskRow,
        t: &engine::Task,
    ) -> Result<TaskRow, ApiError> {
        let mut row = old.clone();
        row.status = t.status;
        match self.acting.as_ref().filter(|a| a.task.id == t.id) {
            Some(a) => {
                let acting_user = (a.user != old.assignee_id).then(|| a.user.to_string());
                let act = TaskAct {
                    status: t.status,
                    at: self.now,
                    acting_user,
                    capacity: a.capacity,
                    result: a.comment.map(str::to_string),
                };
                queries::record_task_act(conn, &t.id, &act)?;
                row.acted_at = Some(act.at);
                row.acting_user_id = act.acting_user;
                row.capacity = act.capacity;
                row.result = act.result;
            }
            None => queries::set_task_status(conn, &t.id, t.status)?,
        }
        Ok(row)
    }

    /// A task the step created, with its deadline and unit.
    fn insert_task(
        &self,
        conn: &mut DbConn,
        before: &Loaded,
        st: &engine::Stage,
        t: &engine::Task,
        days: Option<u32>,
        people: &HashMap<String, UserRow>,
    ) -> Result<TaskRow, ApiError> {
        let delegated = self.acting.as_ref().filter(|a| a.delegation);
        let deadline = match delegated {
            Some(a) => a.task.deadline,
            None if t.status == TaskStatus::Pending => {
                let own = self.cal.deadline(
                    self.now,
                    days.unwrap_or_else(|| calendar::default_days(self.doc.urgency)),
                );
                // No stage is due after the route.
                Some(before.row.deadline.map_or(own, |r| own.min(r)))
            }
            None => None,
        };
        let row = TaskRow {
            id: t.id.clone(),
            document_id: self.doc.id.clone(),
            route_id: Some(before.row.id.clone()),
            stage_id: Some(st.id.clone()),
            round: st.round as i32,
            role: t.role.into(),
            assignee_id: t.assignee.clone(),
            unit_id: people.get(&t.assignee).and_then(|u| u.unit_id.clone()),
            acting_user_id: None,
            capacity: None,
            status: t.status,
            urgency: self.doc.urgency,
            deadline,
            assigned_at: self.now,
            acted_at: None,
            result: None,
            delegated_from: delegated.map(|a| a.task.id.clone()),
        };
        queries::insert_task(conn, &row)?;
        Ok(row)
    }

    /// The optimistic check: nobody moved the route since it was read. Answers the route's row
    /// as now stored.
    fn bump_route(
        &self,
        conn: &mut DbConn,
        before: &Loaded,
        after: &engine::Route,
    ) -> Result<RouteRow, ApiError> {
        let finished = after.status.is_finished().then_some(self.now);
        let n = queries::advance_route(
            conn,
            &before.row,
            after.status,
            after.current as i32,
            self.now,
            finished,
        )?;
        if n != 1 {
            return Err(ApiError::conflict(
                ErrorCode::ConcurrentUpdate,
                "the route changed at the same time; reload it",
            ));
        }
        Ok(RouteRow {
            status: after.status,
            current_stage: after.current as i32,
            version: before.row.version + 1,
            updated_at: self.now,
            finished_at: finished,
            ..before.row.clone()
        })
    }
}

pub(super) fn notices_of(
    events: &[Event],
    route: &engine::Route,
    comment: Option<&str>,
) -> Vec<Notice> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::TaskAssigned { task, assignee } => {
                let informed = route
                    .find_task(task)
                    .map(|(s, t)| route.stages[s].tasks[t].role == TaskRole::Inform)
                    .unwrap_or(false);
                if !informed {
                    out.push(Notice::Assigned {
                        task_id: task.clone(),
                        assignee: assignee.clone(),
                    });
                }
            }
            Event::Returned { .. } => out.push(Notice::Returned {
                drafter: route.drafter.clone(),
                comment: comment.unwrap_or_default().to_string(),
            }),
            Event::Rejected => out.push(Notice::Rejected {
                drafter: route.drafter.clone(),
                comment: comment.unwrap_or_default().to_string(),
            }),
            Event::Completed => out.push(Notice::Finished {
                drafter: route.drafter.clone(),
            }),
            Event::StageCompleted { .. } | Event::Recalled | Event::Commented => {}
        }
    }
    out
}
