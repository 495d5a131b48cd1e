//! PAdES long-term validation (B-LT, B-LTA): extending a signed PDF with the validation data
//! of its signatures and timestamps (a DSS in a new incremental update), then, for B-LTA, a
//! document timestamp over it. Works on any signed file, ours or another signer's.
//!
//! Revocation data is fetched now, after the signature and its timestamp, from the OCSP
//! responder (else the CRL distribution point) each certificate names. Any certificate whose
//! status cannot be had fails the extension (`revocation_unavailable`) and a revoked one is
//! refused (`certificate_revoked`): the file is left as it was, never with a DSS with holes.

mod collect;
mod dss;
mod gather;

use std::path::Path;
use std::time::Duration;

use openssl::sha::Sha256;
use openssl::x509::X509;

use super::keys::Signer;
use super::options::SignOptions;
use super::pdf::source::MemSource;
use super::prepare::prepare_doc_timestamp;
use super::tsa::{self, TsaConfig};
use super::verify::signature_certificates;
use super::{sign_vec, SignReport, SigningError};

pub use dss::DssAdded;

/// A PAdES baseline level to sign at or extend to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// B-B: the signature alone.
    BB,
    /// B-T: with a signature timestamp.
    BT,
    /// B-LT: with the validation data of the signature and its timestamp (DSS).
    BLT,
    /// B-LTA: B-LT with a document timestamp over it.
    BLTA,
}

impl Level {
    /// `b-b`, `b-t`, `b-lt`, `b-lta` (any case).
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "b-b" => Some(Level::BB),
            "b-t" => Some(Level::BT),
            "b-lt" => Some(Level::BLT),
            "b-lta" => Some(Level::BLTA),
            _ => None,
        }
    }

    /// `B-B`, `B-T`, `B-LT`, `B-LTA`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::BB => "B-B",
            Level::BT => "B-T",
            Level::BLT => "B-LT",
            Level::BLTA => "B-LTA",
        }
    }
}

/// How to extend a signed file.
#[derive(Debug, Clone)]
pub struct ExtendOptions {
    /// B-LT or B-LTA (B-B and B-T are refused: there is nothing to extend to).
    pub level: Level,
    /// The TSA of the document timestamp; required for B-LTA.
    pub tsa: Option<TsaConfig>,
    /// Only the archive-timestamp chain: validation data of the last document timestamp, then a
    /// new document timestamp (renewal before that timestamp's certificate expires). Needs B-LTA.
    pub renew: bool,
    /// Timeout of each OCSP or CRL request.
    pub timeout: Duration,
}

impl ExtendOptions {
    /// Extends to `level` with 15 s per revocation request, no renewal.
    pub fn new(level: Level, tsa: Option<TsaConfig>) -> Self {
        ExtendOptions {
            level,
            tsa,
            renew: false,
            timeout: Duration::from_secs(15),
        }
    }
}

/// What an extension added.
#[derive(Debug, Clone)]
pub struct ExtendReport {
    /// The level the file was extended to.
    pub level: Level,
    /// Signatures and document timestamps whose validation data was gathered.
    pub covered: Vec<String>,
    /// New streams in the DSS.
    pub added: DssAdded,
    /// The new document timestamp's time (B-LTA), RFC 3339.
    pub doc_timestamp: Option<String>,
    /// Length of the extended file.
    pub output_len: u64,
}

/// Room for a document timestamp token: the TSA's chain and signature, with a margin.
const DOC_TIMESTAMP_RESERVE: usize = 16 * 1024;

/// Extends the PDF in `doc` by appending the update(s). On error `doc` is left as it was.
pub fn extend_vec(doc: &mut Vec<u8>, opts: &ExtendOptions) -> Result<ExtendReport, SigningError> {
    let orig_len = doc.len();
    let result = extend_steps(doc, opts);
    if result.is_err() {
        doc.truncate(orig_len);
    }
    result
}

/// Checks the options; answers the TSA of the document timestamp (B-LTA).
fn check_options(opts: &ExtendOptions) -> Result<Option<&TsaConfig>, SigningError> {
    if opts.level < Level::BLT {
        return Err(SigningError::Options(
            "a signed file is extended to b-lt or b-lta".into(),
        ));
    }
    if opts.renew && opts.level != Level::BLTA {
        return Err(SigningError::Options(
            "renewing adds a document timestamp: it needs b-lta".into(),
        ));
    }
    match (&opts.tsa, opts.level) {
        (None, Level::BLTA) => Err(SigningError::Options(
            "b-lta needs a timestamp authority (--tsa or the tsa_url setting)".into(),
        )),
        (tsa, Level::BLTA) => Ok(tsa.as_ref()),
        _ => Ok(None),
    }
}

fn extend_steps(doc: &mut Vec<u8>, opts: &ExtendOptions) -> Result<ExtendReport, SigningError> {
    let tsa_cfg = check_options(opts)?;
    let (update, covered, added) = {
        let src = MemSource(doc);
        let mut r = super::pdf::reader::Reader::open(&src)?;
        let (found, existing) = collect::read(&mut r)?;
        if !found.iter().any(|f| !f.doc_timestamp) {
            return Err(SigningError::Options(
                "the file has no signature to extend".into(),
            ));
        }
        let targets: Vec<&collect::Found> = if opts.renew {
            let last = found
                .iter()
                .rev()
                .find(|f| f.doc_timestamp)
                .ok_or_else(|| {
                    SigningError::Options(
                        "the file has no document timestamp to renew; extend it to b-lta first"
                            .into(),
                    )
                })?;
            vec![last]
        } else {
            found.iter().collect()
        };
        let mut leaves: Vec<X509> = Vec::new();
        let mut pool: Vec<X509> = existing
            .certs
            .iter()
            .filter_map(|c| X509::from_der(&c.data).ok())
            .collect();
        for t in &targets {
            let certs = signature_certificates(&t.contents, t.doc_timestamp)
                .map_err(|e| SigningError::Damaged(format!("signature `{}`: {e}", t.field)))?;
            leaves.push(certs.signer);
            leaves.extend(certs.timestamp_signer);
            pool.extend(certs.certificates);
            pool.extend(certs.timestamp_certificates);
        }
        let gathered = gather::gather(&leaves, &pool, opts.timeout)?;
        let catalog = dss::catalog(&mut r)?;
        let (mut update, added) = dss::write(&src, &r, &catalog, &existing, &gathered)?;
        if added == DssAdded::default() && existing.node.is_some() {
            // Everything fetched is already in the DSS: no update that changes nothing.
            update.clear();
        }
        let covered: Vec<String> = targets.iter().map(|t| t.field.clone()).collect();
        (update, covered, added)
    };
    doc.extend_from_slice(&update);
    let doc_timestamp = match tsa_cfg {
        Some(cfg) => Some(add_doc_timestamp(doc, cfg)?),
        None => None,
    };
    Ok(ExtendReport {
        level: opts.level,
        covered,
        added,
        doc_timestamp,
        output_len: doc.len() as u64,
    })
}

/// Appends a document timestamp over the whole of `doc`; returns its time.
fn add_doc_timestamp(doc: &mut Vec<u8>, cfg: &TsaConfig) -> Result<String, SigningError> {
    let orig_len = doc.len() as u64;
    let mut p = prepare_doc_timestamp(&MemSource(doc), DOC_TIMESTAMP_RESERVE)?;
    p.patch_byte_range(orig_len)?;
    let mut hasher = Sha256::new();
    hasher.update(doc);
    hasher.update(&p.update[..p.contents_start]);
    hasher.update(&p.update[p.contents_end..]);
    let ts = tsa::timestamp_digest(cfg, &hasher.finish())?;
    p.patch_contents(&ts.token)?;
    doc.extend_from_slice(&p.update);
    Ok(ts.time)
}

/// Extends the PDF at `input` into `output` (which may be the same path); the output appears
/// only when complete, and not at all on error.
pub fn extend_pdf(
    input: &Path,
    output: &Path,
    opts: &ExtendOptions,
) -> Result<ExtendReport, SigningError> {
    let mut doc = std::fs::read(input).map_err(|e| {
        SigningError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", input.display()),
        ))
    })?;
    let report = extend_vec(&mut doc, opts)?;
    write_atomically(output, &doc)?;
    Ok(report)
}

/// Signs `doc` at `level`: B-B or B-T as [`sign_vec`] does (B-T and up need `opts.tsa`), then
/// for B-LT and B-LTA the validation data and, for B-LTA, a document timestamp from the same
/// TSA. On error `doc` is left as it was.
pub fn sign_vec_at_level(
    doc: &mut Vec<u8>,
    signer: &Signer,
    opts: &SignOptions,
    level: Level,
) -> Result<(SignReport, Option<ExtendReport>), SigningError> {
    let orig_len = doc.len();
    check_sign_level(opts, level)?;
    let signed = sign_vec(doc, signer, opts)?;
    if level < Level::BLT {
        return Ok((signed, None));
    }
    let ext = ExtendOptions::new(level, opts.tsa.clone());
    match extend_vec(doc, &ext) {
        Ok(r) => Ok((signed, Some(r))),
        Err(e) => {
            doc.truncate(orig_len);
            Err(e)
        }
    }
}

/// B-B takes no TSA; B-T and up need one.
fn check_sign_level(opts: &SignOptions, level: Level) -> Result<(), SigningError> {
    match (level, &opts.tsa) {
        (Level::BB, Some(_)) => Err(SigningError::Options(
            "b-b takes no timestamp authority; use b-t".into(),
        )),
        (Level::BT | Level::BLT | Level::BLTA, None) => Err(SigningError::Options(format!(
            "{} needs a timestamp authority (--tsa)",
            level.as_str().to_ascii_lowercase()
        ))),
        _ => Ok(()),
    }
}

/// As [`sign_vec_at_level`] from file to file; nothing is written on error.
pub fn sign_pdf_at_level(
    input: &Path,
    output: &Path,
    signer: &Signer,
    opts: &SignOptions,
    level: Level,
) -> Result<(SignReport, Option<ExtendReport>), SigningError> {
    check_sign_level(opts, level)?;
    if level < Level::BLT {
        // Streamed from file to file, as before: a large file is not held in memory.
        return Ok((super::sign_pdf(input, output, signer, opts)?, None));
    }
    let mut doc = std::fs::read(input).map_err(|e| {
        SigningError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", input.display()),
        ))
    })?;
    let out = sign_vec_at_level(&mut doc, signer, opts, level)?;
    write_atomically(output, &doc)?;
    Ok(out)
}

/// Writes `data` to `output` through a temporary file beside it and a rename.
pub(crate) fn write_atomically(output: &Path, data: &[u8]) -> Result<(), SigningError> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out.pdf".into());
    let tmp = output.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = std::fs::write(&tmp, data).and_then(|_| std::fs::rename(&tmp, output));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_print() {
        for (text, level) in [
            ("b-b", Level::BB),
            ("B-T", Level::BT),
            ("b-lt", Level::BLT),
            ("B-LTA", Level::BLTA),
        ] {
            assert_eq!(Level::parse(text), Some(level));
            assert_eq!(Level::parse(level.as_str()), Some(level));
        }
        assert_eq!(Level::parse("lta"), None);
        assert!(Level::BT < Level::BLT && Level::BLT < Level::BLTA);
    }

    #[test]
    fn options_are_checked_before_anything_is_read_or_fetched() {
        let tsa = || Some(TsaConfig::new("http://127.0.0.1:1/tsa"));
        let code = |o: ExtendOptions| {
            let mut doc = b"not even a PDF".to_vec();
            let e = extend_vec(&mut doc, &o).unwrap_err();
            assert_eq!(doc, b"not even a PDF");
            e.code()
        };
        // Nothing to extend to; renewal without B-LTA; B-LTA without a TSA.
        assert_eq!(
            code(ExtendOptions::new(Level::BT, tsa())),
            "signing_options_invalid"
        );
        let mut renew = ExtendOptions::new(Level::BLT, None);
        renew.renew = true;
        assert_eq!(code(renew), "signing_options_invalid");
        assert_eq!(
            code(ExtendOptions::new(Level::BLTA, None)),
            "signing_options_invalid"
        );
        // Valid options reach the file, which is refused as such.
        assert_eq!(code(ExtendOptions::new(Level::BLTA, tsa())), "pdf_not_pdf");
    }

    #[test]
    fn signing_levels_and_the_tsa_go_together() {
        let with = SignOptions {
            tsa: Some(TsaConfig::new("http://127.0.0.1:1/tsa")),
            ..SignOptions::default()
        };
        let without = SignOptions::default();
        assert!(check_sign_level(&with, Level::BB).is_err());
        assert!(check_sign_level(&without, Level::BB).is_ok());
        for l in [Level::BT, Level::BLT, Level::BLTA] {
            assert!(check_sign_level(&without, l).is_err(), "{l:?}");
            assert!(check_sign_level(&with, l).is_ok(), "{l:?}");
        }
    }
}
