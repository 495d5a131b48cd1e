//! The HTTP edge: shared state, the app factory (middleware, each domain's routes, OpenAPI,
//! Swagger UI), health checks, and starting the server.

pub mod headers;
pub mod json;
pub mod request_id;

use crate::error::{ApiError, ErrorCode, Problem};
use actix_web::dev::Server;
use actix_web::{get, middleware, web, App, HttpRequest, HttpResponse, HttpServer};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

pub use crate::state::AppState;
pub use headers::cached_json;
pub use json::ApiJson;

/// The client's address as the server saw it.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "docflow",
        description = "Back end of a paperless public office: registers, approval chains, PAdES signing.",
    ),
    components(schemas(Problem, crate::registry::service::ReportFormat)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Health and readiness"),
        (name = "auth", description = "Login and the current user"),
        (name = "accounts", description = "Units and users"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "credentials", description = "Signing credentials (server keys, USB tokens, CSC services), the signature image, unit seals"),
        (name = "documents", description = "Documents (Decree 30 metadata), their PDF versions and attachments, registration, access grants"),
        (name = "registers", description = "Registers (sổ văn bản) of a unit, yearly numbering, register reports"),
        (name = "workflow", description = "Approval routes, tasks and the inbox, incoming assignment, substitutions, route templates, the lateness report"),
        (name = "notifications", description = "Email notifications: the outbox and its dead letters, each user's preferences"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Process is up.
#[utoipa::path(tag = "system", responses((status = 200, description = "The process is up")))]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// How long readiness waits for the database: a load balancer's probe wants an answer now,
/// not after `db_timeout_secs`.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Database is reachable and holds the schema.
#[utoipa::path(tag = "system", responses(
    (status = 200, description = "The database answers and holds docflow's schema"),
    (status = 503, description = "The database does not answer within a second, or has no schema", body = Problem, content_type = "application/problem+json"),
))]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let check = web::block(move || match pool.get_timeout(READY_TIMEOUT) {
        Ok(mut conn) => crate::db::ready(&mut conn, READY_TIMEOUT),
        Err(_) => false,
    });
    // The blocking check is abandoned (it ends by itself, see `db::ready`) when it takes longer.
    let ok = matches!(
        actix_web::rt::time::timeout(READY_TIMEOUT, check).await,
        Ok(Ok(true))
    );
    if ok {
        Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable("the database does not answer".into()))
    }
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allowed = methods_of(req.path());
    if !allowed.is_empty() {
        let allow = allowed.join(", ");
        return Err(ApiError::MethodNotAllowed {
            message: format!(
                "{} is not a method of {}: {allow}",
                req.method(),
                req.path()
            ),
            allow,
        });
    }
    Err(ApiError::NoRoute(format!(
        "no endpoint {} {}",
        req.method(),
        req.path()
    )))
}

/// The methods the API document declares for `path` (its `{…}` segments match any one
/// segment); empty when no path matches.
fn methods_of(path: &str) -> Vec<&'static str> {
    static PATHS: std::sync::OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> =
        std::sync::OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_string).collect();
                let methods = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, has)| has.then_some(m))
                .collect();
                (segments, methods)
            })
            .collect()
    });
    let asked: Vec<&str> = path.split('/').collect();
    let mut out: Vec<&'static str> = Vec::new();
    for (template, methods) in paths {
        let matches = template.len() == asked.len()
            && template
                .iter()
                .zip(&asked)
                .all(|(t, a)| (t.starts_with('{') && t.ends_with('}') && !a.is_empty()) || t == a);
        if matches {
            for m in methods {
                if !out.contains(m) {
                    out.push(m);
                }
            }
        }
    }
    out
}

/// The complete API document (also served at `/api/v1/openapi.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = build_app_parts(None).1;
        common_responses(&mut doc);
        doc
    })
    .clone()
}

/// The answers any operation can give besides its own, added to each where it does not name
/// them itself, so a client (or schemathesis) finds every status the server really sends in the
/// document: 400 (an unreadable path, query or body), 401 and 403 (no valid token; a password
/// that must be changed first) on signed-in operations, 413 / 415 / 422 on those that take a
/// body or parameters, 503 (the database out of reach) everywhere. All problem+json.
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            let signed_in = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let takes_input =
                op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            let mut add = |status: &str, description: &str| {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| problem(description));
            };
            add(
                "400",
                "The path, query or body cannot be read (`code` says which)",
            );
            if signed_in {
                add("401", "No valid bearer token (`unauthorized`)");
                add(
                    "403",
                    "Not allowed, or the password must be changed first (`password_change_required`)",
                );
            }
            if takes_input {
                add(
                    "422",
                    "A value is not acceptable (`validation_failed` names the field)",
                );
            }
            if op.request_body.is_some() {
                add(
                    "413",
                    "The body is larger than allowed (`payload_too_large`)",
                );
                add(
                    "415",
                    "The body's media type is not accepted (`unsupported_media_type`)",
                );
            }
            add(
                "503",
                "The database does not answer now (`service_unavailable`); retry",
            );
        }
    }
}

fn build_app_parts(
    state: Option<AppState>,
) -> (
    App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    >,
    utoipa::openapi::OpenApi,
) {
    let path_config = web::PathConfig::default().error_handler(|err, _| {
        ApiError::BadRequest {
            code: ErrorCode::InvalidPath,
            field: None,
            message: format!("the URL path is not valid: {err}"),
        }
        .into()
    });
    let query_config = web::QueryConfig::default().error_handler(|err, _| {
        ApiError::BadRequest {
            code: ErrorCode::InvalidQuery,
            field: None,
            message: format!("the query string is not valid: {err}"),
        }
        .into()
    });
    let mut app = App::new();
    if let Some(state) = state {
        // The document is served ahead of the /api/v1 scope, which would otherwise claim its path.
        app = app
            .app_data(web::Data::new(state))
            .service(SwaggerUi::new("/api/docs/{_:.*}").url("/api/v1/openapi.json", openapi()));
    }
    let (app, api) = app
        .app_data(path_config)
        .app_data(query_config)
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .service(healthz)
        .service(readyz)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .configure(crate::accounts::handlers::configure)
                .configure(crate::audit::handlers::configure)
                .configure(crate::credentials::handlers::configure)
                .configure(crate::documents::handlers::configure)
                .configure(crate::notify::handlers::configure)
                .configure(crate::registry::handlers::configure)
                .configure(crate::workflow::handlers::configure),
        )
        .split_for_parts();
    (app, api)
}

/// Refuses a query string whose names or values hold control characters (NUL would reach
/// PostgreSQL as an error): in one place, before any handler, naming the parameter.
async fn check_query(
    req: actix_web::dev::ServiceRequest,
    next: middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    for (name, value) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        crate::text::check_query_value(&name, &name)?;
        crate::text::check_query_value(&name, &value)?;
    }
    next.call(req).await
}

/// Builds the actix app with every route, middleware and the API docs.
pub fn app(
    state: AppState,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = build_app_parts(Some(state));
    app.service(web::redirect("/api/docs", "/api/docs/"))
        .default_service(web::to(route_not_found))
        .wrap(middleware::from_fn(check_query))
        .wrap(middleware::from_fn(headers::middleware))
        .wrap(middleware::from_fn(request_id::middleware))
}

/// Builds the HTTP server on an already bound listener. It runs until its handle's `stop`;
/// a graceful stop lets in-flight requests finish (up to `shutdown_timeout_secs`).
pub fn server(state: AppState, listener: std::net::TcpListener) -> std::io::Result<Server> {
    let shutdown = state.config.shutdown_timeout_secs;
    let server = HttpServer::new(move || app(state.clone()))
        .listen(listener)?
        .shutdown_timeout(shutdown)
        .disable_signals()
        .run();
    Ok(server)
}
