//! PAdES signature verification: for each signature and document timestamp of a PDF, its
//! signer, times, integrity, trust, revocation data, coverage, later changes and PAdES level.
//!
//! The /ByteRange and /Contents are checked on the raw bytes; the object structure comes from
//! lopdf; the CMS envelope is walked by hand (exact bytes) and checked with openssl.

mod chain;
mod changes;
pub mod cli;
mod cms;
mod der;
mod raw;
mod report;
mod revocation;
mod structure;

pub use report::{
    ChainReport, ChangeLevel, Coverage, DssSummary, IntegrityReport, PadesLevel, RevocationReport,
    SignatureKind, SignatureReport, SignatureStatus, SignerReport, SignerRevocation,
    SigningCertificateCheck, TimestampReport, VerifyReport,
};

use crate::signing::SigningError;
use cms::SigningCertMatch;
use lopdf::{Dictionary, Document, Object};
use openssl::hash::MessageDigest;
use openssl::x509::X509;
use std::collections::HashMap;
use std::path::Path;

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
    let doc = structure::load(data)?;
    let ends = raw::revision_ends(data);
    let fields = structure::signature_fields(&doc)?;
    if fields.len() > MAX_SIGNATURES {
        return Err(SigningError::Unsupported(format!(
            "{} signatures; at most {MAX_SIGNATURES} are verified",
            fields.len()
        )));
    }
    let dss = structure::dss(&doc);
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
    let mut checked: Vec<Checked> = fields.iter().map(|f| check_one(&ctx, f)).collect();
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
        let mut r = blank("", &Dictionary::new(), SignatureKind::Signature);
        r.byte_range = br;
        r.problems.push(format!(
            "the signature dictionary at byte {pos} cannot be read or is not in the form"
        ));
        checked.push(Checked {
            report: r,
            end: None,
            offset: pos,
            baseline_attrs: false,
            sig_timestamp_ok: false,
        });
    }
    checked.sort_by_key(|c| (c.end.unwrap_or(c.offset), c.offset));
    finish(&ctx, &mut checked);
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

/// Reads the PDF at `path` and verifies it (see [`verify_pdf`]).
pub fn verify_pdf_file(path: &Path, trust: &[X509]) -> Result<VerifyReport, SigningError> {
    let data = std::fs::read(path)?;
    verify_pdf(&data, trust)
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

/// One signature after the checks that need only itself.
struct Checked {
    report: SignatureReport,
    /// End of the signed range, when the layout is valid.
    end: Option<usize>,
    /// Where the signature dictionary is in the file (orders signatures with a broken range).
    offset: usize,
    baseline_attrs: bool,
    sig_timestamp_ok: bool,
}

fn name(d: &Dictionary, key: &[u8]) -> Option<String> {
    d.get(key)
        .ok()
        .and_then(|o| o.as_name().ok())
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Parses a PDF date `D:YYYYMMDDHHmmSSOHH'mm'` (trailing parts optional) to RFC 3339.
fn pdf_date(raw: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(raw);
    let s = s.strip_prefix("D:").unwrap_or(&s);
    let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.len() < 4 {
        return None;
    }
    let part = |from: usize, len: usize, default: u32| -> Option<u32> {
        match digits.get(from..from + len) {
            Some(p) => p.parse().ok(),
            None if from >= digits.len() => Some(default),
            None => None,
        }
    };
    let year = i32::try_from(part(0, 4, 0)?).ok()?;
    let (mo, d, h, mi, se) = (
        part(4, 2, 1)?,
        part(6, 2, 1)?,
        part(8, 2, 0)?,
        part(10, 2, 0)?,
        part(12, 2, 0)?,
    );
    let rest = &s[digits.len()..];
    let offset_secs = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let nums: Vec<i32> = rest[1..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.parse().ok())
                .collect();
            let secs =
                nums.first().copied().unwrap_or(0) * 3600 + nums.get(1).copied().unwrap_or(0) * 60;
            if sign == '-' {
                -secs
            } else {
                secs
            }
        }
        _ => 0,
    };
    let tz = chrono::FixedOffset::east_opt(offset_secs)?;
    let date = chrono::NaiveDate::from_ymd_opt(year, mo, d)?.and_hms_opt(h, mi, se)?;
    let dt = date.and_local_timezone(tz).single()?;
    Some(dt.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn signer_report(cert: &X509) -> SignerReport {
    SignerReport {
        common_name: chain::common_name(cert),
        subject: chain::subject(cert),
        issuer: cert
            .issuer_name()
            .entries()
            .map(|e| {
                format!(
                    "{}={}",
                    e.object().nid().short_name().unwrap_or("?"),
                    e.data().to_string().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        serial: cms::serial_hex(cert),
        sha256: cert
            .digest(MessageDigest::sha256())
            .map(|d| hex(&d))
            .unwrap_or_default(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn blank(field: &str, sig: &Dictionary, kind: SignatureKind) -> SignatureReport {
    let byte_range = match sig.get(b"ByteRange") {
        Ok(Object::Array(a)) => a.iter().filter_map(|o| o.as_i64().ok()).collect(),
        _ => Vec::new(),
    };
    SignatureReport {
        field: field.to_string(),
        kind,
        sub_filter: name(sig, b"SubFilter"),
        status: SignatureStatus::Malformed,
        intact: false,
        valid: false,
        trusted: false,
        signer: None,
        claimed_time: sig
            .get(b"M")
            .ok()
            .and_then(|m| m.as_str().ok())
            .and_then(pdf_date),
        timestamp: None,
        integrity: IntegrityReport {
            byte_range_ok: false,
            digest_ok: false,
            signature_ok: false,
            signing_certificate: SigningCertMatch::Absent,
            digest_algorithm: None,
            signature_algorithm: None,
        },
        chain: None,
        revocation: RevocationReport {
            present: false,
            dss_ocsps: 0,
            dss_crls: 0,
            vri: false,
            adbe_archival: false,
            covers_signer: false,
            signer: SignerRevocation::Unknown,
            revoked_at: None,
        },
        byte_range,
        coverage: Coverage::Invalid,
        signed_revision: None,
        changes_after: ChangeLevel::Other,
        change_details: Vec::new(),
        pades_level: None,
        certification: None,
        problems: Vec::new(),
    }
}

/// Validates a timestamp token's TSA certificate path at the token's time.
fn timestamp_report(ctx: &Context<'_>, token: &cms::TokenCheck) -> TimestampReport {
    let tsa = token.signer.as_ref().and_then(|s| s.cert.clone());
    let mut problems = token.problems.clone();
    let trusted = match &tsa {
        Some(cert) => {
            let mut helpers = token.certificates.clone();
            helpers.extend(ctx.dss_certs.iter().cloned());
            let at = token.time.map(|t| t.timestamp());
            let c = chain::check(cert, &helpers, ctx.trust, at, true);
            if let Some(e) = c.error {
                problems.push(format!("TSA certificate: {e}"));
            }
            c.trusted
        }
        None => false,
    };
    TimestampReport {
        time: token.time.map(rfc3339),
        imprint_ok: token.imprint_ok,
        signature_ok: token.signature_ok(),
        trusted,
        tsa: tsa.as_ref().map(|c| chain::subject(c)),
        problems,
    }
}

fn check_one(ctx: &Context<'_>, field: &structure::SigField) -> Checked {
    let sig = &field.sig;
    let doc_ts = name(sig, b"Type").as_deref() == Some("DocTimeStamp")
        || name(sig, b"SubFilter").as_deref() == Some("ETSI.RFC3161");
    let kind = if doc_ts {
        SignatureKind::DocumentTimestamp
    } else {
        SignatureKind::Signature
    };
    let mut r = blank(&field.name, sig, kind);
    r.certification = structure::docmdp_permissions(ctx.doc, sig);
    let span_start = field
        .container
        .and_then(|id| structure::offset_of(ctx.doc, id));
    let mut out = Checked {
        report: r.clone(),
        end: None,
        offset: span_start.unwrap_or(usize::MAX),
        baseline_attrs: false,
        sig_timestamp_ok: false,
    };
    // 1. The byte range, on raw bytes.
    let span = field
        .container
        .and_then(|id| structure::offset_of(ctx.doc, id))
        .and_then(|off| raw::object_span(ctx.data, off));
    let layout = if r.byte_range.len() == 4 || sig.has(b"ByteRange") {
        raw::check_layout(ctx.data, &r.byte_range, span)
    } else {
        Err("the signature dictionary has no /ByteRange".into())
    };
    let layout = match layout {
        Ok(l) => {
            // The gap must hold this dictionary's /Contents, not some other hex string.
            let parsed = sig.get(b"Contents").ok().and_then(|c| c.as_str().ok());
            if ctx.doc.is_encrypted() || parsed == Some(l.contents.as_slice()) {
                Ok(l)
            } else {
                Err("the gap in /ByteRange does not hold this signature's /Contents".into())
            }
        }
        Err(e) => Err(e),
    };
    let layout = match layout {
        Ok(l) => l,
        Err(e) => {
            r.status = SignatureStatus::ByteRangeInvalid;
            r.problems.push(e);
            out.report = r;
            return out;
        }
    };
    r.integrity.byte_range_ok = true;
    let ranges = layout.ranges(ctx.data);
    let trailing_blank = ctx.data[layout.end..]
        .iter()
        .all(|b| b.is_ascii_whitespace() || *b == 0);
    match raw::revision_at(ctx.ends, layout.end) {
        _ if trailing_blank => {
            r.coverage = Coverage::WholeFile;
            r.changes_after = ChangeLevel::None;
            r.signed_revision = Some(ctx.ends.len().max(1));
        }
        Some(i) => {
            r.coverage = Coverage::EarlierRevision;
            r.signed_revision = Some(i + 1);
        }
        None => {
            r.integrity.byte_range_ok = false;
            r.status = SignatureStatus::ByteRangeInvalid;
            r.problems
                .push("the signed range does not end at a revision boundary (%%EOF)".into());
            out.report = r;
            return out;
        }
    }
    out.end = Some(layout.end);
    // 2. Revocation data.
    let vri_key = cms::hash(MessageDigest::sha1(), &[&layout.contents])
        .map(|h| hex(&h).to_uppercase())
        .unwrap_or_default();
    if let Some(d) = ctx.dss {
        r.revocation.dss_ocsps = d.ocsps.len();
        r.revocation.dss_crls = d.crls.len();
        r.revocation.vri = d.vri.contains(&vri_key);
    }
    // 3. The CMS.
    let sd = match cms::parse(&layout.contents) {
        Ok(sd) => sd,
        Err(e) => {
            r.status = SignatureStatus::Malformed;
            r.problems.push(format!("signature value: {e}"));
            out.report = r;
            return out;
        }
    };
    r.integrity.digest_algorithm = Some(cms::digest_name(sd.signer.digest_alg));
    r.integrity.signature_algorithm = Some(cms::mechanism_name(&sd.signer));
    if sd.signer_count != 1 {
        r.problems.push(format!(
            "{} signer infos; only the first is checked",
            sd.signer_count
        ));
    }
    r.revocation.adbe_archival = sd
        .signer
        .signed_attr(cms::oids::ADBE_REVOCATION_ARCHIVAL)
        .is_some();
    r.revocation.present =
        r.revocation.dss_ocsps + r.revocation.dss_crls > 0 || r.revocation.adbe_archival;
    let mut helpers: Vec<X509> = sd.certificates.clone();
    helpers.extend(ctx.dss_certs.iter().cloned());

    let (signer_cert, unsupported, validated_at) = if doc_ts {
        let token = cms::check_token(&layout.contents, &ranges);
        let ts = timestamp_report(ctx, &token);
        let signer = token.signer.as_ref();
        r.intact = token.imprint_ok && signer.is_some_and(|s| s.digest_ok);
        r.integrity.digest_ok = r.intact;
        r.integrity.signature_ok = signer.is_some_and(|s| s.signature_ok);
        let m = signer
            .map(|s| s.signing_cert)
            .unwrap_or(SigningCertMatch::Absent);
        r.integrity.signing_certificate = m;
        r.valid = r.integrity.signature_ok
            && m != SigningCertMatch::Mismatch
            && signer.is_some_and(|s| s.cert.is_some());
        r.problems.extend(token.problems.iter().cloned());
        r.claimed_time = ts.time.clone().or(r.claimed_time);
        let cert = signer.and_then(|s| s.cert.clone());
        let unsupported = signer.is_some_and(|s| s.unsupported);
        let at = token.time;
        r.timestamp = Some(ts);
        (cert, unsupported, at)
    } else {
        let check = cms::check_signer(&sd, &ranges);
        r.intact = check.digest_ok;
        r.integrity.digest_ok = check.digest_ok;
        r.integrity.signature_ok = check.signature_ok;
        r.integrity.signing_certificate = check.signing_cert;
        r.valid = check.signature_ok
            && check.cert.is_some()
            && check.signing_cert != SigningCertMatch::Mismatch;
        r.problems.extend(check.problems.iter().cloned());
        out.baseline_attrs = check.signing_cert != SigningCertMatch::Absent
            && sd.signer.signed_attr(cms::oids::SIGNING_TIME).is_none();
        let mut at = None;
        if let Some(attr) = sd.signer.unsigned_attr(cms::oids::SIGNATURE_TIMESTAMP) {
            let token = match attr.values.first() {
                Some(v) => cms::check_token(v.raw, &[sd.signer.signature]),
                None => cms::check_token(&[], &[]),
            };
            let ts = timestamp_report(ctx, &token);
            // The level says what the file holds; trust in the TSA is reported separately.
            out.sig_timestamp_ok = token.intact();
            if ts.valid() {
                at = token.time;
            }
            r.timestamp = Some(ts);
        }
        (check.cert, check.unsupported, at)
    };
    if let Some(cert) = &signer_cert {
        r.signer = Some(signer_report(cert));
        let when = validated_at.unwrap_or_else(chrono::Utc::now);
        let c = chain::check(cert, &helpers, ctx.trust, Some(when.timestamp()), doc_ts);
        let usage_ok = doc_ts || chain::key_usage_allows_signing(cert);
        if !usage_ok {
            r.problems
                .push("the signer certificate's key usage does not allow signatures".into());
        }
        r.trusted = c.trusted && usage_ok && r.intact && r.valid;
        let (adbe_ocsps, adbe_crls) = sd
            .signer
            .signed_attr(cms::oids::ADBE_REVOCATION_ARCHIVAL)
            .and_then(|a| a.values.first())
            .map(|v| revocation::adbe_archival(v.raw))
            .unwrap_or_default();
        let dss_ocsps = ctx.dss.map(|d| d.ocsps.as_slice()).unwrap_or_default();
        let dss_crls = ctx.dss.map(|d| d.crls.as_slice()).unwrap_or_default();
        let ocsps: Vec<&[u8]> = adbe_ocsps
            .iter()
            .chain(dss_ocsps)
            .map(Vec::as_slice)
            .collect();
        let crls: Vec<&[u8]> = adbe_crls
            .iter()
            .chain(dss_crls)
            .map(Vec::as_slice)
            .collect();
        let rev = revocation::check(cert, &helpers, ctx.trust, &ocsps, &crls);
        r.revocation.covers_signer = rev.covers_signer;
        r.revocation.signer = rev.status;
        r.revocation.revoked_at = rev.revoked_at.map(rfc3339);
        // Revoked after a trusted timestamp, the signature stands; before it (or with no
        // proof of time), it does not.
        if rev.status == SignerRevocation::Revoked && rev.revoked_at.is_none_or(|t| t <= when) {
            r.trusted = false;
            r.problems.push(format!(
                "the signer's certificate is revoked (since {})",
                r.revocation
                    .revoked_at
                    .as_deref()
                    .unwrap_or("an unknown time")
            ));
        }
        if let Some(e) = &c.error {
            r.problems.push(format!("certificate path: {e}"));
        }
        r.chain = Some(ChainReport {
            trusted: c.trusted,
            validated_at: rfc3339(when),
            error: c.error,
            path: c.path,
        });
    }
    r.status = if !r.intact {
        SignatureStatus::DigestMismatch
    } else if signer_cert.is_none() || r.integrity.signing_certificate == SigningCertMatch::Mismatch
    {
        SignatureStatus::CertificateMismatch
    } else if unsupported {
        SignatureStatus::Unsupported
    } else if !r.integrity.signature_ok {
        SignatureStatus::SignatureInvalid
    } else {
        // Refined in `finish` once later revisions are known.
        SignatureStatus::Valid
    };
    out.report = r;
    out
}

/// Checks that need all signatures: what changed after each one, the PAdES level, the
/// final status.
fn finish(ctx: &Context<'_>, all: &mut [Checked]) {
    let mut cache: HashMap<usize, changes::Changes> = HashMap::new();
    let last_end = ctx.ends.last().map(|e| e.eol).unwrap_or(0);
    let junk_after_eof = ctx.data[last_end.min(ctx.data.len())..]
        .iter()
        .any(|b| !(b.is_ascii_whitespace() || *b == 0));
    let doc_ts_ends: Vec<usize> = all
        .iter()
        .filter(|c| c.report.kind == SignatureKind::DocumentTimestamp && c.report.intact)
        .filter_map(|c| c.end)
        .collect();
    let regular_ends: Vec<usize> = all
        .iter()
        .filter(|c| c.report.kind == SignatureKind::Signature)
        .filter_map(|c| c.end)
        .collect();
    let dss_present = ctx
        .dss
        .is_some_and(|d| !d.certs.is_empty() || !d.ocsps.is_empty() || !d.crls.is_empty());
    for c in all.iter_mut() {
        let r = &mut c.report;
        let Some(end) = c.end else { continue };
        let mut fields_added = false;
        if r.coverage == Coverage::EarlierRevision {
            let found = cache
                .entry(end)
                .or_insert_with(|| changes_after(ctx, end, junk_after_eof))
                .clone();
            r.changes_after = found.level;
            r.change_details = found.details;
            fields_added = found.fields_added;
        }
        if r.kind == SignatureKind::Signature {
            let pades = name_is(r.sub_filter.as_deref(), "ETSI.CAdES.detached");
            let later_doc_ts = doc_ts_ends.iter().any(|e| *e > end);
            r.pades_level = Some(if !pades {
                PadesLevel::NotPades
            } else if !c.baseline_attrs {
                PadesLevel::NotBaseline
            } else if !(c.sig_timestamp_ok || later_doc_ts) {
                PadesLevel::BB
            } else if !dss_present {
                PadesLevel::BT
            } else if !later_doc_ts {
                PadesLevel::BLT
            } else {
                PadesLevel::BLTA
            });
        }
        // Certified with P=1: only DSS data and document timestamps may follow. Under any
        // certification no new form fields may be created (signing fills existing ones).
        let later_signature = regular_ends.iter().any(|e| *e > end);
        let docmdp_broken = match r.certification {
            Some(1) if later_signature => {
                r.problems.push(
                    "certified with no changes allowed (DocMDP P=1), yet signed again".into(),
                );
                true
            }
            // ISO 32000 lets P=3 add annotations; creating form fields after certifying is
            // still refused by validators (pyHanko, Acrobat), so it is refused here too.
            Some(p) if fields_added => {
                r.problems.push(format!(
                    "certified with DocMDP P={p}, yet new form fields were created after it"
                ));
                true
            }
            _ => false,
        };
        if r.status == SignatureStatus::Valid {
            // A token that does not hold is a broken timestamp; one by an unknown TSA only
            // makes the signature untrusted.
            let ts_broken = r.kind == SignatureKind::Signature
                && r.timestamp
                    .as_ref()
                    .is_some_and(|t| !(t.imprint_ok && t.signature_ok));
            let ts_untrusted = r.timestamp.as_ref().is_some_and(|t| !t.trusted);
            if r.changes_after == ChangeLevel::Other || docmdp_broken {
                r.status = SignatureStatus::ModifiedAfterSigning;
                r.problems
                    .push("the document was changed after this signature".into());
            } else if ts_broken {
                r.status = SignatureStatus::TimestampInvalid;
            } else if !r.trusted || ts_untrusted {
                r.status = SignatureStatus::Untrusted;
            }
        }
    }
}

fn name_is(v: Option<&str>, expected: &str) -> bool {
    v == Some(expected)
}

/// Compares the revision ending at `end` with the whole file.
fn changes_after(ctx: &Context<'_>, end: usize, junk: bool) -> changes::Changes {
    let mut found = match structure::load(&ctx.data[..end]) {
        Ok(old) => changes::compare(&old, ctx.doc),
        Err(e) => changes::Changes {
            level: ChangeLevel::Other,
            details: vec![format!("the signed revision cannot be read: {e}")],
            fields_added: false,
        },
    };
    if junk {
        found.level = ChangeLevel::Other;
        found
            .details
            .push("data that is not a PDF revision follows the last %%EOF".into());
    }
    found
}

#[cfg(test)]
mod tests {
    use super::pdf_date;

    #[test]
    fn pdf_dates_parse_with_offsets() {
        assert_eq!(
            pdf_date(b"D:20261127140509+07'00'").as_deref(),
            Some("2026-11-27T14:05:09+07:00")
        );
        assert_eq!(
            pdf_date(b"D:20261127140509Z").as_deref(),
            Some("2026-11-27T14:05:09Z")
        );
        assert_eq!(pdf_date(b"D:2026").as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(pdf_date(b"garbage"), None);
    }
}
