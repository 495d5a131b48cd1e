//! The checks that need only one signature: byte range, CMS, timestamps, trust, revocation.

use super::{
    chain, cms, raw, revocation, structure, tsp, ChainReport, ChangeLevel, Context, Coverage,
    IntegrityReport, RevocationReport, SignatureKind, SignatureReport, SignatureStatus,
    SignerReport, SignerRevocation, TimestampReport,
};
use cms::SigningCertMatch;
use lopdf::{Dictionary, Object};
use openssl::hash::MessageDigest;
use openssl::x509::X509;

/// One signature after the checks that need only itself.
pub(super) struct Checked {
    pub(super) report: SignatureReport,
    /// End of the signed range, when the layout is valid.
    pub(super) end: Option<usize>,
    /// Where the signature dictionary is in the file (orders signatures with a broken range).
    pub(super) offset: usize,
    pub(super) baseline_attrs: bool,
    pub(super) sig_timestamp_ok: bool,
    /// The file carries verified validation data (certificates and good revocation answers)
    /// for the signer's chain and its signature timestamp's TSA chain: what B-LT adds.
    pub(super) validation_data: bool,
}

pub(super) fn name(d: &Dictionary, key: &[u8]) -> Option<String> {
    d.get(key)
        .ok()
        .and_then(|o| o.as_name().ok())
        .map(|n| String::from_utf8_lossy(n).into_owned())
}

pub(super) fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
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

pub(super) fn blank(field: &str, sig: &Dictionary, kind: SignatureKind) -> SignatureReport {
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
            long_term: false,
            long_term_gaps: Vec::new(),
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
fn timestamp_report(ctx: &Context<'_>, token: &tsp::TokenCheck) -> TimestampReport {
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

/// Checks one signature on its own: byte range, CMS or timestamp token, chain, revocation.
pub(super) fn check_one(ctx: &Context<'_>, field: &structure::SigField) -> Checked {
    let sig = &field.sig;
    let doc_ts = name(sig, b"Type").as_deref() == Some("DocTimeStamp")
        || name(sig, b"SubFilter").as_deref() == Some("ETSI.RFC3161");
    let kind = if doc_ts {
        SignatureKind::DocumentTimestamp
    } else {
        SignatureKind::Signature
    };
    let mut report = blank(&field.name, sig, kind);
    report.certification = structure::docmdp_permissions(ctx.doc, sig);
    let span_start = field
        .container
        .and_then(|id| structure::offset_of(ctx.doc, id));
    let mut out = Checked {
        report,
        end: None,
        offset: span_start.unwrap_or(usize::MAX),
        baseline_attrs: false,
        sig_timestamp_ok: false,
        validation_data: false,
    };
    check_steps(ctx, sig, span_start, &mut out);
    out
}

/// Runs the checks in order into `out`, up to the first one that leaves nothing more to check.
fn check_steps(ctx: &Context<'_>, sig: &Dictionary, span_start: Option<usize>, out: &mut Checked) {
    let r = &mut out.report;
    let doc_ts = r.kind == SignatureKind::DocumentTimestamp;
    // 1. The byte range, on raw bytes.
    let layout = match check_byte_range(ctx, sig, span_start, r) {
        Ok(l) => l,
        Err(e) => {
            r.status = SignatureStatus::ByteRangeInvalid;
            r.problems.push(e);
            return;
        }
    };
    let ranges = layout.ranges(ctx.data);
    out.end = Some(layout.end);
    // 2. Revocation data.
    dss_presence(ctx, &layout.contents, r);
    // 3. The CMS.
    let sd = match cms::parse(&layout.contents) {
        Ok(sd) => sd,
        Err(e) => {
            r.status = SignatureStatus::Malformed;
            r.problems.push(format!("signature value: {e}"));
            return;
        }
    };
    cms_facts(&sd, r);
    let signer = if doc_ts {
        check_doc_timestamp(ctx, &layout.contents, &ranges, r)
    } else {
        check_cms_signer(ctx, &sd, &ranges, r)
    };
    out.baseline_attrs = signer.baseline_attrs;
    out.sig_timestamp_ok = signer.sig_timestamp_ok;
    // 4. Trust and revocation of the signer's certificate.
    if let Some(cert) = &signer.cert {
        check_trust(ctx, &sd, cert, signer.validated_at, r);
        // 5. Long-term validation data for the signer's and the timestamp's chains.
        let gaps = long_term_gaps(ctx, &sd, cert, signer.tsa.as_ref());
        out.validation_data = gaps.is_empty();
        r.revocation.long_term = out.validation_data;
        r.revocation.long_term_gaps = gaps;
    }
    r.status = status(r, &signer);
}

/// What the embedded validation data lacks for the signer's chain and the signature
/// timestamp's TSA chain (empty: everything a later validation needs is in the file).
fn long_term_gaps(
    ctx: &Context<'_>,
    sd: &cms::SignedData<'_>,
    cert: &X509,
    tsa: Option<&(X509, Vec<X509>)>,
) -> Vec<String> {
    let (ocsps, crls) = embedded_revinfo(ctx, sd);
    let ocsps: Vec<&[u8]> = ocsps.iter().map(Vec::as_slice).collect();
    let crls: Vec<&[u8]> = crls.iter().map(Vec::as_slice).collect();
    let mut helpers: Vec<X509> = sd.certificates.clone();
    helpers.extend(ctx.dss_certs.iter().cloned());
    let mut gaps = revocation::chain_gaps(cert, &helpers, ctx.trust, &ocsps, &crls);
    if let Some((tsa_cert, token_certs)) = tsa {
        let mut helpers = token_certs.clone();
        helpers.extend(ctx.dss_certs.iter().cloned());
        gaps.extend(
            revocation::chain_gaps(tsa_cert, &helpers, ctx.trust, &ocsps, &crls)
                .into_iter()
                .map(|g| format!("signature timestamp: {g}")),
        );
    }
    gaps
}

/// The OCSP responses and CRLs the file carries for this signature: its
/// adbe-revocationInfoArchival attribute and the DSS.
fn embedded_revinfo(ctx: &Context<'_>, sd: &cms::SignedData<'_>) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut ocsps, mut crls) = sd
        .signer
        .signed_attr(cms::oids::ADBE_REVOCATION_ARCHIVAL)
        .and_then(|a| a.values.first())
        .map(|v| revocation::adbe_archival(v.raw))
        .unwrap_or_default();
    if let Some(d) = ctx.dss {
        ocsps.extend(d.ocsps.iter().cloned());
        crls.extend(d.crls.iter().cloned());
    }
    (ocsps, crls)
}

/// The layout of /ByteRange and the revision it ends at; the report gets its coverage.
fn check_byte_range(
    ctx: &Context<'_>,
    sig: &Dictionary,
    span_start: Option<usize>,
    r: &mut SignatureReport,
) -> Result<raw::Layout, String> {
    let span = span_start.and_then(|off| raw::object_span(ctx.data, off));
    let layout = if r.byte_range.len() == 4 || sig.has(b"ByteRange") {
        raw::check_layout(ctx.data, &r.byte_range, span)
    } else {
        Err("the signature dictionary has no /ByteRange".into())
    }?;
    // The gap must hold this dictionary's /Contents, not some other hex string.
    let parsed = sig.get(b"Contents").ok().and_then(|c| c.as_str().ok());
    if !ctx.doc.is_encrypted() && parsed != Some(layout.contents.as_slice()) {
        return Err("the gap in /ByteRange does not hold this signature's /Contents".into());
    }
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
            return Err("the signed range does not end at a revision boundary (%%EOF)".into());
        }
    }
    r.integrity.byte_range_ok = true;
    Ok(layout)
}

/// What the DSS holds, and whether its VRI names this signature.
fn dss_presence(ctx: &Context<'_>, contents: &[u8], r: &mut SignatureReport) {
    let vri_key = cms::hash(MessageDigest::sha1(), &[contents])
        .map(|h| hex(&h).to_uppercase())
        .unwrap_or_default();
    if let Some(d) = ctx.dss {
        r.revocation.dss_ocsps = d.ocsps.len();
        r.revocation.dss_crls = d.crls.len();
        r.revocation.vri = d.vri.contains(&vri_key);
    }
}

/// What the SignedData says of itself: algorithms, signer count, archived revocation data.
fn cms_facts(sd: &cms::SignedData<'_>, r: &mut SignatureReport) {
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
}

/// What the signer check found beyond the report.
struct SignerFound {
    /// The signer's (or the TSA's) certificate, when found.
    cert: Option<X509>,
    unsupported: bool,
    /// The time the certificate is validated at: a valid timestamp's; None: now.
    validated_at: Option<chrono::DateTime<chrono::Utc>>,
    baseline_attrs: bool,
    sig_timestamp_ok: bool,
    /// The signature timestamp's TSA certificate and the token's certificates.
    tsa: Option<(X509, Vec<X509>)>,
}

/// A document timestamp: the token is the signature, its TSA the signer.
fn check_doc_timestamp(
    ctx: &Context<'_>,
    contents: &[u8],
    ranges: &[&[u8]],
    r: &mut SignatureReport,
) -> SignerFound {
    let token = tsp::check_token(contents, ranges);
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
    r.claimed_time = ts.time.clone().or(r.claimed_time.take());
    r.timestamp = Some(ts);
    SignerFound {
        cert: signer.and_then(|s| s.cert.clone()),
        unsupported: signer.is_some_and(|s| s.unsupported),
        validated_at: token.time,
        baseline_attrs: false,
        sig_timestamp_ok: false,
        tsa: None,
    }
}

/// A CMS signature: digest, signature value and signing certificate, and the signature
/// timestamp if there is one.
fn check_cms_signer(
    ctx: &Context<'_>,
    sd: &cms::SignedData<'_>,
    ranges: &[&[u8]],
    r: &mut SignatureReport,
) -> SignerFound {
    let check = cms::check_signer(sd, ranges);
    r.intact = check.digest_ok;
    r.integrity.digest_ok = check.digest_ok;
    r.integrity.signature_ok = check.signature_ok;
    r.integrity.signing_certificate = check.signing_cert;
    r.valid = check.signature_ok
        && check.cert.is_some()
        && check.signing_cert != SigningCertMatch::Mismatch;
    r.problems.extend(check.problems.iter().cloned());
    let baseline_attrs = check.signing_cert != SigningCertMatch::Absent
        && sd.signer.signed_attr(cms::oids::SIGNING_TIME).is_none();
    let mut validated_at = None;
    let mut sig_timestamp_ok = false;
    let mut tsa = None;
    if let Some(attr) = sd.signer.unsigned_attr(cms::oids::SIGNATURE_TIMESTAMP) {
        let token = match attr.values.first() {
            Some(v) => tsp::check_token(v.raw, &[sd.signer.signature]),
            None => tsp::check_token(&[], &[]),
        };
        let ts = timestamp_report(ctx, &token);
        // The level says what the file holds; trust in the TSA is reported separately.
        sig_timestamp_ok = token.intact();
        if ts.valid() {
            validated_at = token.time;
        }
        tsa = token
            .signer
            .as_ref()
            .and_then(|s| s.cert.clone())
            .map(|c| (c, token.certificates.clone()));
        r.timestamp = Some(ts);
    }
    SignerFound {
        cert: check.cert,
        unsupported: check.unsupported,
        validated_at,
        baseline_attrs,
        sig_timestamp_ok,
        tsa,
    }
}

/// The signer certificate's path, key usage and revocation, at `validated_at` (else now).
fn check_trust(
    ctx: &Context<'_>,
    sd: &cms::SignedData<'_>,
    cert: &X509,
    validated_at: Option<chrono::DateTime<chrono::Utc>>,
    r: &mut SignatureReport,
) {
    let doc_ts = r.kind == SignatureKind::DocumentTimestamp;
    let mut helpers: Vec<X509> = sd.certificates.clone();
    helpers.extend(ctx.dss_certs.iter().cloned());
    r.signer = Some(signer_report(cert));
    let when = validated_at.unwrap_or_else(chrono::Utc::now);
    let c = chain::check(cert, &helpers, ctx.trust, Some(when.timestamp()), doc_ts);
    let usage_ok = doc_ts || chain::key_usage_allows_signing(cert);
    if !usage_ok {
        r.problems
            .push("the signer certificate's key usage does not allow signatures".into());
    }
    r.trusted = c.trusted && usage_ok && r.intact && r.valid;
    let rev = check_revocation(ctx, sd, cert, &helpers, r);
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

/// The signer's revocation status from the archived (adbe) and DSS OCSP responses and CRLs.
fn check_revocation(
    ctx: &Context<'_>,
    sd: &cms::SignedData<'_>,
    cert: &X509,
    helpers: &[X509],
    r: &mut SignatureReport,
) -> revocation::Outcome {
    let (ocsps, crls) = embedded_revinfo(ctx, sd);
    let ocsps: Vec<&[u8]> = ocsps.iter().map(Vec::as_slice).collect();
    let crls: Vec<&[u8]> = crls.iter().map(Vec::as_slice).collect();
    let rev = revocation::check(cert, helpers, ctx.trust, &ocsps, &crls);
    r.revocation.covers_signer = rev.covers_signer;
    r.revocation.signer = rev.status;
    r.revocation.revoked_at = rev.revoked_at.map(rfc3339);
    rev
}

/// The status from the integrity checks; refined in `finish` once later revisions are known.
fn status(r: &SignatureReport, signer: &SignerFound) -> SignatureStatus {
    if !r.intact {
        SignatureStatus::DigestMismatch
    } else if signer.cert.is_none() || r.integrity.signing_certificate == SigningCertMatch::Mismatch
    {
        SignatureStatus::CertificateMismatch
    } else if signer.unsupported {
        SignatureStatus::Unsupported
    } else if !r.integrity.signature_ok {
        SignatureStatus::SignatureInvalid
    } else {
        SignatureStatus::Valid
    }
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
