//! HTTP handlers of the workflow. Thin: extract, authorise, call the service, map to a DTO.

use super::model::{
    ActionKind, ActionRequest, ActionResult, AssignIncoming, Assignment, CompleteSign, InboxItem,
    LatenessReport, NewSubstitution, NewTemplate, PrepareSign, PreparedSign, Route, StartRoute,
    Substitution, Template, TemplateChanges,
};
use super::{incoming, report, service, substitutions, templates};
use crate::accounts::{CurrentUser, Role};
use crate::documents::access::Viewer;
use crate::error::{ApiError, ErrorCode, Problem};
use crate::http::{ApiJson, AppState};
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(start_route)
        .service(get_route)
        .service(recall_route)
        .service(inbox)
        .service(act)
        .service(prepare_sign)
        .service(complete_sign)
        .service(assign_incoming)
        .service(get_assignment)
        .service(list_templates)
        .service(create_template)
        .service(get_template)
        .service(update_template)
        .service(list_substitutions)
        .service(create_substitution)
        .service(revoke_substitution)
        .service(lateness)
        .service(digital_report);
}

/// The `Idempotency-Key` header: 1–200 visible ASCII characters, when sent.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(v) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || ApiError::BadRequest {
        code: ErrorCode::InvalidIdempotencyKey,
        field: Some("Idempotency-Key".into()),
        message: "the Idempotency-Key header must be 1–200 visible ASCII characters".into(),
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s.is_empty() || s.len() > 200 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(s.to_string()))
}

/// Starts the approval route of a draft (its drafter): from `template_id` or ad hoc `stages`.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), request_body = StartRoute, responses(
    (status = 201, body = Route),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Not a draft, or already on a route", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/route")]
async fn start_route(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<StartRoute>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let cal = state.config.calendar();
    let id = id.into_inner();
    let r = state
        .db(move |conn| service::start_route(conn, &ctx, &viewer, &cal, &id, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(r))
}

/// The document's latest route with every stage and task.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Route),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/route")]
async fn get_route(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Route>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::get_route(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// The drafter takes the route back, before the active stage has decided.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Route),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Too late: the current route is in `current`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/route/recall")]
async fn recall_route(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Route>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let cal = state.config.calendar();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| service::recall(conn, &ctx, &viewer, &cal, &id))
            .await?,
    ))
}

/// My inbox: open tasks, mine and those I hold as a deputy; most urgent first, then by deadline.
/// `Cache-Status` (RFC 9211) tells whether the node answered from memory (`docflow; hit`):
/// the same answer the database gives, one's own changes included.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), responses(
    (status = 200, body = Vec<InboxItem>, headers(("Cache-Status" = String, description = "`docflow; hit` or `docflow; fwd=miss`"))),
))]
#[get("/tasks")]
async fn inbox(state: web::Data<AppState>, user: CurrentUser) -> Result<HttpResponse, ApiError> {
    let (json, hit) = service::inbox_json(&state, Viewer::from(&user)).await?;
    Ok(crate::http::cached_json(json, hit))
}

/// Acts on a task: approve, return, reject, comment, delegate, request_opinion,
/// insert_reviewer, complete. Send an `Idempotency-Key` header: a retry with the same key
/// answers the first result (`replayed: true`) without acting twice.
#[utoipa::path(tag = "workflow", security(("bearer" = [])),
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header, description = "Retry key, unique per user")),
    request_body = ActionRequest, responses(
    (status = 200, body = ActionResult),
    (status = 202, description = "`sign` with a remote credential whose holder confirms on the phone: the task stays open until then (its `signing`)", body = super::model::SignPending),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Someone acted first or the route ended: the current state is in `current`", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/tasks/{id}/actions")]
async fn act(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    id: web::Path<String>,
    body: ApiJson<ActionRequest>,
) -> Result<HttpResponse, ApiError> {
    let key = idempotency_key(&req)?;
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let cal = state.config.calendar();
    let id = id.into_inner();
    let body = body.into_inner();
    let kit = match body.action {
        ActionKind::Sign | ActionKind::Issue => {
            let (v, t, b, k) = (viewer.clone(), id.clone(), body.clone(), key.clone());
            let earlier = state
                .db(move |conn| service::replayed(conn, &v, &t, &b, k.as_deref()))
                .await?;
            if let Some(r) = earlier {
                return Ok(HttpResponse::Ok().json(r));
            }
            let kek = state.kek.clone();
            let accounts = state.use_context();
            let (v, t, b) = (viewer.clone(), id.clone(), body.clone());
            let unlock = state
                .db(move |conn| {
                    service::unlock_for(conn, &kek, &accounts, &v, &t, &b, crate::db::now())
                })
                .await?;
            match unlock {
                service::Unlock::Nothing => None,
                service::Unlock::Here(u) => Some(kit_of(&state, u.signer, u.image_sha256).await?),
                service::Unlock::Remote {
                    credential_id,
                    remote,
                } => {
                    let env = remote_env(&state);
                    let answer = state
                        .db(move |conn| {
                            let who = service::Actor {
                                ctx: &ctx,
                                viewer: &viewer,
                                cal: &cal,
                            };
                            let req = service::RemoteSign {
                                task_id: &id,
                                credential_id: &credential_id,
                                remote,
                                key,
                            };
                            service::sign_remote(conn, &who, req, &env)
                        })
                        .await?;
                    return Ok(match answer {
                        service::RemoteAnswer::Done(r) => HttpResponse::Ok().json(r),
                        service::RemoteAnswer::Pending(p) => HttpResponse::Accepted().json(p),
                    });
                }
            }
        }
        _ => None,
    };
    let result = state
        .db(move |conn| {
            let input = service::ActInput {
                req: body,
                key,
                kit: kit.as_ref(),
            };
            service::act(conn, &ctx, &viewer, &cal, &id, input)
        })
        .await?;
    Ok(HttpResponse::Ok().json(result))
}

/// What remote signing needs from the server: the file store, limits, the TSA, the poll pace.
fn remote_env(state: &AppState) -> service::RemoteEnv {
    service::RemoteEnv::of(state, tokio::runtime::Handle::current())
}

fn token_env(state: &AppState) -> service::TokenEnv {
    remote_env(state).token
}

/// What the route's transaction signs with: `signer`, the stamp's image read from the store,
/// the server's file store, timestamp authority and limits.
async fn kit_of(
    state: &AppState,
    signer: crate::signing::Signer,
    image_sha256: Option<String>,
) -> Result<service::SignKit, ApiError> {
    let image = match &image_sha256 {
        Some(key) => Some(state.blobs.read_all(key, 4 * 1024 * 1024).await?),
        None => None,
    };
    Ok(service::SignKit {
        signer,
        image,
        image_sha256,
        prepared: None,
        blobs: state.blobs.clone(),
        runtime: tokio::runtime::Handle::current(),
        tsa: remote_env(state).tsa,
        level: state.config.route_signing_level(),
        max_file: state.config.max_upload_bytes,
    })
}

/// Prepares a `sign` stage's signature for a USB token: answers the signed attributes to sign
/// (`to_sign`, base64 DER) and a single-use `handle` bound to you, the task and the document's
/// current version, valid `signing_handle_ttl_secs`. Nothing changes until `complete`.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PrepareSign, responses(
    (status = 200, body = PreparedSign),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/tasks/{id}/sign/prepare")]
async fn prepare_sign(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<PrepareSign>,
) -> Result<web::Json<PreparedSign>, ApiError> {
    let viewer = Viewer::from(&user);
    let env = token_env(&state);
    let id = id.into_inner();
    let body = body.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| {
                service::prepare_token(conn, &viewer, &id, &body, &env, crate::db::now())
            })
            .await?,
    ))
}

/// Completes a token's signature: `signature` is the token's signature of `to_sign` (base64).
/// The server builds the CMS, embeds it in the prepared revision, stores the new version and
/// approves the task, as the `sign` action does. 409 `version_changed` when another signer
/// signed in between (prepare again); 422 `signature_invalid` when it does not verify against
/// the credential's certificate (nothing changes, the handle stays usable).
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = CompleteSign, responses(
    (status = 200, body = ActionResult),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
    (status = 503, body = Problem, content_type = "application/problem+json"),
))]
#[post("/tasks/{id}/sign/complete")]
async fn complete_sign(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<CompleteSign>,
) -> Result<web::Json<ActionResult>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let cal = state.config.calendar();
    let id = id.into_inner();
    let body = body.into_inner();
    let signature = openssl::base64::decode_block(body.signature.trim())
        .ok()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::validation("signature", "is not a base64 signature"))?;
    let (v, t, h) = (viewer.clone(), id.clone(), body.handle.clone());
    let roots = state.trust_roots.clone();
    let unlocked = state
        .db(move |conn| service::unlock_handle(conn, &v, &t, &h, &roots, crate::db::now()))
        .await?;
    let env = remote_env(&state);
    Ok(web::Json(
        state
            .db(move |conn| {
                let done = service::Completion {
                    task_id: &id,
                    credential_id: &unlocked.credential_id,
                    prepared: unlocked.prepared,
                    cert: unlocked.cert,
                    chain: unlocked.chain,
                    signature,
                    key: None,
                };
                let who = service::Actor {
                    ctx: &ctx,
                    viewer: &viewer,
                    cal: &cal,
                };
                service::complete_prepared(conn, &who, done, &env)
            })
            .await?,
    ))
}

/// A leader assigns an incoming paper: exactly one lead (unit or person), cooperating and
/// for-information units, a deadline.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), request_body = AssignIncoming, responses(
    (status = 201, body = Assignment),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "Already has its lead, or not an incoming paper", body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/documents/{id}/assignment")]
async fn assign_incoming(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<AssignIncoming>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let cal = state.config.calendar();
    let id = id.into_inner();
    let a = state
        .db(move |conn| {
            incoming::assign_incoming(conn, &ctx, &viewer, &cal, &id, body.into_inner())
        })
        .await?;
    Ok(HttpResponse::Created().json(a))
}

/// The assignment of an incoming paper.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Assignment),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/documents/{id}/assignment")]
async fn get_assignment(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Assignment>, ApiError> {
    let viewer = Viewer::from(&user);
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| incoming::get_assignment(conn, &viewer, &id))
            .await?,
    ))
}

/// Route templates.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), responses(
    (status = 200, body = Vec<Template>),
))]
#[get("/route-templates")]
async fn list_templates(
    state: web::Data<AppState>,
    _user: CurrentUser,
) -> Result<web::Json<Vec<Template>>, ApiError> {
    Ok(web::Json(state.db(templates::list_templates).await?))
}

/// Creates a route template (admin).
#[utoipa::path(tag = "workflow", security(("bearer" = [])), request_body = NewTemplate, responses(
    (status = 201, body = Template),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/route-templates")]
async fn create_template(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<NewTemplate>,
) -> Result<HttpResponse, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let t = state
        .db(move |conn| templates::create_template(conn, &ctx, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(t))
}

/// One route template.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Template),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[get("/route-templates/{id}")]
async fn get_template(
    state: web::Data<AppState>,
    _user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Template>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| templates::get_template(conn, &id))
            .await?,
    ))
}

/// Renames, restages or retires (`active: false`) a route template (admin).
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), request_body = TemplateChanges, responses(
    (status = 200, body = Template),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[patch("/route-templates/{id}")]
async fn update_template(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
    body: ApiJson<TemplateChanges>,
) -> Result<web::Json<Template>, ApiError> {
    user.require(Role::Admin)?;
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| templates::update_template(conn, &ctx, &id, body.into_inner()))
            .await?,
    ))
}

/// Substitutions naming me (as the absent user or the deputy); all of them for an admin.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), responses(
    (status = 200, body = Vec<Substitution>),
))]
#[get("/substitutions")]
async fn list_substitutions(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<web::Json<Vec<Substitution>>, ApiError> {
    let viewer = Viewer::from(&user);
    Ok(web::Json(
        state
            .db(move |conn| substitutions::list_substitutions(conn, &viewer))
            .await?,
    ))
}

/// Names a deputy for a period, in a capacity (KT. / TL. / TUQ.).
#[utoipa::path(tag = "workflow", security(("bearer" = [])), request_body = NewSubstitution, responses(
    (status = 201, body = Substitution),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[post("/substitutions")]
async fn create_substitution(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: ApiJson<NewSubstitution>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let s = state
        .db(move |conn| substitutions::create_substitution(conn, &ctx, &viewer, body.into_inner()))
        .await?;
    Ok(HttpResponse::Created().json(s))
}

/// Ends a substitution now (the absent user or an admin).
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(("id" = String, Path)), responses(
    (status = 200, body = Substitution),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 404, body = Problem, content_type = "application/problem+json"),
))]
#[delete("/substitutions/{id}")]
async fn revoke_substitution(
    state: web::Data<AppState>,
    user: CurrentUser,
    id: web::Path<String>,
) -> Result<web::Json<Substitution>, ApiError> {
    let viewer = Viewer::from(&user);
    let ctx = user.audit();
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| substitutions::revoke_substitution(conn, &ctx, &viewer, &id))
            .await?,
    ))
}

/// Period and unit of the lateness report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct LatenessQuery {
    /// One unit (required unless admin).
    unit: Option<String>,
    /// First day (Vietnam time), `YYYY-MM-DD`.
    from: NaiveDate,
    /// Last day, inclusive.
    to: NaiveDate,
}

/// Per unit: tasks handled in the period, handled late, the late rate and the median handling
/// time in working days.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(LatenessQuery), responses(
    (status = 200, body = LatenessReport),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/reports/lateness")]
async fn lateness(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<LatenessQuery>,
) -> Result<web::Json<LatenessReport>, ApiError> {
    let viewer = Viewer::from(&user);
    let cal = state.config.calendar();
    let q = query.into_inner();
    Ok(web::Json(
        state
            .db(move |conn| report::lateness(conn, &viewer, &cal, q.unit.as_deref(), q.from, q.to))
            .await?,
    ))
}

/// Period, unit and format of the digital-signature report.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
struct DigitalQuery {
    /// One unit (required unless admin).
    unit: Option<String>,
    /// First day (Vietnam time), `YYYY-MM-DD`.
    from: NaiveDate,
    /// Last day, inclusive.
    to: NaiveDate,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// The reform's indicators per unit and period: outgoing documents issued and the share issued
/// with digital signatures throughout (every signer and the seal), incoming documents received
/// electronically or on paper, and the late rate of the lateness report. Same access as the
/// lateness report. `format=csv` for a spreadsheet.
#[utoipa::path(tag = "workflow", security(("bearer" = [])), params(DigitalQuery), responses(
    (status = 200, body = super::model::DigitalReport),
    (status = 403, body = Problem, content_type = "application/problem+json"),
    (status = 422, body = Problem, content_type = "application/problem+json"),
))]
#[get("/reports/digital")]
async fn digital_report(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: web::Query<DigitalQuery>,
) -> Result<HttpResponse, ApiError> {
    let viewer = Viewer::from(&user);
    let cal = state.config.calendar();
    let q = query.into_inner();
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::validation("format", "is json or csv")),
    };
    let report = state
        .db(move |conn| report::digital(conn, &viewer, &cal, q.unit.as_deref(), q.from, q.to))
        .await?;
    Ok(if csv {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                "attachment; filename=\"bao-cao-so-hoa.csv\"",
            ))
            .body(report::digital_csv(&report))
    } else {
        HttpResponse::Ok().json(report)
    })
}
