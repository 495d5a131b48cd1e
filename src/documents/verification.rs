//! Verification of the signatures of a stored version: what a clerk checks when an electronic
//! document arrives (Decree 30 asks for it at registration) and what archive staff show to prove
//! a signed record. Same visibility as downloading the file; audited as
//! `document.signatures_verified`.
//!
//! The stored file is read whole and given to `signing::verify::verify_pdf` on its own thread,
//! at most [`MAX_VERIFY_THREADS`] at once (apart from the upload checks' own limit), within
//! `pdf_check_timeout_secs`.

use super::access::Viewer;
use super::guarded::{self, Failure, Guard};
use super::model::{SignaturesCheck, VersionRow};
use super::service;
use crate::audit::{Action, AuditContext};
use crate::error::{ApiError, ErrorCode};
use crate::signing::verify::{verify_pdf, VerifyReport};
use crate::signing::SigningError;
use crate::state::AppState;
use actix_web::web;
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

/// Most verification threads alive at once, counting those abandoned after their deadline.
/// Each holds a whole file in memory (up to `max_upload_bytes`).
const MAX_VERIFY_THREADS: usize = 4;
/// Verification threads alive now.
static VERIFY_THREADS: AtomicUsize = AtomicUsize::new(0);
/// lopdf bounds its own recursion and the verifier its walks (the corpus test runs it on a
/// default stack); the larger stack is a margin for hostile nesting.
const VERIFY_STACK_BYTES: usize = 64 * 1024 * 1024;

static VERIFY_GUARD: Guard = Guard {
    counter: &VERIFY_THREADS,
    limit: MAX_VERIFY_THREADS,
    name: "pdf-verify",
    stack_bytes: VERIFY_STACK_BYTES,
};

/// Verifies every signature of a version of the main PDF (the latest when `number` is none)
/// against the configured trust roots. 404 for a document or version the viewer cannot see;
/// 422 with the reader's code (`pdf_not_pdf`, `pdf_encrypted`, `pdf_damaged`,
/// `pdf_unsupported`, `pdf_unreadable` when over time) for a file that cannot be read as a PDF;
/// 503 when too many verifications are running.
pub async fn signatures(
    state: &AppState,
    ctx: AuditContext,
    viewer: Viewer,
    id: String,
    number: Option<i32>,
) -> Result<VerifyReport, ApiError> {
    // Taken first: a busy server refuses before it reads a file or writes an audit event.
    let slot = VERIFY_GUARD.slot().ok_or_else(busy)?;
    let version = state
        .db(move |conn| {
            service::open_version_for(
                conn,
                &ctx,
                &viewer,
                service::VersionRead {
                    id: &id,
                    number,
                    action: Action::DocumentSignaturesVerified,
                    details: |v: &VersionRow| json!({"version": v.number, "sha256": v.blob_sha256}),
                },
            )
        })
        .await?;
    match verify_version(state, slot, &version).await? {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e @ (SigningError::Io(_) | SigningError::Internal(_)))) => {
            Err(ApiError::internal(e))
        }
        Ok(Err(e)) => Err(ApiError::Unprocessable {
            code: ErrorCode::of_signing(&e),
            message: format!("the stored file cannot be verified: {e}"),
        }),
        Err(Failure::Busy) => Err(busy()),
        Err(Failure::Spawn) => Err(ApiError::Unavailable(
            "the signatures cannot be checked right now; try again in a minute".into(),
        )),
        Err(Failure::Panicked) => Err(ApiError::Unprocessable {
            code: ErrorCode::PdfDamaged,
            message: "the stored file cannot be verified: the PDF is too damaged to read".into(),
        }),
        Err(Failure::TimedOut) => Err(ApiError::Unprocessable {
            code: ErrorCode::PdfUnreadable,
            message: format!(
                "the stored file could not be verified within {} seconds; it is probably damaged",
                state.config.pdf_check_timeout_secs
            ),
        }),
    }
}

/// The signature check of an incoming electronic document at its registration (Decree 30: the
/// clerk checks authenticity): its latest version verified as `GET …/signatures` does, reduced
/// to valid / invalid / unsigned. None when there is nothing to check (paper, not the viewer's
/// to register) or the check could not run now (too many at once: the registration goes on,
/// unchecked, and says so in the log). A file that cannot be read as a PDF is `invalid`.
pub async fn check_at_registration(
    state: &AppState,
    viewer: Viewer,
    id: String,
) -> Result<Option<SignaturesCheck>, ApiError> {
    let Some(version) = state
        .db(move |conn| service::file_to_check(conn, &viewer, &id))
        .await?
    else {
        return Ok(None);
    };
    let Some(slot) = VERIFY_GUARD.slot() else {
        tracing::warn!(sha256 = %version.blob_sha256, "registered without a signature check: too many checks running");
        return Ok(None);
    };
    Ok(match verify_version(state, slot, &version).await? {
        Ok(Ok(report)) if report.signatures.is_empty() => Some(SignaturesCheck::Unsigned),
        Ok(Ok(report)) if report.all_valid => Some(SignaturesCheck::Valid),
        Ok(Ok(_)) => Some(SignaturesCheck::Invalid),
        Ok(Err(e @ (SigningError::Io(_) | SigningError::Internal(_)))) => {
            return Err(ApiError::internal(e))
        }
        Ok(Err(_)) | Err(Failure::Panicked) | Err(Failure::TimedOut) => {
            Some(SignaturesCheck::Invalid)
        }
        Err(Failure::Busy) | Err(Failure::Spawn) => {
            tracing::warn!(sha256 = %version.blob_sha256, "registered without a signature check: no verification thread");
            None
        }
    })
}

/// Reads a stored version whole and verifies it on a guarded thread (the slot taken).
async fn verify_version(
    state: &AppState,
    slot: guarded::Slot,
    version: &VersionRow,
) -> Result<Result<Result<VerifyReport, SigningError>, Failure>, ApiError> {
    let expected = u64::try_from(version.size).unwrap_or(0);
    let mut read = state.blobs.get(&version.blob_sha256, None).await?;
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(chunk) = read.stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() as u64 > expected {
            // The store holds something else than the row says: a server fault, not the file's.
            return Err(ApiError::internal(anyhow::anyhow!(
                "stored file {} is larger than its recorded {expected} bytes",
                version.blob_sha256
            )));
        }
    }
    let roots = state.trust_roots.clone();
    let timeout = Duration::from_secs(state.config.pdf_check_timeout_secs);
    Ok(web::block(move || {
        guarded::run_in(slot, &VERIFY_GUARD, timeout, move || {
            verify_pdf(&bytes, &roots)
        })
    })
    .await?)
}

fn busy() -> ApiError {
    ApiError::Unavailable(
        "too many signature checks are running right now; try again in a minute".into(),
    )
}
