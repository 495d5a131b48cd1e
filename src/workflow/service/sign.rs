//! Signing inside a route. A `sign` stage's task is approved by signing the document's latest
//! version with the holder's own credential and the Decree 30 stamp; an `issue` stage's task
//! by numbering the document from an outgoing register and applying the organisation's seal
//! signature. Both happen in the action's transaction, under the route lock, over the version
//! read inside it (so two signers of one parallel stage sign over each other's version), and
//! the signed file becomes the next version in the same commit: a failure anywhere (a TSA
//! outage, a full store) leaves the document, the task and the register's counter as they were.
//!
//! The credential is unlocked before that transaction ([`unlock_for`]): its PIN derivation is
//! slow, and a wrong PIN must be counted even though the action itself fails.

use super::super::engine::StageKind;
use super::super::model::*;
use super::super::queries;
use super::act::{holder, Step};
use super::persist::Loaded;
use super::support::{corrupt, is_uuid};
use super::view::stage_signing;
use crate::accounts::model::{UnitId, UserId};
use crate::accounts::queries as accounts_q;
use crate::credentials::crypto::Kek;
use crate::credentials::model::{CredentialId, Owner};
use crate::credentials::unlock::{CredentialSigner, UseContext};
use crate::db::DbConn;
use crate::documents::access::Viewer;
use crate::documents::model::{Kind, VersionRow};
use crate::error::{ApiError, ErrorCode};
use crate::signing::keys::Signer;
use crate::signing::ltv::{ExtendOptions, Level};
use crate::signing::options::{SignOptions, Visible};
use crate::signing::tsa::TsaConfig;
use crate::storage::BlobStore;
use chrono::{Datelike, NaiveDateTime};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a signer's stamp goes when the stage does not say: the last page's lower right, on
/// an A4 portrait page (595 × 842 points), where Decree 30 puts the signature block.
pub const DEFAULT_STAMP: Placement = Placement {
    page: 0,
    rect: [330.0, 60.0, 560.0, 200.0],
};

/// A credential (or seal) unlocked for one step, and what the step needs to read and write
/// the document's file.
pub struct SignKit {
    pub signer: Signer,
    /// The holder's signature image (`sign`) or the unit's seal image (`issue`), PNG.
    pub image: Option<Vec<u8>>,
    /// The key of `image` in the store.
    pub image_sha256: Option<String>,
    /// A token's `complete`: the signature prepared earlier, to be made exactly so.
    pub prepared: Option<Prepared>,
    pub blobs: BlobStore,
    /// The server's runtime, to reach the file store from the transaction's thread.
    pub runtime: tokio::runtime::Handle,
    /// PAdES B-T when set, else B-B.
    pub tsa: Option<TsaConfig>,
    /// B-LT and B-LTA: the validation data (and a document timestamp) added after the
    /// signatures, in the same version (`signing_level`).
    pub level: Level,
    /// Largest file read into memory for signing.
    pub max_file: u64,
}

/// A signature prepared for a token ([`prepare_token`]), being completed.
pub struct Prepared {
    pub handle_id: String,
    pub parent_version: i32,
    pub plan: SignPlan,
}

/// Everything a signature's bytes depend on besides the document and the key: fixed when a
/// token's signature is prepared, so that `complete` makes the very update that was signed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignPlan {
    page: u32,
    rect: [f64; 4],
    lines: Vec<String>,
    image_after_lines: usize,
    image_sha256: Option<String>,
    name: String,
    position: String,
    reason: String,
    location: Option<String>,
    /// RFC 3339 with the +07:00 offset.
    signing_time: String,
}

impl SignPlan {
    /// The key of the signature image the stamp shows.
    pub fn image_sha256(&self) -> Option<&str> {
        self.image_sha256.as_deref()
    }

    fn options(
        &self,
        image: Option<Vec<u8>>,
        tsa: Option<TsaConfig>,
    ) -> Result<SignOptions, ApiError> {
        let time = chrono::DateTime::parse_from_rfc3339(&self.signing_time)
            .map_err(|_| corrupt("signature plan time"))?;
        Ok(SignOptions {
            visible: Some(Visible {
                page: self.page,
                rect: self.rect,
                image,
                lines: Some(self.lines.clone()),
                image_after_lines: Some(self.image_after_lines),
                ..Visible::default()
            }),
            name: Some(self.name.clone()),
            position: Some(self.position.clone()),
            reason: Some(self.reason.clone()),
            location: self.location.clone(),
            tsa,
            signing_time: Some(time),
            ..SignOptions::default()
        })
    }
}

/// What [`unlock_for`] gives: the signer, and the key of the image to load for the stamp.
pub struct Unlocked {
    pub signer: Signer,
    pub image_sha256: Option<String>,
}

/// What a `sign` / `issue` is made with: a key here, or a remote signing service (then the
/// signature is prepared, sent, and completed when the service answers: `remote.rs`).
pub enum Unlock {
    /// `issue` on paper: nothing to sign with.
    Nothing,
    Here(Unlocked),
    Remote {
        credential_id: String,
        remote: Box<dyn crate::signing::remote::RemoteSigner>,
    },
}

/// What a signing step did, in the action's answer and its audit event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignatureOutcome {
    /// The new version of the document's PDF.
    pub version: i32,
    /// SHA-256 of that version's file.
    pub sha256: String,
    /// The signature field filled.
    pub field: String,
    /// SHA-256 of the signing certificate (DER).
    pub certificate_sha256: String,
    /// Subject of the signing certificate.
    pub certificate_subject: String,
    /// The timestamp authority's time (PAdES B-T); none for B-B.
    pub timestamp: Option<String>,
    /// `issue`: the number given.
    pub number_symbol: Option<String>,
}

/// Checks that the caller may `sign` / `issue` this task now and unlocks the credential with
/// the PIN (`sign`: the caller's own `credential_id`, also a deputy's; `issue`: the seal of the
/// register's unit, for its clerks). Nothing is unlocked for a task the caller cannot act on.
pub fn unlock_for(
    conn: &mut DbConn,
    kek: &Kek,
    accounts: &UseContext,
    viewer: &Viewer,
    task_id: &str,
    req: &ActionRequest,
    now: NaiveDateTime,
) -> Result<Unlock, ApiError> {
    let (_, _, stage) = open_task(conn, viewer, task_id, req.action, now)?;
    if req.action == ActionKind::Issue
        && req.pin.is_none()
        && !stage_signing(&stage)?.requires_signature()
    {
        // An office issuing on paper: the number only, no seal signature.
        issuing_register(conn, viewer, req)?;
        return Ok(Unlock::Nothing);
    }
    // A remote service whose holder confirms on the phone needs no PIN; everything else does.
    let given = req.pin.as_deref().filter(|p| !p.is_empty());
    let pin = given.ok_or_else(|| ApiError::validation("pin", "is required to sign"));
    let user = UserId(viewer.id.clone());
    match req.action {
        ActionKind::Sign => {
            if req.register_id.is_some() {
                return Err(ApiError::validation("register_id", "is used by issue only"));
            }
            let id = req
                .credential_id
                .as_deref()
                .ok_or_else(|| ApiError::validation("credential_id", "is required to sign"))?;
            if !is_uuid(id) {
                return Err(ApiError::NotFound("signing credential"));
            }
            let signer = match crate::credentials::unlock::signer_for(
                conn,
                kek,
                accounts,
                &CredentialId(id.to_string()),
                &user,
                given,
                now,
            )? {
                CredentialSigner::Key(signer) => signer,
                CredentialSigner::Remote(remote) => {
                    return Ok(Unlock::Remote {
                        credential_id: id.to_string(),
                        remote,
                    })
                }
            };
            let image =
                crate::credentials::queries::find_image(conn, &Owner::User(viewer.id.clone()))?;
            Ok(Unlock::Here(Unlocked {
                signer,
                image_sha256: image.map(|i| i.sha256),
            }))
        }
        _ => {
            if req.credential_id.is_some() {
                return Err(ApiError::validation(
                    "credential_id",
                    "issue signs with the unit's seal; give register_id and the seal's pin",
                ));
            }
            let reg = issuing_register(conn, viewer, req)?;
            let unit = UnitId(reg.unit_id.clone());
            let signer = crate::credentials::unlock::unlock_seal(
                conn,
                kek,
                &accounts.trust_roots,
                &unit,
                &user,
                pin?,
                now,
            )?;
            let image = crate::credentials::queries::find_image(conn, &Owner::Unit(reg.unit_id))?;
            Ok(Unlock::Here(Unlocked {
                signer,
                image_sha256: image.map(|i| i.sha256),
            }))
        }
    }
}

fn not_this_stage(action: ActionKind) -> ApiError {
    ApiError::Unprocessable {
        code: ErrorCode::ActionNotAllowed,
        message: match action {
            ActionKind::Sign => "sign is the action of a sign stage's task".into(),
            _ => "issue is the action of an issue stage's task".into(),
        },
    }
}

/// The outgoing register `register_id` names, managed by the caller (a clerk of its unit).
fn issuing_register(
    conn: &mut DbConn,
    viewer: &Viewer,
    req: &ActionRequest,
) -> Result<crate::registry::model::RegisterRow, ApiError> {
    let id = req
        .register_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("register_id", "is required to issue"))?;
    if !is_uuid(id) {
        return Err(ApiError::NotFound("register"));
    }
    let reg = crate::registry::service::managed(conn, viewer, id)?;
    if reg.kind != Kind::Outgoing || !reg.active {
        return Err(ApiError::validation(
            "register_id",
            "is not an active register of outgoing documents",
        ));
    }
    Ok(reg)
}

/// Before the engine approves a `sign` / `issue` stage's task: signs (or numbers and seals),
/// or refuses a bare `approve` where a signature is required. None for other actions.
pub(super) fn before_approval(
    conn: &mut DbConn,
    step: &Step,
    loaded: &Loaded,
) -> Result<Option<SignatureOutcome>, ApiError> {
    let stage = loaded
        .stages
        .iter()
        .find(|s| step.task.stage_id.as_deref() == Some(s.id.as_str()))
        .ok_or_else(|| corrupt("task without its stage"))?;
    let settings = stage_signing(stage)?;
    match (step.req.action, stage.kind) {
        (ActionKind::Approve, StageKind::Sign | StageKind::Issue)
            if settings.requires_signature() =>
        {
            Err(ApiError::Unprocessable {
                code: ErrorCode::SignatureRequired,
                message: format!(
                    "this {} stage needs a digital signature: use the {} action",
                    stage.kind, stage.kind
                ),
            })
        }
        (ActionKind::Sign, StageKind::Sign) => sign(conn, step, &settings).map(Some),
        (ActionKind::Issue, StageKind::Issue)
            if step.kit.is_none() && !settings.requires_signature() =>
        {
            paper_issue(conn, step).map(|_| None)
        }
        (ActionKind::Issue, StageKind::Issue) => issue(conn, step, loaded, &settings).map(Some),
        (ActionKind::Sign | ActionKind::Issue, _) => Err(not_this_stage(step.req.action)),
        _ => Ok(None),
    }
}

/// The `sign` step: the Decree 30 stamp (capacity line for a deputy, position, signature image,
/// name, organisation, time) at the stage's place, over the latest version. A token's
/// `complete` makes the signature it prepared, if the version is still the one it was made over.
fn sign(
    conn: &mut DbConn,
    step: &Step,
    settings: &StageSigning,
) -> Result<SignatureOutcome, ApiError> {
    let kit = kit_of(step)?;
    let parent = latest_version(conn, &step.doc.id)?;
    let plan = match &kit.prepared {
        Some(p) => {
            if parent.number != p.parent_version {
                return Err(ApiError::conflict(
                    ErrorCode::VersionChanged,
                    format!(
                        "the document changed since the signature was prepared (version {} is now {}): prepare again",
                        p.parent_version, parent.number
                    ),
                ));
            }
            if queries::use_handle(conn, &p.handle_id, step.now)? != 1 {
                return Err(handle_used());
            }
            p.plan.clone()
        }
        None => {
            let who = Signing {
                signer_id: &step.viewer.id,
                signer_unit: step.viewer.unit_id.as_deref(),
                assignee_id: &step.task.assignee_id,
                capacity: step.capacity,
                doc: step.doc,
            };
            sign_plan(conn, &who, settings, &parent, kit.image_sha256.clone())?
        }
    };
    let opts = plan.options(kit.image.clone(), kit.tsa.clone())?;
    sign_and_store(conn, step, kit, &parent, &[opts], None)
}

/// Who signs a `sign` stage's task, for the stamp.
struct Signing<'a> {
    signer_id: &'a str,
    signer_unit: Option<&'a str>,
    assignee_id: &'a str,
    capacity: Option<Capacity>,
    doc: &'a crate::documents::model::DocumentRow,
}

/// The stamp of a `sign` step: for a deputy `KT. GIÁM ĐỐC` (the capacity, then the position
/// of the leader signed for), the signer's position in capitals, the picture, the full name,
/// the organisation, the time in +07:00.
fn sign_plan(
    conn: &mut DbConn,
    who: &Signing,
    settings: &StageSigning,
    parent: &VersionRow,
    image_sha256: Option<String>,
) -> Result<SignPlan, ApiError> {
    let signer = accounts_q::find_user(conn, who.signer_id)?.ok_or(ApiError::Forbidden)?;
    let mut lines = Vec::new();
    if let Some(capacity) = who.capacity {
        let leader = accounts_q::find_user(conn, who.assignee_id)?
            .ok_or_else(|| corrupt("task assignee"))?;
        lines.push(format!(
            "{} {}",
            capacity.label(),
            leader.position_title.to_uppercase()
        ));
    }
    if !signer.position_title.is_empty() {
        lines.push(signer.position_title.to_uppercase());
    }
    let image_after_lines = lines.len();
    lines.push(signer.full_name.clone());
    let org = organisation(conn, who.doc, who.signer_unit)?;
    if !org.is_empty() {
        lines.push(org.clone());
    }
    let time = crate::vntime::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    lines.push(time.clone());
    let place = settings.stamp.unwrap_or(DEFAULT_STAMP);
    Ok(SignPlan {
        page: page_of(&place, parent),
        rect: place.rect,
        lines,
        image_after_lines,
        image_sha256,
        name: signer.full_name,
        position: signer.position_title,
        reason: "Ký duyệt".into(),
        location: (!org.is_empty()).then_some(org),
        signing_time: time,
    })
}

fn handle_used() -> ApiError {
    ApiError::conflict(
        ErrorCode::SigningHandleUsed,
        "this prepared signature was completed already; prepare again",
    )
}

/// The `issue` step: the next number of the outgoing register, then two signatures of the
/// organisation's seal in one new version — the number and date at the document's number place
/// (page 1, top left, by default), then the seal over the left third of the signer's picture
/// with the unit's name and the time — and the document issued. The number is taken in this
/// transaction: if a signing fails, it is given back (no gap).
///
/// Why the number is a signature's stamp: any other addition after the leader's signature (a
/// text annotation, new page content) is a change PAdES validators refuse for that signature;
/// a new signature field is the one addition they all accept, and Decree 30 already prints the
/// number and date inside the organisation's signature on attachments.
fn issue(
    conn: &mut DbConn,
    step: &Step,
    loaded: &Loaded,
    settings: &StageSigning,
) -> Result<SignatureOutcome, ApiError> {
    let kit = kit_of(step)?;
    let reg = issuing_register(conn, step.viewer, step.req)?;
    let parent = latest_version(conn, &step.doc.id)?;
    let registration =
        crate::registry::service::assign_number(conn, Some(&step.viewer.id), &reg, step.doc)?;
    let unit =
        accounts_q::find_unit(conn, &reg.unit_id)?.ok_or_else(|| corrupt("register unit"))?;
    let date = crate::vntime::local_date(step.now);
    let (d, m, y) = (date.day(), date.month(), date.year());
    let date_line = match step.doc.issue_place.as_deref().filter(|p| !p.is_empty()) {
        Some(place) => format!("{place}, ngày {d:02} tháng {m:02} năm {y}"),
        None => format!("Ngày {d:02} tháng {m:02} năm {y}"),
    };
    let time = crate::vntime::now();
    let number_place = settings.number_place.unwrap_or(DEFAULT_NUMBER_PLACE);
    let number = SignOptions {
        // A named field of the document's own layout, stamped in its rectangle; else a place.
        field: settings.number_field.clone(),
        visible: Some(Visible {
            page: number_place.page.max(1),
            rect: number_place.rect,
            lines: Some(vec![format!("Số: {}", registration.symbol), date_line]),
            in_field: settings.number_field.is_some(),
            ..Visible::default()
        }),
        name: Some(unit.name.clone()),
        reason: Some(format!("Cấp số văn bản {}", registration.symbol)),
        location: step.doc.issue_place.clone(),
        tsa: kit.tsa.clone(),
        signing_time: Some(time),
        ..SignOptions::default()
    };
    let signer_place = last_sign_place(loaded)?;
    let seal = SignOptions {
        visible: Some(Visible {
            page: page_of(&signer_place, &parent),
            rect: seal_rect(signer_place.rect),
            seal: kit.image.clone(),
            lines: Some(vec![
                unit.name.to_uppercase(),
                time.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            ]),
            image_after_lines: Some(0),
            ..Visible::default()
        }),
        name: Some(unit.name.clone()),
        reason: Some(format!("Phát hành văn bản số {}", registration.symbol)),
        location: step.doc.issue_place.clone(),
        tsa: kit.tsa.clone(),
        signing_time: Some(time),
        ..SignOptions::default()
    };
    let outcome = sign_and_store(
        conn,
        step,
        kit,
        &parent,
        &[number, seal],
        Some(registration.symbol),
    )?;
    crate::documents::service::mark_issued(conn, &step.doc.id, date, step.now)?;
    Ok(outcome)
}

/// An `issue` stage that needs no digital signature (an office signing and sealing on paper):
/// the number from the register and the document issued; the file is not touched.
fn paper_issue(conn: &mut DbConn, step: &Step) -> Result<(), ApiError> {
    let reg = issuing_register(conn, step.viewer, step.req)?;
    crate::registry::service::assign_number(conn, Some(&step.viewer.id), &reg, step.doc)?;
    let date = crate::vntime::local_date(step.now);
    crate::documents::service::mark_issued(conn, &step.doc.id, date, step.now)?;
    Ok(())
}

/// Where an `issue` stage prints the number and date when the stage does not say: page 1, top
/// left, under the issuer's name, where Decree 30's layout puts `Số: …` (an A4 page).
pub const DEFAULT_NUMBER_PLACE: Placement = Placement {
    page: 1,
    rect: [40.0, 700.0, 300.0, 745.0],
};

/// The seal's stamp beside a signer's: over the left third of the signer's picture, its text
/// (the unit, the time) below the signer's stamp.
fn seal_rect(signer: [f64; 4]) -> [f64; 4] {
    let [x1, y1, x2, y2] = signer;
    let (left, right) = (x1.min(x2), x1.max(x2));
    let (bottom, top) = (y1.min(y2), y1.max(y2));
    let w = right - left;
    let h = top - bottom;
    [
        (left - 0.2 * w).max(0.0),
        (bottom - 0.45 * h).max(0.0),
        left + 0.4 * w,
        bottom + 0.92 * h,
    ]
}

/// Where the last `sign` stage put its stamp (the seal goes beside it).
fn last_sign_place(loaded: &Loaded) -> Result<Placement, ApiError> {
    for s in loaded.stages.iter().rev() {
        if s.kind == StageKind::Sign {
            return Ok(stage_signing(s)?.stamp.unwrap_or(DEFAULT_STAMP));
        }
    }
    Ok(DEFAULT_STAMP)
}

fn kit_of<'a>(step: &Step<'a>) -> Result<&'a SignKit, ApiError> {
    step.kit.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "a signing action reached the route without an unlocked credential"
        ))
    })
}

fn page_of(place: &Placement, parent: &VersionRow) -> u32 {
    match place.page {
        0 => parent.page_count.unwrap_or(1).max(1) as u32,
        n => n,
    }
}

/// The organisation shown on a stamp: the document's issuer, else the signer's unit.
fn organisation(
    conn: &mut DbConn,
    doc: &crate::documents::model::DocumentRow,
    signer_unit: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(issuer) = doc.issuer.as_deref().filter(|s| !s.is_empty()) {
        return Ok(issuer.to_string());
    }
    Ok(match signer_unit {
        Some(u) => accounts_q::find_unit(conn, u)?
            .map(|u| u.name)
            .unwrap_or_default(),
        None => String::new(),
    })
}

/// The latest version, read under the route lock: what this signature is made over.
fn latest_version(conn: &mut DbConn, document_id: &str) -> Result<VersionRow, ApiError> {
    let parent = crate::documents::queries::versions(conn, document_id)?
        .pop()
        .ok_or_else(|| ApiError::Unprocessable {
            code: ErrorCode::ActionNotAllowed,
            message: "the document has no PDF to sign".into(),
        })?;
    if !parent.signable {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::PdfUnsupported,
            message: format!(
                "the document's PDF cannot be signed: {}",
                parent
                    .signable_reason
                    .as_deref()
                    .unwrap_or("see its upload check")
            ),
        });
    }
    Ok(parent)
}

/// A draft nobody has signed yet that has a hybrid cross-reference or a repaired structure is
/// rewritten clean before its first signature (`signing::normalise`), so that signature
/// validates in strict validators too; a file with any signature is left as it is.
fn first_signature_over(pdf: &mut Vec<u8>) -> Result<(), ApiError> {
    crate::signing::normalise::before_first_signature(pdf).map_err(ApiError::of_signing)?;
    Ok(())
}

/// Reads `parent`, signs it (each of `signatures` in turn, each over the one before), stores
/// the result and records it as the next version. The outcome names the last signature.
fn sign_and_store(
    conn: &mut DbConn,
    step: &Step,
    kit: &SignKit,
    parent: &VersionRow,
    signatures: &[SignOptions],
    number_symbol: Option<String>,
) -> Result<SignatureOutcome, ApiError> {
    let mut pdf = kit.runtime.block_on(
        kit.blobs
            .read_all(&parent.blob_sha256, kit.max_file.saturating_mul(2)),
    )?;
    first_signature_over(&mut pdf)?;
    let mut last = None;
    for opts in signatures {
        last = Some(
            crate::signing::sign_vec(&mut pdf, &kit.signer, opts).map_err(ApiError::of_signing)?,
        );
    }
    let report = last.ok_or_else(|| corrupt("a signing step without a signature"))?;
    extend_to_level(&mut pdf, kit)?;
    let (sha256, size) = kit.runtime.block_on(kit.blobs.put_bytes(pdf))?;
    let version = crate::documents::service::add_signed_version(
        conn,
        parent,
        &sha256,
        size,
        &step.viewer.id,
        step.now,
    )?;
    let cert = kit.signer.certificate();
    let der = cert.to_der().map_err(ApiError::internal)?;
    Ok(SignatureOutcome {
        version: version.number,
        sha256: version.blob_sha256,
        field: report.field,
        certificate_sha256: crate::audit::service::hex(&openssl::sha::sha256(&der)),
        certificate_subject: crate::signing::verify::certificate_subject(cert),
        timestamp: report.timestamp,
        number_symbol,
    })
}

/// How long one OCSP or CRL request of a route's B-LT extension may take: it runs inside the
/// action's transaction, under the route lock.
const REVOCATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// At B-LT and B-LTA, the signatures just made get their validation data (the signer's and
/// the TSA's chains, fresh OCSP or CRL answers) in a DSS and, at B-LTA, a document timestamp,
/// all in the same new version. A revocation source that does not answer fails the action
/// (503 `revocation_unavailable`) and a revoked certificate refuses it (422
/// `certificate_revoked`): nothing is stored, the task stays open.
fn extend_to_level(pdf: &mut Vec<u8>, kit: &SignKit) -> Result<(), ApiError> {
    if kit.level < Level::BLT {
        return Ok(());
    }
    let opts = ExtendOptions {
        timeout: REVOCATION_TIMEOUT,
        ..ExtendOptions::new(kit.level, kit.tsa.clone())
    };
    crate::signing::ltv::extend_vec(pdf, &opts).map_err(ApiError::of_signing)?;
    Ok(())
}

/// What preparing a token's signature needs besides the database.
pub struct TokenEnv {
    pub blobs: BlobStore,
    pub runtime: tokio::runtime::Handle,
    pub max_file: u64,
    /// How long the handle lives (`signing_handle_ttl_secs`).
    pub ttl_secs: u64,
    /// What the token's certificate must still chain to (`trust_roots_path`).
    pub trust_roots: std::sync::Arc<Vec<openssl::x509::X509>>,
}

/// `POST /tasks/{id}/sign/prepare`: the signed attributes a USB token must sign for the
/// caller's `token` credential over the document's latest version, and the handle that
/// `complete` takes back. Nothing about the document or the task changes.
pub fn prepare_token(
    conn: &mut DbConn,
    viewer: &Viewer,
    task_id: &str,
    req: &PrepareSign,
    env: &TokenEnv,
    now: NaiveDateTime,
) -> Result<PreparedSign, ApiError> {
    if !is_uuid(&req.credential_id) {
        return Err(ApiError::NotFound("signing credential"));
    }
    // The task first: nothing about a credential is said to someone with no task here.
    open_task(conn, viewer, task_id, ActionKind::Sign, now)?;
    let (cert, chain) = crate::credentials::unlock::token_certificate(
        conn,
        &env.trust_roots,
        &CredentialId(req.credential_id.clone()),
        &UserId(viewer.id.clone()),
        now,
    )?;
    let (row, attrs) = prepare_over(
        conn,
        viewer,
        task_id,
        &req.credential_id,
        (cert, chain),
        env,
        now,
    )?;
    crate::db::write_tx(conn, |conn| queries::insert_handle(conn, &row))?;
    Ok(PreparedSign {
        handle: row.id,
        hash_algorithm: "sha256".into(),
        to_sign: openssl::base64::encode_block(&attrs),
        version: row.parent_version,
        expires_at: row.expires_at,
    })
}

/// The signature of the caller's `sign` task over the document's latest version, prepared
/// for a key that is elsewhere (a USB token, a remote service): its plan (stamp, time) in a
/// handle row, not yet stored, and the DER signed attributes the key must sign.
pub(super) fn prepare_over(
    conn: &mut DbConn,
    viewer: &Viewer,
    task_id: &str,
    credential_id: &str,
    (cert, chain): (openssl::x509::X509, Vec<openssl::x509::X509>),
    env: &TokenEnv,
    now: NaiveDateTime,
) -> Result<(HandleRow, Vec<u8>), ApiError> {
    let (task, capacity, stage) = open_task(conn, viewer, task_id, ActionKind::Sign, now)?;
    let doc = crate::documents::queries::find(conn, &task.document_id)?
        .ok_or(ApiError::NotFound("task"))?;
    let settings = stage_signing(&stage)?;
    let parent = latest_version(conn, &doc.id)?;
    let image = crate::credentials::queries::find_image(conn, &Owner::User(viewer.id.clone()))?
        .map(|i| i.sha256);
    let who = Signing {
        signer_id: &viewer.id,
        signer_unit: viewer.unit_id.as_deref(),
        assignee_id: &task.assignee_id,
        capacity,
        doc: &doc,
    };
    let plan = sign_plan(conn, &who, &settings, &parent, image)?;
    let mut pdf = env.runtime.block_on(
        env.blobs
            .read_all(&parent.blob_sha256, env.max_file.saturating_mul(2)),
    )?;
    // The same rewrite `sign_and_store` makes when the signature comes back: deterministic, so
    // the signed attributes prepared now are over the very bytes completed later.
    first_signature_over(&mut pdf)?;
    let image = match plan.image_sha256() {
        Some(k) => Some(
            env.runtime
                .block_on(env.blobs.read_all(k, 4 * 1024 * 1024))?,
        ),
        None => None,
    };
    let key =
        crate::signing::ExternalSignature::new(&cert, Vec::new()).map_err(ApiError::of_signing)?;
    let signer = Signer::new(cert, chain, Box::new(key));
    let attrs = crate::signing::signed_attributes_for(&pdf, &signer, &plan.options(image, None)?)
        .map_err(ApiError::of_signing)?;
    let row = HandleRow {
        id: uuid::Uuid::new_v4().to_string(),
        task_id: task.id.clone(),
        user_id: viewer.id.clone(),
        credential_id: credential_id.to_string(),
        document_id: doc.id.clone(),
        parent_version: parent.number,
        plan: serde_json::to_string(&plan).map_err(ApiError::internal)?,
        expires_at: now + chrono::Duration::seconds(env.ttl_secs as i64),
        used_at: None,
        created_at: now,
        certs_pem: None,
        remote_transaction: None,
        remote_state: None,
        remote_reason: None,
        next_poll_at: None,
    };
    Ok((row, attrs))
}

/// A task the caller may `sign` / `issue` now: theirs (or held as a deputy in force), open, of
/// the stage kind the action is for. Answers it with the deputy's capacity and its stage.
fn open_task(
    conn: &mut DbConn,
    viewer: &Viewer,
    task_id: &str,
    action: ActionKind,
    now: NaiveDateTime,
) -> Result<(TaskRow, Option<Capacity>, StageRow), ApiError> {
    if !is_uuid(task_id) {
        return Err(ApiError::NotFound("task"));
    }
    let task = queries::task(conn, task_id)?.ok_or(ApiError::NotFound("task"))?;
    let capacity = holder(conn, viewer, &task, now)?;
    if task.status != crate::workflow::engine::TaskStatus::Pending {
        return Err(ApiError::conflict(
            ErrorCode::TaskClosed,
            format!("the task is already {}", task.status),
        ));
    }
    let stage_ids: Vec<String> = task.stage_id.iter().cloned().collect();
    let stage = queries::stages_by_id(conn, &stage_ids)?.pop();
    let wanted = match action {
        ActionKind::Sign => StageKind::Sign,
        _ => StageKind::Issue,
    };
    match stage {
        Some(stage) if stage.kind == wanted => Ok((task, capacity, stage)),
        _ => Err(not_this_stage(action)),
    }
}

/// A token's `complete`, before the route's transaction: the prepared signature `handle` of
/// this caller and task, still unused and in time, and its credential's certificate.
pub struct TokenUnlocked {
    pub cert: openssl::x509::X509,
    pub chain: Vec<openssl::x509::X509>,
    pub credential_id: String,
    pub prepared: Prepared,
}

/// Checks the handle of `…/sign/complete` (404 unless it is the caller's for this task; 409
/// once used; 422 `signing_handle_expired` after its time).
pub fn unlock_handle(
    conn: &mut DbConn,
    viewer: &Viewer,
    task_id: &str,
    handle: &str,
    roots: &[openssl::x509::X509],
    now: NaiveDateTime,
) -> Result<TokenUnlocked, ApiError> {
    let (task, _, _) = open_task(conn, viewer, task_id, ActionKind::Sign, now)?;
    if !is_uuid(handle) {
        return Err(ApiError::NotFound("signing handle"));
    }
    let row = queries::handle(conn, handle)?
        .filter(|h| h.user_id == viewer.id && h.task_id == task.id)
        .ok_or(ApiError::NotFound("signing handle"))?;
    if row.used_at.is_some() {
        return Err(handle_used());
    }
    if row.expires_at <= now {
        return Err(ApiError::Unprocessable {
            code: ErrorCode::SigningHandleExpired,
            message: "the prepared signature expired: prepare again".into(),
        });
    }
    let (cert, chain) = crate::credentials::unlock::token_certificate(
        conn,
        roots,
        &CredentialId(row.credential_id.clone()),
        &UserId(viewer.id.clone()),
        now,
    )?;
    let plan: SignPlan = serde_json::from_str(&row.plan).map_err(|_| corrupt("signature plan"))?;
    Ok(TokenUnlocked {
        cert,
        chain,
        credential_id: row.credential_id,
        prepared: Prepared {
            handle_id: row.id,
            parent_version: row.parent_version,
            plan,
        },
    })
}
