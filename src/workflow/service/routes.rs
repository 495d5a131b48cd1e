//! Starting a route on a draft, and the drafter recalling it.

use super::super::calendar::Calendar;
use super::super::engine::{self, EngineError, RouteStatus};
use super::super::model::*;
use super::super::notices;
use super::super::queries;
use super::act::{record_action, ActionRecord};
use super::persist::{load, notices_of, to_engine, Loaded, NewStage, Write};
use super::support::{check_specs, corrupt, engine_error, new_id, policy_of, resolve};
use super::view::{route_view, route_view_with};
use crate::audit::{self, Action, AuditContext};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{DocumentRow, Kind, Status};
use crate::documents::service::visible_document;
use crate::error::{ApiError, ErrorCode};
use serde_json::json;
use std::collections::HashMap;

/// Starts a route on the drafter's own draft, from a template or from stages given inline.
pub fn start_route(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    document_id: &str,
    req: StartRoute,
) -> Result<Route, ApiError> {
    if let Some(stages) = &req.stages {
        check_specs("stages", stages)?;
    }
    if req.deadline_days.is_some_and(|d| d > 365) {
        return Err(ApiError::validation(
            "deadline_days",
            "at most 365 working days",
        ));
    }
    db::write_tx(conn, |conn| {
        let doc = visible_document(conn, viewer, document_id)?;
        check_startable(conn, viewer, &doc)?;
        let (specs, template_id) =
            route_specs(conn, &doc, req.template_id.as_deref(), req.stages.clone())?;
        let now = db::now();
        let route_id = new_id();
        let (stages, new_stages) = engine_stages(conn, &doc, &specs)?;
        let mut ids = new_id;
        let (route, events) =
            engine::Route::start(viewer.id.clone(), stages, &mut ids).map_err(engine_error)?;
        let row = RouteRow {
            id: route_id.clone(),
            document_id: doc.id.clone(),
            template_id,
            drafter_id: viewer.id.clone(),
            status: route.status,
            current_stage: route.current as i32,
            version: 1,
            created_at: now,
            updated_at: now,
            finished_at: None,
            deadline: req.deadline_days.map(|d| cal.deadline(now, d)),
        };
        queries::insert_route(conn, &row)?;
        let empty = Loaded {
            row: row.clone(),
            stages: Vec::new(),
            tasks: Vec::new(),
        };
        let write = Write {
            doc: &doc,
            cal,
            now,
            acting: None,
            new_stages: &new_stages,
        };
        let written = write.diff(conn, &empty, &route)?;
        audit::record(
            conn,
            ctx,
            Action::RouteStarted,
            "route",
            Some(&route_id),
            json!({"document_id": doc.id, "template_id": row.template_id, "stages": specs}),
        )?;
        let notices = notices_of(&events, &route, None);
        notices::send(
            conn,
            &doc.id,
            viewer.id.as_str(),
            &notices,
            &written.route.tasks,
            now,
        )?;
        // The answer is the route as written, not read again.
        route_view_with(conn, &written.route, &written.people)
    })
}

/// Only the drafter's own outgoing or internal draft, not on a route and never routed to the
/// end, starts a route.
fn check_startable(conn: &mut DbConn, viewer: &Viewer, doc: &DocumentRow) -> Result<(), ApiError> {
    if doc.created_by != viewer.id {
        return Err(ApiError::Forbidden);
    }
    if doc.kind == Kind::Incoming || doc.status != Status::Draft {
        return Err(ApiError::conflict(
            ErrorCode::NotADraft,
            "only an outgoing or internal draft travels a route; incoming papers are assigned",
        ));
    }
    if queries::has_active_route(conn, &doc.id)? {
        return Err(ApiError::conflict(
            ErrorCode::RouteActive,
            "the document is already on an active route",
        ));
    }
    if queries::latest_route(conn, &doc.id)?.is_some_and(|r| r.status == RouteStatus::Completed) {
        return Err(ApiError::conflict(
            ErrorCode::RouteCompleted,
            "the draft has been through its whole route; it is not routed again",
        ));
    }
    Ok(())
}

/// The stages of the new route: an active template's for this document, or those given.
fn route_specs(
    conn: &mut DbConn,
    doc: &DocumentRow,
    template_id: Option<&str>,
    stages: Option<Vec<StageSpec>>,
) -> Result<(Vec<StageSpec>, Option<String>), ApiError> {
    match (template_id, stages) {
        (Some(t), None) => {
            let tpl = queries::template(conn, t)?
                .filter(|t| t.active)
                .ok_or_else(|| ApiError::validation("template_id", "names no active template"))?;
            if tpl.type_code.as_deref().is_some_and(|c| c != doc.type_code)
                || tpl.unit_id.as_deref().is_some_and(|u| u != doc.unit_id)
            {
                return Err(ApiError::validation(
                    "template_id",
                    "the template is for another document type or unit",
                ));
            }
            let specs: Vec<StageSpec> =
                serde_json::from_str(&tpl.stages).map_err(|_| corrupt("template stages"))?;
            Ok((specs, Some(tpl.id)))
        }
        (None, Some(stages)) => Ok((stages, None)),
        _ => Err(ApiError::validation(
            "template_id",
            "give exactly one of template_id and stages",
        )),
    }
}

/// What the spec says of each new stage, by stage id.
type StageDays = HashMap<String, NewStage>;

/// The engine's stages, assignees resolved, and each new stage's working days by its id.
fn engine_stages(
    conn: &mut DbConn,
    doc: &DocumentRow,
    specs: &[StageSpec],
) -> Result<(Vec<engine::Stage>, StageDays), ApiError> {
    let mut stages = Vec::with_capacity(specs.len());
    let mut days = HashMap::with_capacity(specs.len());
    for (i, s) in specs.iter().enumerate() {
        let assignees = resolve(conn, &format!("stages[{i}]"), &s.assignees, &doc.unit_id)?;
        let mut st = engine::Stage::new(s.kind, policy_of(s.policy, s.quorum), assignees);
        st.id = new_id();
        let facts = NewStage {
            deadline_days: s.deadline_days,
            signing: s.signing.clone().unwrap_or_default(),
        };
        days.insert(st.id.clone(), facts);
        stages.push(st);
    }
    Ok((stages, days))
}

/// The drafter takes the route back before the active stage has decided.
pub fn recall(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    cal: &Calendar,
    document_id: &str,
) -> Result<Route, ApiError> {
    db::write_tx(conn, |conn| {
        let doc = visible_document(conn, viewer, document_id)?;
        let row = queries::latest_route(conn, &doc.id)?.ok_or(ApiError::NotFound("route"))?;
        db::lock_route(conn, &row.id)?;
        let row = queries::route(conn, &row.id)?.ok_or(ApiError::NotFound("route"))?;
        if row.drafter_id != viewer.id {
            return Err(ApiError::Forbidden);
        }
        let loaded = load(conn, row)?;
        let mut route = to_engine(&loaded)?;
        let mut ids = new_id;
        let recall = engine::Action::Recall {
            by: viewer.id.clone(),
        };
        if let Err(e) = route.apply(recall, &mut ids) {
            let current = route_view(conn, &loaded)?;
            let code = match e {
                EngineError::Finished => ErrorCode::RouteFinished,
                _ => ErrorCode::RecallRefused,
            };
            return Err(ApiError::Stale {
                code,
                message: engine_error(e).to_string(),
                current: serde_json::to_value(current).map_err(ApiError::internal)?,
            });
        }
        let now = db::now();
        let no_stages = HashMap::new();
        let write = Write {
            doc: &doc,
            cal,
            now,
            acting: None,
            new_stages: &no_stages,
        };
        let written = write.diff(conn, &loaded, &route)?;
        let record = ActionRecord {
            route_id: Some(&loaded.row.id),
            user: &viewer.id,
            action: "recall",
            ..ActionRecord::new(now)
        };
        record_action(conn, &record)?;
        audit::record(
            conn,
            ctx,
            Action::RouteRecalled,
            "route",
            Some(&loaded.row.id),
            json!({"document_id": doc.id}),
        )?;
        route_view_with(conn, &written.route, &written.people)
    })
}
