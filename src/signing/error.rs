//! Errors of the signing engine, each with a stable machine-readable code.

/// Why a PDF could not be signed or verified.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("not a PDF: {0}")]
    NotPdf(String),
    #[error("the PDF is encrypted: {0}")]
    Encrypted(String),
    #[error("the PDF is damaged: {0}")]
    Damaged(String),
    #[error("the PDF is certified and allows no changes")]
    CertifiedNoChanges,
    /// Certified (DocMDP P=2 or 3): a visible signature must fill an existing empty field, as a
    /// new visible field breaks the certification.
    #[error("the PDF is certified: {0}")]
    CertifiedFieldRequired(String),
    #[error("unsupported PDF feature: {0}")]
    Unsupported(String),
    #[error("the PDF is too complex to read here: {0}")]
    TooComplex(String),
    #[error("signing key or certificate: {0}")]
    Key(String),
    #[error("timestamp authority: {0}")]
    Tsa(String),
    #[error("signature field: {0}")]
    Field(String),
    #[error("signature appearance: {0}")]
    Appearance(String),
    #[error("certification must be the first signature: the document is already signed")]
    CertifyNotFirst,
    /// Normalising was asked of a file that has a signature (or a certification): a signed
    /// file is never rewritten.
    #[error("the PDF already has a signature: it is never rewritten, only signed incrementally")]
    AlreadySigned,
    #[error("invalid signing options: {0}")]
    Options(String),
    /// A signature made elsewhere (a USB token) that is not the certificate key's signature of
    /// the prepared signed attributes.
    #[error("the signature does not verify: {0}")]
    BadSignature(String),
    /// A remote signing service (CSC) did not answer, or answered nonsense.
    #[error("remote signing service: {0}")]
    Remote(String),
    /// A remote signing service refused (4xx: a wrong PIN, an unknown credential).
    #[error("the remote signing service refused: {0}")]
    RemoteRefused(String),
    /// Long-term validation: an OCSP responder or CRL that a certificate names could not be
    /// reached or gave no answer that checks out; nothing was written.
    #[error("revocation information unavailable: {0}")]
    RevocationUnavailable(String),
    /// Long-term validation: the issuer says a certificate the file relies on is revoked.
    #[error("the certificate of {subject} is revoked (since {since}, reason: {reason})")]
    CertificateRevoked {
        subject: String,
        since: String,
        reason: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SigningError {
    /// Stable code for API clients and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            SigningError::NotPdf(_) => "pdf_not_pdf",
            SigningError::Encrypted(_) => "pdf_encrypted",
            SigningError::Damaged(_) => "pdf_damaged",
            SigningError::CertifiedNoChanges => "pdf_certified_no_changes",
            SigningError::CertifiedFieldRequired(_) => "pdf_certified_field_required",
            SigningError::Unsupported(_) => "pdf_unsupported",
            SigningError::TooComplex(_) => "pdf_too_complex",
            SigningError::Key(_) => "signing_key_invalid",
            SigningError::Tsa(_) => "tsa_failed",
            SigningError::Field(_) => "signature_field_invalid",
            SigningError::Appearance(_) => "signature_appearance_invalid",
            SigningError::CertifyNotFirst => "pdf_certify_not_first",
            SigningError::AlreadySigned => "pdf_already_signed",
            SigningError::Options(_) => "signing_options_invalid",
            SigningError::BadSignature(_) => "signature_invalid",
            SigningError::Remote(_) => "signing_service_unavailable",
            SigningError::RemoteRefused(_) => "signing_service_refused",
            SigningError::RevocationUnavailable(_) => "revocation_unavailable",
            SigningError::CertificateRevoked { .. } => "certificate_revoked",
            SigningError::Internal(_) => "internal_error",
            SigningError::Io(_) => "io_error",
        }
    }
}
