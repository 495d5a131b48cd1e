//! PAdES signature verification: for each signature and document timestamp of a PDF, its
//! signer, times, integrity, trust, revocation data, coverage, later changes and PAdES level.
//!
//! The /ByteRange and /Contents are checked on the raw bytes; the object structure comes from
//! lopdf; the CMS envelope is walked by hand (exact bytes) and checked with openssl.

mod chain;
pub(crate) use chain::subject as certificate_subject;
mod changes;
pub mod cli;
mod cms;
mod der;
mod raw;
mod report;
mod revocation;
mod signature;
mod structure;
mod tsp;
mod verdict;

pub use report::{
    ChainReport, ChangeLevel, Coverage, DssSummary, IntegrityReport, PadesLevel, RevocationReport,
    SignatureKind, SignatureReport, SignatureStatus, SignerReport, SignerRevocation,
    SigningCertificateCheck, TimestampReport, VerifyReport,
};

use crate::signing::pdf;
use crate::signing::SigningError;
use lopdf::{Dictionary, Document};
use openssl::x509::X509;
use std::path::Path;

/// Most memory one verification may be expected to take, by [`pdf::cost::estimate`]: the file,
/// its eager parse, and the parse of one earlier revision at a time. A 100 MB scan with two
/// signatures fits; a file of millions of tiny objects is refused (`pdf_too_complex`) before it
/// is parsed.
pub const VERIFY_BUDGET: u64 = 320 << 20;

/// More signatures than any real register document carries; bounds the work per file
/// (each signature that covers an earlier revision parses that revision once).
const MAX_SIGNATURES: usize = 200;

/// Verifies every signature of the PDF in `data` against the trust roots `trust`.
///
/// Errors only when the file cannot be read as a PDF at all (`NotPdf`, `Damaged`,
/// `Encrypted`); every problem with a signature is reported in its [`SignatureReport`].
pub fn verify_pdf(data: &[u8], trust: &[X509]) -> Result<VerifyReport, SigningError> {
    // The PDF parser is a dependency fed with hostile input: should it ever panic, the caller
    // still gets a clean error (the code below has no panicking paths of its own).
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verify_inner(data, trust)))
        .unwrap_or_else(|_| {
            Err(SigningError::Damaged(
                "the PDF structure could not be read".into(),
            ))
        })
}

fn verify_inner(data: &[u8], trust: &[X509]) -> Result<VerifyReport, SigningError> {
    check_budget(&pdf::source::MemSource(data))?;
    let doc = structure::load(data)?;
    let ends = raw::revision_ends(data);
    let fields = structure::signature_fields(&doc)?;
    if fields.len() > MAX_SIGNATURES {
        return Err(SigningError::Unsupported(format!(
            "{} signatures; at most {MAX_SIGNATURES} are verified",
            fields.len()
        )));
    }
    let dss = structure::dss(&doc, data);
    let dss_certs: Vec<X509> = dss
        .iter()
        .flat_map(|d| d.certs.iter())
        .filter_map(|c| X509::from_der(c).ok())
        .collect();
    let ctx = Context {
        data,
        doc: &doc,
        ends: &ends,
        trust,
        dss: dss.as_ref(),
        dss_certs: &dss_certs,
    };
    let mut checked: Vec<signature::Checked> = fields
        .iter()
        .map(|f| signature::check_one(&ctx, f))
        .collect();
    // A signature whose dictionary the parser could not reach (damaged or detached from the
    // form) must not silently vanish from the verdict.
    let known: Vec<&[i64]> = checked
        .iter()
        .map(|c| c.report.byte_range.as_slice())
        .collect();
    let lost: Vec<(usize, Vec<i64>)> = raw::plain_byte_ranges(data)
        .into_iter()
        .filter(|(_, br)| !known.contains(&br.as_slice()))
        .collect();
    for (pos, br) in lost {
        let mut r = signature::blank("", &Dictionary::new(), SignatureKind::Signature);
        r.byte_range = br;
        r.problems.push(format!(
            "the signature dictionary at byte {pos} cannot be read or is not in the form"
        ));
        checked.push(signature::Checked {
            report: r,
            end: None,
            offset: pos,
            baseline_attrs: false,
            sig_timestamp_ok: false,
            validation_data: false,
        });
    }
    checked.sort_by_key(|c| (c.end.unwrap_or(c.offset), c.offset));
    verdict::finish(&ctx, &mut checked);
    let signatures: Vec<SignatureReport> = checked.into_iter().map(|c| c.report).collect();
    let all_valid = !signatures.is_empty()
        && signatures
            .iter()
            .all(|s| s.status == SignatureStatus::Valid);
    Ok(VerifyReport {
        size: data.len(),
        revisions: ends.len(),
        dss: dss.map(|d| DssSummary {
            certs: d.certs.len(),
            ocsps: d.ocsps.len(),
            crls: d.crls.len(),
            vri: d.vri.len(),
        }),
        signatures,
        all_valid,
    })
}

/// Refuses a file whose eager parse (the whole file, and one signed revision beside it) would
/// take more than [`VERIFY_BUDGET`], before any of it is parsed.
fn check_budget(src: &dyn pdf::source::Source) -> Result<(), SigningError> {
    let cost = pdf::cost::estimate(src)?;
    let needed = cost.bytes().saturating_mul(2).saturating_add(src.len());
    if needed > VERIFY_BUDGET {
        return Err(SigningError::TooComplex(format!(
            "verifying it would take about {} MB, more than the {} MB a verification may use \
             (the file holds about {} tokens outside its streams)",
            needed >> 20,
            VERIFY_BUDGET >> 20,
            cost.tokens
        )));
    }
    Ok(())
}

/// Reads the PDF at `path` and verifies it (see [`verify_pdf`]).
pub fn verify_pdf_file(path: &Path, trust: &[X509]) -> Result<VerifyReport, SigningError> {
    // Priced on demand from the file first: a file too costly to parse is refused without
    // being read into memory.
    let src = pdf::source::FileSource::new(std::fs::File::open(path)?)?;
    check_budget(&src)?;
    let data = std::fs::read(path)?;
    verify_pdf(&data, trust)
}

/// The certificate checks a signing credential reuses (`credentials::certs`): the key usage
/// rule and the one-line subject of verification reports.
pub(crate) use chain::{key_usage_allows_signing, subject};
/// What long-term validation data (`signing::ltv`) reads from OCSP responses and certificates.
pub(crate) use revocation::{has_ocsp_nocheck, ocsp_response_certificates};

/// Whether `cert` chains to one of `roots` at `at` (unix seconds), with `intermediates` as
/// helpers; the error says why not, in openssl's words.
pub(crate) fn chains_to(
    cert: &X509,
    intermediates: &[X509],
    roots: &[X509],
    at: i64,
) -> Result<(), String> {
    let c = chain::check(cert, intermediates, roots, Some(at), false);
    if c.trusted {
        Ok(())
    } else {
        Err(c.error.unwrap_or_else(|| "no path to a trust root".into()))
    }
}

/// Reads trust roots from a PEM file holding one or more certificates.
pub fn load_trust_roots(path: &Path) -> Result<Vec<X509>, SigningError> {
    let pem = std::fs::read(path)?;
    let certs = X509::stack_from_pem(&pem)
        .map_err(|e| SigningError::Key(format!("trust roots {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(SigningError::Key(format!(
            "trust roots {}: no certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

struct Context<'a> {
    data: &'a [u8],
    doc: &'a Document,
    ends: &'a [raw::RevisionEnd],
    trust: &'a [X509],
    dss: Option<&'a structure::Dss>,
    dss_certs: &'a [X509],
}

/// The certificates one signature or document timestamp relies on, read from its /Contents
/// (for long-term validation data: `signing::ltv`).
pub(crate) struct SignatureCerts {
    /// The signer's certificate (the TSA's, for a document timestamp).
    pub signer: X509,
    /// Every certificate the CMS carries.
    pub certificates: Vec<X509>,
    /// The TSA certificate of the signature timestamp, if there is one.
    pub timestamp_signer: Option<X509>,
    /// The certificates the signature timestamp token carries.
    pub timestamp_certificates: Vec<X509>,
}

/// Reads the signer and its helpers from a signature's /Contents; `doc_timestamp`: the
/// contents are an RFC 3161 token.
pub(crate) fn signature_certificates(
    contents: &[u8],
    doc_timestamp: bool,
) -> Result<SignatureCerts, String> {
    let sd = cms::parse(contents).map_err(|e| e.to_string())?;
    let signer = cms::find_signer_cert(&sd)
        .ok_or_else(|| "the signer's certificate is not in the signature".to_string())?;
    let mut out = SignatureCerts {
        signer,
        certificates: sd.certificates.clone(),
        timestamp_signer: None,
        timestamp_certificates: Vec::new(),
    };
    if doc_timestamp {
        return Ok(out);
    }
    if let Some(token) = sd
        .signer
        .unsigned_attr(cms::oids::SIGNATURE_TIMESTAMP)
        .and_then(|a| a.values.first())
    {
        let tsd = cms::parse(token.raw).map_err(|e| format!("signature timestamp: {e}"))?;
        out.timestamp_signer = Some(
            cms::find_signer_cert(&tsd)
                .ok_or_else(|| "the TSA certificate is not in the timestamp".to_string())?,
        );
        out.timestamp_certificates = tsd.certificates.clone();
    }
    Ok(out)
}
