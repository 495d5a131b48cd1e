//! The verification report: what a user (or the API) is told about each signature.

pub use super::changes::ChangeLevel;
pub use super::revocation::SignerRevocation;
use serde::Serialize;

/// The verdict on a whole file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// File size in bytes.
    pub size: usize,
    /// Number of revisions (`%%EOF` markers) in the file.
    pub revisions: usize,
    /// The Document Security Store of the final revision, if any.
    pub dss: Option<DssSummary>,
    /// Every signature and document timestamp, in file order.
    pub signatures: Vec<SignatureReport>,
    /// True when there is at least one signature and every one is intact, valid and trusted
    /// with nothing but signatures/DSS/timestamps added after it.
    pub all_valid: bool,
}

/// Counts from the /DSS dictionary.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DssSummary {
    pub certs: usize,
    pub ocsps: usize,
    pub crls: usize,
    pub vri: usize,
}

/// A regular signature or a document timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureKind {
    Signature,
    DocumentTimestamp,
}

/// The one named verdict for a signature; the first problem found, in this order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    /// Intact, valid, trusted; later revisions only add signatures, DSS data or timestamps.
    Valid,
    /// The /ByteRange does not start at 0, overlaps, leaves the file, or its gap is not
    /// exactly the /Contents string of the signature dictionary.
    ByteRangeInvalid,
    /// The signature value cannot be parsed as CMS SignedData.
    Malformed,
    /// The bytes in the signed ranges were changed: their digest differs from message-digest.
    DigestMismatch,
    /// The certificate in the CMS is not the one the signer signed for (signing-certificate-v2
    /// mismatch, or no certificate matching the signer identifier).
    CertificateMismatch,
    /// The signature over the signed attributes does not verify with the signer's key.
    SignatureInvalid,
    /// An algorithm this verifier does not support.
    Unsupported,
    /// The file was changed after the signature in ways other than signing/archiving.
    ModifiedAfterSigning,
    /// The signature's own timestamp token is broken (imprint, signature or trust).
    TimestampInvalid,
    /// Intact and valid, but the certificate does not chain to the given trust roots.
    Untrusted,
}

/// Which part of the file a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// From byte 0 to the end of the file.
    WholeFile,
    /// A complete earlier revision; later incremental updates are not covered.
    EarlierRevision,
    /// Neither: the signed range does not end at a revision boundary, or is invalid.
    Invalid,
}

/// PAdES baseline level, guessed from the signature and the file's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum PadesLevel {
    #[serde(rename = "B-B")]
    BB,
    #[serde(rename = "B-T")]
    BT,
    #[serde(rename = "B-LT")]
    BLT,
    #[serde(rename = "B-LTA")]
    BLTA,
    /// CAdES-detached but without the baseline attributes (signing-certificate(-v2)) or with a
    /// forbidden signing-time attribute.
    #[serde(rename = "not baseline")]
    NotBaseline,
    /// Not a PAdES signature (adbe.pkcs7.detached and other legacy sub-filters).
    #[serde(rename = "not PAdES")]
    NotPades,
}

/// Who signed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignerReport {
    pub common_name: Option<String>,
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// SHA-256 of the certificate, hex.
    pub sha256: String,
}

/// Integrity of the signed bytes and the CMS signature.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrityReport {
    /// The /ByteRange is well formed and its gap is exactly /Contents.
    pub byte_range_ok: bool,
    /// The recomputed digest equals the message-digest attribute (or the TSTInfo imprint).
    pub digest_ok: bool,
    /// The CMS signature verifies with the signer certificate's key.
    pub signature_ok: bool,
    /// ESS signing-certificate(-v2) compared with the signer certificate.
    pub signing_certificate: SigningCertificateCheck,
    pub digest_algorithm: Option<String>,
    pub signature_algorithm: Option<String>,
}

/// The ESS signing-certificate(-v2) attribute compared with the signer certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SigningCertificateCheck {
    /// The attribute's hash is the signer certificate's.
    Match,
    /// It names another certificate (or cannot be read): a swapped certificate.
    Mismatch,
    /// No such attribute (legal for adbe.pkcs7.detached, not for PAdES).
    Absent,
}

/// The certificate path check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    pub trusted: bool,
    /// When the path was validated (RFC 3339): the timestamp's time if a valid one exists,
    /// otherwise the time of verification.
    pub validated_at: String,
    pub error: Option<String>,
    /// Subjects from the signer to the trust anchor.
    pub path: Vec<String>,
}

/// A timestamp token: the signature-timestamp attribute, or the document timestamp itself.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimestampReport {
    /// genTime of the token (RFC 3339, UTC).
    pub time: Option<String>,
    /// The imprint matches the signature value (or the byte ranges for a document timestamp).
    pub imprint_ok: bool,
    /// The token's own CMS signature and digest hold.
    pub signature_ok: bool,
    /// The TSA certificate chains to the trust roots (with the time-stamping key usage).
    pub trusted: bool,
    pub tsa: Option<String>,
    pub problems: Vec<String>,
}

impl TimestampReport {
    /// Imprint, signature and trust all hold.
    pub fn valid(&self) -> bool {
        self.imprint_ok && self.signature_ok && self.trusted
    }
}

/// Revocation data available for long-term validation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevocationReport {
    /// Some OCSP response or CRL is embedded (DSS or adbe-revocationInfoArchival).
    pub present: bool,
    pub dss_ocsps: usize,
    pub dss_crls: usize,
    /// The DSS has a /VRI entry for this signature.
    pub vri: bool,
    /// The CMS carries the adbe-revocationInfoArchival signed attribute.
    pub adbe_archival: bool,
    /// Some embedded OCSP response or CRL is about the signer's certificate.
    pub covers_signer: bool,
    /// What the verified embedded data says about the signer's certificate (nothing is
    /// fetched; OCSP must chain to the trust roots, a CRL must be signed by the issuer).
    pub signer: SignerRevocation,
    /// When the signer's certificate was revoked, if it was (RFC 3339).
    pub revoked_at: Option<String>,
    /// The file carries verified validation data for the signer's chain and the signature
    /// timestamp's TSA chain (every certificate up to a trust root has an embedded OCSP
    /// response or CRL saying it is good): what PAdES B-LT needs.
    pub long_term: bool,
    /// What is missing for that, in plain words (empty when `long_term`).
    pub long_term_gaps: Vec<String>,
}

/// Everything checked about one signature.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SignatureReport {
    /// Fully qualified field name.
    pub field: String,
    pub kind: SignatureKind,
    pub sub_filter: Option<String>,
    pub status: SignatureStatus,
    /// Digest over the byte ranges matches (pyHanko's "intact").
    pub intact: bool,
    /// The CMS signature verifies and the signing certificate matches (pyHanko's "valid").
    pub valid: bool,
    /// The signer's certificate chains to a trust root.
    pub trusted: bool,
    pub signer: Option<SignerReport>,
    /// The signer's claimed signing time (/M), RFC 3339 when it parses.
    pub claimed_time: Option<String>,
    pub timestamp: Option<TimestampReport>,
    pub integrity: IntegrityReport,
    pub chain: Option<ChainReport>,
    pub revocation: RevocationReport,
    /// The /ByteRange as found.
    pub byte_range: Vec<i64>,
    pub coverage: Coverage,
    /// 1-based revision the signature covers, when it ends at a revision boundary.
    pub signed_revision: Option<usize>,
    pub changes_after: ChangeLevel,
    /// The changed objects that make `changes_after` `other`.
    pub change_details: Vec<String>,
    pub pades_level: Option<PadesLevel>,
    /// DocMDP permissions (1 = no changes, 2 = form filling and signing, 3 = also
    /// annotations) when this is a certification signature.
    pub certification: Option<i64>,
    /// Every problem found, in plain words.
    pub problems: Vec<String>,
}
