//! HTTP handlers of signing credentials, the signature image and the unit seal. Thin: read the
//! bounded body, authorise, call the service off the executor, return the DTO.

use super::form::{self, Form};
use super::model::{
    Credential, CredentialId, CredentialKind, CscConfig, IssueRequest, NewCredentialJson, Owner,
    PinChangeRequest, Seal, SealMetadata, SignatureImage, UploadMetadata,
};
use super::service::{self, Keys, ServerUpload, StoredImage};
use crate::accounts::{CurrentUser, Role, UnitId, UserId};
use crate::error::{ApiError, Problem};
use crate::http::{json, ApiJson, AppState};
use actix_web::{delete, get, post, put, web, HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Largest `metadata` part.
const METADATA_MAX_BYTES: usize = 16 * 1024;

/// Registers the routes under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_credentials)
        .service(add_credential)
        .service(delete_credential)
        .service(change_pin)
        .service(put_signature_image)
        .service(get_signature_image)
        .service(put_seal)
        .service(issue_credential);
}

/// The multipart form of a new `server` or `token` credential.
#[derive(ToSchema)]
#[allow(dead_code)]
struct CredentialUpload {
    /// JSON: `{kind, label, pin, password}`.
    metadata: UploadMetadata,
    /// `server`: the PKCS#12 (.p12/.pfx) or PEM key + certificates; `token`: the certificate
    /// (PEM or DER). At most 64 KiB.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// The multipart form of a unit seal.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SealUpload {
    /// JSON: `{password, pin, label?}`.
    metadata: SealMetadata,
    /// The seal's PKCS#12 (at most 64 KiB).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The red seal image, PNG with a transparent background (at most 512 KiB, 2000×2000).
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
}

fn me(user: &CurrentUser) -> UserId {
    UserId(user.id.clone())
}

/// The caller's signing credentials (never key material).
#[utoipa::path(tag = "credentials", security(("bearer" = [])), responses((status = 200, body = Vec<Credential>)))]
#[get("/me/signing-credentials")]
async fn list_credentials(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<web::Json<Vec<Credential>>, ApiError> {
    let id = me(&user);
    Ok(web::Json(
        state
            .db(move |conn| service::list_own(conn, &id, crate::db::now()))
            .await?,
    ))
}

/// Adds a signing credential: multipart (`metadata` + `file`) for `server` (PKCS#12 or PEM
/// key + chain, with `pin` and `password`) and `token` (the certificate); JSON for `token`
/// (`certificate`: base64 DER) and `csc` (the service's settings).
#[utoipa::path(tag = "credentials", security(("bearer" = [])),
    request_body(content(
        (CredentialUpload = "multipart/form-data"),
        (NewCredentialJson = "application/json"),
    )),
    responses(
        (status = 201, body = Credential),
        (status = 400, description = "Unreadable body, metadata or multipart (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "A file over 64 KiB or metadata over 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither multipart/form-data nor JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`pkcs12_unreadable`, `pin_too_weak`, `key_certificate_mismatch`, `certificate_expired`, `certificate_not_yet_valid`, `certificate_not_for_signing`, `certificate_untrusted`, `certificate_unreadable`, `signing_key_invalid`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
))]
#[post("/me/signing-credentials")]
async fn add_credential(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let created = if form::media_type(&req) == "application/json" {
        let limit = state.config.max_json_bytes;
        let body = form::read_raw(&state, &req, payload, "application/json", limit).await?;
        add_from_json(&state, &user, json::parse(&body)?).await?
    } else {
        let form = form::read_multipart(
            &state,
            &req,
            payload,
            &[
                ("metadata", METADATA_MAX_BYTES),
                ("file", service::MAX_CREDENTIAL_FILE_BYTES),
            ],
        )
        .await?;
        add_from_form(&state, &user, form).await?
    };
    Ok(HttpResponse::Created().json(created))
}

async fn add_from_json(
    state: &AppState,
    user: &CurrentUser,
    body: NewCredentialJson,
) -> Result<Credential, ApiError> {
    let (ctx, id, now) = (user.audit(), me(user), crate::db::now());
    match body {
        NewCredentialJson::Token { label, certificate } => {
            if certificate.len() > service::MAX_CREDENTIAL_FILE_BYTES * 4 / 3 + 4 {
                return Err(ApiError::PayloadTooLarge {
                    limit: service::MAX_CREDENTIAL_FILE_BYTES as u64,
                });
            }
            let der = openssl::base64::decode_block(certificate.trim())
                .map_err(|_| ApiError::validation("certificate", "is not base64"))?;
            let roots = state.trust_roots.clone();
            state
                .db(move |conn| service::add_token(conn, &ctx, &roots, &id, &label, &der, now))
                .await
        }
        NewCredentialJson::Csc {
            label,
            provider,
            base_url,
            credential_id,
            api_version,
            auth,
            username,
        } => {
            let config = CscConfig {
                provider,
                base_url,
                credential_id,
                api_version,
                auth,
                username,
            };
            state
                .db(move |conn| service::add_csc(conn, &ctx, &id, &label, config, now))
                .await
        }
    }
}

async fn add_from_form(
    state: &AppState,
    user: &CurrentUser,
    mut form: Form,
) -> Result<Credential, ApiError> {
    let meta: UploadMetadata = json::parse(&form.take("metadata")?)?;
    let file = form.take("file")?;
    let (ctx, id, now) = (user.audit(), me(user), crate::db::now());
    let roots = state.trust_roots.clone();
    match meta.kind {
        CredentialKind::Server => {
            let kek = state.kek.clone();
            let pin = meta.pin.ok_or_else(|| {
                ApiError::validation("pin", "is required for a server credential")
            })?;
            let (label, password) = (meta.label, meta.password.unwrap_or_default());
            state
                .db(move |conn| {
                    let keys = Keys {
                        kek: &kek,
                        trust_roots: &roots,
                        office_ca: None,
                    };
                    let upload = ServerUpload {
                        file: &file,
                        label,
                        pin,
                        password,
                    };
                    service::add_server(conn, &ctx, &keys, &id, &upload, now)
                })
                .await
        }
        CredentialKind::Token => {
            if meta.pin.is_some() || meta.password.is_some() {
                return Err(ApiError::validation(
                    "pin",
                    "a token credential takes no PIN or password here (the token asks for its own)",
                ));
            }
            state
                .db(move |conn| {
                    service::add_token(conn, &ctx, &roots, &id, &meta.label, &file, now)
                })
                .await
        }
        CredentialKind::Csc => Err(ApiError::validation(
            "kind",
            "a csc credential is added with a JSON body, not a file",
        )),
    }
}

/// Deletes one of the caller's credentials: it is marked deleted and its encrypted key wiped.
#[utoipa::path(tag = "credentials", security(("bearer" = [])), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "No such credential of the caller's", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/me/signing-credentials/{id}")]
async fn delete_credential(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (ctx, me, id, now) = (
        user.audit(),
        me(&user),
        CredentialId(path.into_inner()),
        crate::db::now(),
    );
    state
        .db(move |conn| service::delete_own(conn, &ctx, &id, &me, now))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Changes the PIN of one of the caller's `server` credentials: the key is sealed again under
/// the new PIN (a new salt and nonce). The current PIN is checked as at signing: a wrong one
/// is counted toward the lock.
#[utoipa::path(tag = "credentials", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = PinChangeRequest,
    responses(
        (status = 200, description = "Changed: the credential now opens with `new_pin` only", body = Credential),
        (status = 400, description = "Unreadable body (the field is named)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`signing_pin_wrong`: the current PIN is wrong (counted; the fifth in a row locks)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credential of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`concurrent_update`: the PIN was changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`credential_has_no_pin` (a token or csc credential), `pin_too_weak`, `validation_failed` (a new PIN too long or equal to the current one)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`signing_pin_locked`: locked after five wrong PINs; see Retry-After", body = Problem, content_type = "application/problem+json"),
))]
#[put("/me/signing-credentials/{id}/pin")]
async fn change_pin(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    body: ApiJson<PinChangeRequest>,
) -> Result<web::Json<Credential>, ApiError> {
    let (ctx, me, id, now) = (
        user.audit(),
        me(&user),
        CredentialId(path.into_inner()),
        crate::db::now(),
    );
    let (kek, req) = (state.kek.clone(), body.into_inner());
    let view = state
        .db(move |conn| {
            let change = service::PinChange {
                credential_id: &id,
                user_id: &me,
                pin: &req.pin,
                new_pin: &req.new_pin,
            };
            service::change_pin(conn, &ctx, &kek, &change, now)
        })
        .await?;
    Ok(web::Json(view))
}

/// Checks a PNG and puts it in the file store (before the transaction that names it).
async fn store_png(state: &AppState, field: &str, png: Vec<u8>) -> Result<StoredImage, ApiError> {
    let field_owned = field.to_string();
    let (png, (width, height)) = web::block(move || {
        let size = service::check_png(&field_owned, &png)?;
        Ok::<_, ApiError>((png, size))
    })
    .await??;
    let size = png.len() as u64;
    let body =
        futures_util::stream::iter([Ok::<Bytes, std::convert::Infallible>(Bytes::from(png))]);
    let staged = state
        .blobs
        .stage(body, service::MAX_IMAGE_BYTES as u64)
        .await?;
    state.blobs.put(&staged).await?;
    Ok(StoredImage {
        sha256: staged.sha256.clone(),
        size,
        width,
        height,
    })
}

/// Sets the caller's handwritten-signature image (`Content-Type: image/png`; at most 512 KiB
/// and 2000×2000 pixels; blue on a transparent background, as Decree 30 expects).
#[utoipa::path(tag = "credentials", security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses(
        (status = 200, body = SignatureImage),
        (status = 413, description = "Over 512 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not image/png", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`signature_image_invalid`: not a readable PNG, or too large a canvas", body = Problem, content_type = "application/problem+json"),
))]
#[put("/me/signature-image")]
async fn put_signature_image(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<SignatureImage>, ApiError> {
    let png = form::read_raw(&state, &req, payload, "image/png", service::MAX_IMAGE_BYTES).await?;
    let image = store_png(&state, "image", png).await?;
    let (ctx, id, now) = (user.audit(), me(&user), crate::db::now());
    let view = state
        .db(move |conn| service::set_signature_image(conn, &ctx, &id, &image, now))
        .await?;
    Ok(web::Json(view))
}

/// The caller's handwritten-signature image (the PNG).
#[utoipa::path(tag = "credentials", security(("bearer" = [])), responses(
    (status = 200, description = "The PNG", content_type = "image/png"),
    (status = 404, description = "None set", body = Problem, content_type = "application/problem+json"),
))]
#[get("/me/signature-image")]
async fn get_signature_image(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, ApiError> {
    let owner = Owner::User(user.id.clone());
    let row = state
        .db(move |conn| service::get_image(conn, &owner))
        .await?;
    let mut read = state.blobs.get(&row.sha256, None).await?;
    let mut png = Vec::with_capacity(row.size.max(0) as usize);
    while let Some(chunk) = read.stream.next().await {
        png.extend_from_slice(&chunk?);
    }
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("ETag", format!("\"{}\"", row.sha256)))
        .insert_header(("Cache-Control", "private, no-cache"))
        .body(png))
}

/// Sets (or replaces) the organisation seal of a unit (admin): multipart `file` (PKCS#12),
/// `image` (the red seal PNG) and `metadata` `{password, pin}`. Only the unit's clerks can
/// use it later, with this PIN.
#[utoipa::path(tag = "credentials", security(("bearer" = [])),
    request_body(content = inline(SealUpload), content_type = "multipart/form-data"),
    responses(
        (status = 200, body = Seal),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "As for a server credential, or `signature_image_invalid`", body = Problem, content_type = "application/problem+json"),
))]
#[put("/units/{id}/seal")]
async fn put_seal(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<Seal>, ApiError> {
    user.require(Role::Admin)?;
    let mut form = form::read_multipart(
        &state,
        &req,
        payload,
        &[
            ("metadata", METADATA_MAX_BYTES),
            ("file", service::MAX_CREDENTIAL_FILE_BYTES),
            ("image", service::MAX_IMAGE_BYTES),
        ],
    )
    .await?;
    let meta: SealMetadata = json::parse(&form.take("metadata")?)?;
    let file = form.take("file")?;
    let png = form.take("image")?;
    // The cheap checks first, so a bad request stores no image.
    service::check_label(meta.label.as_deref().unwrap_or("Con dấu"))?;
    service::check_new_pin(&meta.pin)?;
    let image = store_png(&state, "image", png).await?;
    let (ctx, unit, now) = (user.audit(), UnitId(path.into_inner()), crate::db::now());
    let (kek, roots) = (state.kek.clone(), state.trust_roots.clone());
    let seal = state
        .db(move |conn| {
            let keys = Keys {
                kek: &kek,
                trust_roots: &roots,
                office_ca: None,
            };
            let upload = ServerUpload {
                file: &file,
                label: meta.label.unwrap_or_else(|| "Con dấu".into()),
                pin: meta.pin,
                password: meta.password,
            };
            service::set_seal(conn, &ctx, &keys, &unit, &upload, &image, now)
        })
        .await?;
    Ok(web::Json(seal))
}

/// Issues a signing credential to a user from the office's own CA (admin; closed deployments,
/// `office_ca_path`): a new key pair and a certificate naming the holder, kept as a `server`
/// credential encrypted under the PIN given here, which the admin hands over to the holder.
#[utoipa::path(tag = "credentials", security(("bearer" = [])), params(("id" = String, Path)),
    request_body = IssueRequest,
    responses(
        (status = 201, body = Credential),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`office_ca_not_configured`: no office CA is set", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`pin_too_weak`, `validation_failed` (a deactivated user, a bad label), or the issued certificate fails the credential checks (`certificate_untrusted` when the office CA is not among `trust_roots_path`)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/users/{id}/signing-credentials")]
async fn issue_credential(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<String>,
    body: ApiJson<IssueRequest>,
) -> Result<HttpResponse, ApiError> {
    user.require(Role::Admin)?;
    let (ctx, holder, now) = (user.audit(), UserId(path.into_inner()), crate::db::now());
    let (kek, roots, ca) = (
        state.kek.clone(),
        state.trust_roots.clone(),
        state.office_ca.clone(),
    );
    let req = body.into_inner();
    let created = state
        .db(move |conn| {
            let keys = Keys {
                kek: &kek,
                trust_roots: &roots,
                office_ca: ca.as_deref(),
            };
            service::issue_for_user(conn, &ctx, &keys, &holder, &req, now)
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}
