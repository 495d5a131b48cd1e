//! Signing in the route with a remote service (`csc` credentials: a CSC service, VNPT SmartCA).
//!
//! The signature is prepared as a USB token's is (the plan and the signed attributes over the
//! latest version, a `signing_handles` row), and only then is the service asked, outside any
//! transaction and without the route lock (a slow service holds no lock). A service that signs
//! at once gets the task completed in the same request, through the token's `complete` path
//! (the same bytes, the signature checked against the certificate, the route lock, the version
//! check). One that makes the holder confirm on the phone leaves the row `pending` with the
//! provider's transaction; the poller ([`poll_due`], started by [`start`]) asks the provider
//! every `remote_signing_poll_ms` and completes the task when the holder confirmed, or keeps the
//! reason (refused, timed out, the document changed meanwhile) with the task still open. The rows
//! are the queue: a confirmation is not lost when the server stops while waiting.

use super::super::calendar::Calendar;
use super::super::model::*;
use super::super::queries;
use super::act::{act, ActInput};
use super::sign::{Prepared, SignKit, SignPlan, TokenEnv};
use super::support::corrupt;
use crate::accounts::model::UserId;
use crate::audit::AuditContext;
use crate::credentials::model::CredentialId;
use crate::credentials::unlock::UseContext;
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::error::{ApiError, ErrorCode};
use crate::signing::remote::{Polled, RemoteSigner, Submitted};
use crate::signing::tsa::TsaConfig;
use chrono::NaiveDateTime;
use openssl::x509::X509;

/// What remote signing needs besides the database.
pub struct RemoteEnv {
    pub token: TokenEnv,
    /// PAdES B-T and up when set.
    pub tsa: Option<TsaConfig>,
    /// The level signatures are made at (`signing_level`).
    pub level: crate::signing::ltv::Level,
    /// Milliseconds between two looks at a pending transaction.
    pub poll_ms: u64,
}

impl RemoteEnv {
    /// From the server's state; `runtime` reaches the file store from blocking threads.
    pub fn of(state: &crate::state::AppState, runtime: tokio::runtime::Handle) -> RemoteEnv {
        RemoteEnv {
            token: TokenEnv {
                blobs: state.blobs.clone(),
                runtime,
                max_file: state.config.max_upload_bytes,
                ttl_secs: state.config.signing_handle_ttl_secs,
                trust_roots: state.trust_roots.clone(),
            },
            tsa: (state.config.route_signing_level() > crate::signing::ltv::Level::BB)
                .then(|| TsaConfig::new(state.config.tsa_url.clone())),
            level: state.config.route_signing_level(),
            poll_ms: state.config.remote_signing_poll_ms,
        }
    }
}

/// What `sign` with a remote credential came to.
pub enum RemoteAnswer {
    /// Signed at once: the task is approved.
    Done(Box<ActionResult>),
    /// Waiting for the holder's confirmation (202).
    Pending(SignPending),
}

/// Why a pending remote signature ended when its time ran out.
const NOT_IN_TIME: &str = "the holder did not confirm the signature in time";

/// Attempts at preparing again when another signer of a parallel stage signed between the
/// preparation and the service's answer.
const PREPARE_ATTEMPTS: usize = 3;

/// Who acts, with what calendar: the context every completion needs.
pub struct Actor<'a> {
    pub ctx: &'a AuditContext,
    pub viewer: &'a Viewer,
    pub cal: &'a Calendar,
}

/// A `sign` with a remote credential.
pub struct RemoteSign<'a> {
    pub task_id: &'a str,
    pub credential_id: &'a str,
    pub remote: Box<dyn RemoteSigner>,
    /// The `Idempotency-Key`.
    pub key: Option<String>,
}

/// `sign` with the caller's remote credential: prepares the signature, asks the service, and
/// completes the task at once or leaves it pending. A `sign` repeated while one is pending
/// answers that one (nothing is sent twice).
pub fn sign_remote(
    conn: &mut DbConn,
    who: &Actor,
    req: RemoteSign,
    env: &RemoteEnv,
) -> Result<RemoteAnswer, ApiError> {
    let RemoteSign {
        task_id,
        credential_id,
        remote,
        key,
    } = req;
    let viewer = who.viewer;
    let now = db::now();
    if let Some(h) = queries::pending_remote(conn, task_id, &viewer.id)? {
        if h.expires_at > now {
            return Ok(RemoteAnswer::Pending(pending_of(&h)?));
        }
        // Its time is over (also one the server never got to send before a crash).
        end(conn, &h.id, RemoteState::Failed, Some(NOT_IN_TIME))?;
    }
    let certs = (remote.certificate().clone(), remote.chain().to_vec());
    let certs_pem = pem_of(&certs.0, &certs.1)?;
    for attempt in 1..=PREPARE_ATTEMPTS {
        let (mut row, attrs) = super::sign::prepare_over(
            conn,
            viewer,
            task_id,
            credential_id,
            certs.clone(),
            &env.token,
            now,
        )?;
        row.certs_pem = Some(certs_pem.clone());
        row.remote_state = Some(RemoteState::Pending);
        match db::write_tx(conn, |conn| queries::insert_handle(conn, &row)) {
            Ok(()) => {}
            // The same `sign` at the same moment got there first (one pending per task and
            // signer, a unique index): answer that one, ask the provider nothing.
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                let h = queries::pending_remote(conn, task_id, &viewer.id)?
                    .ok_or_else(|| corrupt("pending remote signature"))?;
                return Ok(RemoteAnswer::Pending(pending_of(&h)?));
            }
            Err(e) => return Err(e.into()),
        }
        let digest = openssl::sha::sha256(&attrs);
        let submitted = remote.submit(&digest, &description(conn, &row)?);
        match submitted {
            Err(e) => {
                end(conn, &row.id, RemoteState::Failed, Some(&e.to_string()))?;
                return Err(ApiError::of_signing(e));
            }
            Ok(Submitted::Pending {
                transaction,
                expires_in_secs,
            }) => {
                let expires_at = db::now() + chrono::Duration::seconds(expires_in_secs as i64);
                let next = db::now() + chrono::Duration::milliseconds(env.poll_ms.max(1) as i64);
                db::write_tx(conn, |conn| {
                    queries::set_remote_pending(conn, &row.id, &transaction, expires_at, next)
                })?;
                row.expires_at = expires_at;
                return Ok(RemoteAnswer::Pending(pending_of(&row)?));
            }
            Ok(Submitted::Signed(signature)) => {
                match complete(conn, who, &row, signature, env, key.clone()) {
                    Ok(result) => {
                        end(conn, &row.id, RemoteState::Done, None)?;
                        return Ok(RemoteAnswer::Done(Box::new(result)));
                    }
                    Err(e) => {
                        end(conn, &row.id, RemoteState::Failed, Some(&e.to_string()))?;
                        let changed = matches!(
                            &e,
                            ApiError::Conflict {
                                code: ErrorCode::VersionChanged,
                                ..
                            }
                        );
                        if !(changed && attempt < PREPARE_ATTEMPTS) {
                            return Err(e);
                        }
                    }
                }
            }
        }
    }
    Err(corrupt("remote signing attempts"))
}

/// What the holder's phone shows: the document's subject.
fn description(conn: &mut DbConn, row: &HandleRow) -> Result<String, ApiError> {
    let doc = crate::documents::queries::find(conn, &row.document_id)?
        .ok_or_else(|| corrupt("signing handle without its document"))?;
    let mut text: String = format!("Ký duyệt: {}", doc.subject)
        .chars()
        .take(200)
        .collect();
    text.retain(|c| !c.is_control());
    Ok(text)
}

fn end(
    conn: &mut DbConn,
    id: &str,
    state: RemoteState,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let reason = reason.map(|r| r.chars().take(1000).collect::<String>());
    db::write_tx(conn, |conn| {
        queries::end_remote(conn, id, state, reason.as_deref())
    })?;
    Ok(())
}

fn pem_of(cert: &X509, chain: &[X509]) -> Result<String, ApiError> {
    let mut pem = Vec::new();
    for c in std::iter::once(cert).chain(chain) {
        pem.extend(c.to_pem().map_err(ApiError::internal)?);
    }
    String::from_utf8(pem).map_err(ApiError::internal)
}

/// The task's remote signature as the API shows it.
pub(super) fn remote_view(h: &HandleRow) -> Option<RemoteSigning> {
    Some(RemoteSigning {
        state: h.remote_state?,
        handle: h.id.clone(),
        user_id: h.user_id.clone(),
        version: h.parent_version,
        reason: h.remote_reason.clone(),
        started_at: h.created_at,
        expires_at: h.expires_at,
    })
}

fn pending_of(h: &HandleRow) -> Result<SignPending, ApiError> {
    Ok(SignPending {
        task_id: TaskId(h.task_id.clone()),
        signing: remote_view(h).ok_or_else(|| corrupt("remote signing state"))?,
    })
}

/// Completes the prepared signature `row` with the service's `signature`.
fn complete(
    conn: &mut DbConn,
    who: &Actor,
    row: &HandleRow,
    signature: Vec<u8>,
    env: &RemoteEnv,
    key: Option<String>,
) -> Result<ActionResult, ApiError> {
    let mut certs = X509::stack_from_pem(row.certs_pem.as_deref().unwrap_or_default().as_bytes())
        .map_err(|_| corrupt("signing handle certificates"))?
        .into_iter();
    let cert = certs
        .next()
        .ok_or_else(|| corrupt("signing handle certificates"))?;
    let plan: SignPlan = serde_json::from_str(&row.plan).map_err(|_| corrupt("signature plan"))?;
    let done = Completion {
        task_id: &row.task_id,
        credential_id: &row.credential_id,
        prepared: Prepared {
            handle_id: row.id.clone(),
            parent_version: row.parent_version,
            plan,
        },
        cert,
        chain: certs.collect(),
        signature,
        key,
    };
    complete_prepared(conn, who, done, env)
}

/// A prepared signature and the key's signature of its attributes.
pub struct Completion<'a> {
    pub task_id: &'a str,
    pub credential_id: &'a str,
    pub prepared: Prepared,
    pub cert: X509,
    pub chain: Vec<X509>,
    /// The key's signature of the prepared signed attributes.
    pub signature: Vec<u8>,
    /// The `Idempotency-Key`.
    pub key: Option<String>,
}

/// Completes a prepared signature (a USB token's `complete`, a remote service's answer): the
/// signature checked against the certificate (422 `signature_invalid`), then the `sign` action
/// over the very version it was prepared over (409 `version_changed` otherwise).
pub fn complete_prepared(
    conn: &mut DbConn,
    who: &Actor,
    done: Completion,
    env: &RemoteEnv,
) -> Result<ActionResult, ApiError> {
    let external = crate::signing::ExternalSignature::new(&done.cert, done.signature)
        .map_err(ApiError::of_signing)?;
    let image_sha256 = done.prepared.plan.image_sha256().map(str::to_string);
    let image = match &image_sha256 {
        Some(k) => Some(
            env.token
                .runtime
                .block_on(env.token.blobs.read_all(k, 4 * 1024 * 1024))?,
        ),
        None => None,
    };
    let kit = SignKit {
        signer: crate::signing::Signer::new(done.cert, done.chain, Box::new(external)),
        image,
        image_sha256,
        prepared: Some(done.prepared),
        blobs: env.token.blobs.clone(),
        runtime: env.token.runtime.clone(),
        tsa: env.tsa.clone(),
        level: env.level,
        max_file: env.token.max_file,
    };
    let req = ActionRequest {
        action: ActionKind::Sign,
        comment: None,
        to_user_id: None,
        to_stage: None,
        credential_id: Some(done.credential_id.to_string()),
        pin: None,
        register_id: None,
    };
    act(
        conn,
        who.ctx,
        who.viewer,
        who.cal,
        done.task_id,
        ActInput {
            req,
            key: done.key,
            kit: Some(&kit),
        },
    )
}

/// Rows a poller takes at a time.
const POLL_BATCH: i64 = 20;

/// One look at the pending remote signatures that are due: each is taken (so another node
/// skips it), its provider asked, and the task completed, the reason kept, or the row left for
/// the next look (the provider out of reach). Answers how many were looked at.
pub fn poll_due(
    conn: &mut DbConn,
    accounts: &UseContext,
    cal: &Calendar,
    env: &RemoteEnv,
) -> Result<usize, ApiError> {
    let now = db::now();
    let due = queries::due_remote(conn, now, POLL_BATCH)?;
    let mut looked = 0;
    for row in due {
        let Some(seen) = row.next_poll_at else {
            continue;
        };
        let next = now + chrono::Duration::milliseconds(env.poll_ms.max(1) as i64);
        if db::write_tx(conn, |conn| {
            queries::claim_remote(conn, &row.id, seen, next)
        })? != 1
        {
            continue;
        }
        looked += 1;
        if let Err(e) = poll_one(conn, accounts, cal, env, &row, now) {
            tracing::warn!(handle = %row.id, error = %e, "remote signing: the look failed; tried again later");
        }
    }
    Ok(looked)
}

fn poll_one(
    conn: &mut DbConn,
    accounts: &UseContext,
    cal: &Calendar,
    env: &RemoteEnv,
    row: &HandleRow,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let fail = |conn: &mut DbConn, reason: &str| {
        tracing::info!(handle = %row.id, task = %row.task_id, reason, "remote signing failed");
        end(conn, &row.id, RemoteState::Failed, Some(reason))
    };
    if row.expires_at <= now {
        return fail(conn, NOT_IN_TIME);
    }
    let Some(transaction) = row.remote_transaction.as_deref() else {
        return fail(conn, "the signing service was not reached");
    };
    let Some(user) = crate::accounts::queries::find_user(conn, &row.user_id)?.filter(|u| u.active)
    else {
        return fail(conn, "the signer's account is deactivated");
    };
    let viewer = Viewer {
        roles: crate::accounts::queries::roles_of(conn, &user.id)?,
        id: user.id,
        unit_id: user.unit_id,
    };
    let remote = match crate::credentials::unlock::remote_for(
        conn,
        accounts,
        &CredentialId(row.credential_id.clone()),
        &UserId(row.user_id.clone()),
        now,
    ) {
        Ok(r) => r,
        Err(ApiError::NotFound(_)) => return fail(conn, "the signing credential was deleted"),
        Err(e @ ApiError::UpstreamUnavailable { .. }) => return Err(e),
        Err(e) => return fail(conn, &e.to_string()),
    };
    match remote.poll(transaction) {
        Err(crate::signing::SigningError::RemoteRefused(reason)) | Ok(Polled::Refused(reason)) => {
            fail(conn, &format!("the signing service refused: {reason}"))
        }
        Err(e) => Err(ApiError::of_signing(e)),
        Ok(Polled::Pending) => Ok(()),
        Ok(Polled::Signed(signature)) => {
            let ctx = AuditContext {
                actor_id: Some(viewer.id.clone()),
                ..AuditContext::default()
            };
            let who = Actor {
                ctx: &ctx,
                viewer: &viewer,
                cal,
            };
            match complete(conn, &who, row, signature, env, None) {
                Ok(_) => {
                    tracing::info!(handle = %row.id, task = %row.task_id, "remote signing confirmed; the task is approved");
                    end(conn, &row.id, RemoteState::Done, None)
                }
                // The service, the database or the store out of reach: the next look tries again.
                Err(
                    e @ (ApiError::UpstreamUnavailable { .. }
                    | ApiError::Unavailable(_)
                    | ApiError::ConnectionLost
                    | ApiError::InsufficientStorage(_)
                    | ApiError::Internal(_)),
                ) => Err(e),
                Err(e) => fail(conn, &e.to_string()),
            }
        }
    }
}

/// Attaches to open tasks their pending (or last failed) remote signature.
pub(super) fn attach(conn: &mut DbConn, tasks: &mut [&mut Task]) -> Result<(), ApiError> {
    let ids: Vec<String> = tasks
        .iter()
        .filter(|t| t.status == crate::workflow::engine::TaskStatus::Pending)
        // A signature is prepared only on a task of a sign or issue stage (`open_task`), and a
        // task never changes stage: the others need no look (most of an inbox).
        .filter(|t| {
            matches!(
                t.stage_kind,
                Some(
                    crate::workflow::engine::StageKind::Sign
                        | crate::workflow::engine::StageKind::Issue
                )
            )
        })
        .map(|t| t.id.0.clone())
        .collect();
    let rows = queries::remote_of_tasks(conn, &ids)?;
    for t in tasks.iter_mut() {
        // Newest first: the first row of a task is its current remote signature.
        if let Some(h) = rows.iter().find(|h| h.task_id == t.id.0) {
            t.signing = remote_view(h);
        }
    }
    Ok(())
}

/// Starts the poller of pending remote signatures (every `remote_signing_poll_ms`; none when
/// 0) on the current actix runtime. It stops with the runtime; every step is its own
/// transaction, so stopping between two leaves nothing half done.
pub fn start(state: crate::state::AppState) {
    let poll_ms = state.config.remote_signing_poll_ms;
    if poll_ms == 0 {
        tracing::info!("remote_signing_poll_ms is 0: this process does not poll remote signatures");
        return;
    }
    actix_web::rt::spawn(async move {
        let runtime = tokio::runtime::Handle::current();
        let accounts = state.use_context();
        let cal = state.config.calendar();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(poll_ms)).await;
            let env = RemoteEnv::of(&state, runtime.clone());
            let (accounts, cal) = (accounts.clone(), cal.clone());
            if let Err(e) = state
                .db(move |conn| poll_due(conn, &accounts, &cal, &env))
                .await
            {
                tracing::warn!(error = %e, "remote signing: the poller could not look");
            }
        }
    });
}
