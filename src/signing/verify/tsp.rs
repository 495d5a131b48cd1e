//! RFC 3161 timestamp tokens: the signature-timestamp attribute and document timestamps.

use super::cms::{self, check_signer, digest, hash, oids, SignerCheck, SigningCertMatch};
use super::der::{self, DerError};
use const_oid::ObjectIdentifier;
use openssl::x509::X509;

/// A checked RFC 3161 timestamp token (before its chain is validated).
pub(crate) struct TokenCheck {
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    pub imprint_ok: bool,
    pub signer: Option<SignerCheck>,
    pub certificates: Vec<X509>,
    pub problems: Vec<String>,
}

impl TokenCheck {
    /// The token's own signature holds: digest of the TSTInfo, signature, signing certificate.
    pub fn signature_ok(&self) -> bool {
        self.signer.as_ref().is_some_and(|s| {
            s.digest_ok && s.signature_ok && s.signing_cert != SigningCertMatch::Mismatch
        })
    }

    /// The token holds and its imprint matches the timestamped data.
    pub fn intact(&self) -> bool {
        self.imprint_ok && self.signature_ok()
    }
}

/// Checks a timestamp token whose imprint must be the hash of `imprinted`.
pub(crate) fn check_token(token: &[u8], imprinted: &[&[u8]]) -> TokenCheck {
    let mut out = TokenCheck {
        time: None,
        imprint_ok: false,
        signer: None,
        certificates: Vec::new(),
        problems: Vec::new(),
    };
    let sd = match cms::parse(token) {
        Ok(sd) => sd,
        Err(e) => {
            out.problems.push(format!("timestamp token: {e}"));
            return out;
        }
    };
    out.certificates = sd.certificates.clone();
    let Some(econtent) = sd.econtent.filter(|_| sd.econtent_type == oids::TST_INFO) else {
        out.problems
            .push("timestamp token does not hold a TSTInfo".into());
        return out;
    };
    match tst_info(econtent) {
        Ok(info) => {
            out.time = Some(info.time);
            match digest(info.imprint_alg).map(|md| hash(md, imprinted)) {
                Some(Ok(h)) => {
                    out.imprint_ok = h == info.imprint;
                    if !out.imprint_ok {
                        out.problems
                            .push("timestamp imprint does not match the timestamped data".into());
                    }
                }
                _ => out.problems.push(format!(
                    "unsupported timestamp imprint hash {}",
                    info.imprint_alg
                )),
            }
        }
        Err(e) => out.problems.push(format!("bad TSTInfo: {e}")),
    }
    let signer = check_signer(&sd, &[econtent]);
    out.problems.extend(
        signer
            .problems
            .iter()
            .map(|p| format!("timestamp token: {p}")),
    );
    out.signer = Some(signer);
    out
}

/// The parts of an RFC 3161 TSTInfo that verification needs.
struct TstInfo {
    imprint_alg: ObjectIdentifier,
    imprint: Vec<u8>,
    time: chrono::DateTime<chrono::Utc>,
}

/// Parses a TSTInfo. Hand-walked because genTime may carry fractional seconds (RFC 3161
/// allows them), which strict DER GeneralizedTime decoders refuse.
fn tst_info(econtent: &[u8]) -> Result<TstInfo, DerError> {
    let (seq, _) = der::expect(econtent, 0x30, "TSTInfo")?;
    let items = der::children(seq.value)?;
    let (Some(imprint), Some(time)) = (items.get(2), items.get(4)) else {
        return Err(DerError("TSTInfo is too short".into()));
    };
    let (alg, rest) = der::expect(imprint.value, 0x30, "hashAlgorithm")?;
    let (imprint_alg, _) = der::algorithm(&alg)?;
    let (hashed, _) = der::expect(rest, 0x04, "hashedMessage")?;
    if time.tag != 0x18 {
        return Err(DerError("genTime is not a GeneralizedTime".into()));
    }
    let text = std::str::from_utf8(time.value).map_err(|_| DerError("bad genTime".into()))?;
    let text = text.strip_suffix('Z').unwrap_or(text);
    let whole = text.split('.').next().unwrap_or(text);
    let naive = chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map_err(|e| DerError(format!("bad genTime {text}: {e}")))?;
    Ok(TstInfo {
        imprint_alg,
        imprint: hashed.value.to_vec(),
        time: naive.and_utc(),
    })
}
