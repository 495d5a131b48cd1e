//! Security headers on every response: `X-Content-Type-Options: nosniff` (a browser never
//! guesses a type the server did not send); `Cache-Control: no-store` on JSON (answers carry
//! tokens and documents' metadata: no shared or disk cache keeps them), unless the handler set
//! its own; and on the Swagger UI under `/api/docs/` a Content-Security-Policy that allows only
//! its own vendored scripts and styles and forbids framing (`frame-ancestors 'none'`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

/// The Swagger UI's policy: its page loads `swagger-ui-bundle.js`, the preset and
/// `swagger-initializer.js` from itself (no inline script), styles itself inline at run time,
/// draws icons from `data:` URIs and fetches the OpenAPI document from the same origin.
pub const DOCS_CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// A JSON answer that may have come from this node's memory (src/cache), with
/// `Cache-Status` (RFC 9211): `docflow; hit` when it did, `docflow; fwd=miss` when the
/// database answered.
pub fn cached_json(json: actix_web::web::Bytes, hit: bool) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(header::ContentType::json())
        .insert_header((
            "Cache-Status",
            if hit {
                "docflow; hit"
            } else {
                "docflow; fwd=miss"
            },
        ))
        .body(json)
}

/// Middleware: adds the headers above.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let docs = req.path().starts_with("/api/docs");
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if docs {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DOCS_CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    let json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| {
            let t = t.split(';').next().unwrap_or("").trim();
            t == "application/json" || t.ends_with("+json")
        });
    if json && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
