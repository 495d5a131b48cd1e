//! CMS SignedData (RFC 5652) as used by PAdES signatures and RFC 3161 timestamp tokens:
//! parsing the envelope, checking the message digest, the signer's signature, the ESS
//! signing-certificate attribute and timestamp tokens. Cryptography is openssl's.

use super::der::{self, DerError, Tlv};
use const_oid::ObjectIdentifier;
use openssl::bn::BigNum;
use openssl::hash::{Hasher, MessageDigest};
use openssl::pkey::{Id, PKey, Public};
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use openssl::x509::X509;

pub(crate) mod oids {
    use const_oid::ObjectIdentifier as O;
    pub const SIGNED_DATA: O = O::new_unwrap("1.2.840.113549.1.7.2");
    pub const MESSAGE_DIGEST: O = O::new_unwrap("1.2.840.113549.1.9.4");
    pub const SIGNING_TIME: O = O::new_unwrap("1.2.840.113549.1.9.5");
    pub const SIGNING_CERTIFICATE: O = O::new_unwrap("1.2.840.113549.1.9.16.2.12");
    pub const SIGNING_CERTIFICATE_V2: O = O::new_unwrap("1.2.840.113549.1.9.16.2.47");
    pub const SIGNATURE_TIMESTAMP: O = O::new_unwrap("1.2.840.113549.1.9.16.2.14");
    pub const TST_INFO: O = O::new_unwrap("1.2.840.113549.1.9.16.1.4");
    pub const ADBE_REVOCATION_ARCHIVAL: O = O::new_unwrap("1.2.840.113583.1.1.8");
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub const SHA224: O = O::new_unwrap("2.16.840.1.101.3.4.2.4");
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub const RSA: O = O::new_unwrap("1.2.840.113549.1.1.1");
    pub const RSA_SHA1: O = O::new_unwrap("1.2.840.113549.1.1.5");
    pub const RSA_PSS: O = O::new_unwrap("1.2.840.113549.1.1.10");
    pub const RSA_SHA256: O = O::new_unwrap("1.2.840.113549.1.1.11");
    pub const RSA_SHA384: O = O::new_unwrap("1.2.840.113549.1.1.12");
    pub const RSA_SHA512: O = O::new_unwrap("1.2.840.113549.1.1.13");
    pub const RSA_SHA224: O = O::new_unwrap("1.2.840.113549.1.1.14");
    pub const MGF1: O = O::new_unwrap("1.2.840.113549.1.1.8");
    pub const EC_PUBLIC_KEY: O = O::new_unwrap("1.2.840.10045.2.1");
    pub const ECDSA_SHA1: O = O::new_unwrap("1.2.840.10045.4.1");
    pub const ECDSA_SHA224: O = O::new_unwrap("1.2.840.10045.4.3.1");
    pub const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");
}

/// One attribute (signed or unsigned) with its raw values.
#[derive(Debug, Clone)]
pub(crate) struct Attribute<'a> {
    pub oid: ObjectIdentifier,
    pub values: Vec<Tlv<'a>>,
}

/// How the SignerInfo names its certificate.
#[derive(Debug, Clone)]
pub(crate) enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

/// The first SignerInfo of a SignedData, with the exact bytes needed for verification.
#[derive(Debug, Clone)]
pub(crate) struct SignerInfo<'a> {
    pub sid: SignerId<'a>,
    pub digest_alg: ObjectIdentifier,
    /// DER of the signed attributes re-tagged as SET OF (0x31): what the signature covers.
    pub signed_attrs_der: Option<Vec<u8>>,
    pub signed_attrs: Vec<Attribute<'a>>,
    pub sig_alg: ObjectIdentifier,
    pub sig_params: Option<Tlv<'a>>,
    pub signature: &'a [u8],
    pub unsigned_attrs: Vec<Attribute<'a>>,
}

/// A parsed SignedData.
pub(crate) struct SignedData<'a> {
    pub econtent_type: ObjectIdentifier,
    pub econtent: Option<&'a [u8]>,
    pub certificates: Vec<X509>,
    pub signer: SignerInfo<'a>,
    pub signer_count: usize,
}

impl SignerInfo<'_> {
    pub fn signed_attr(&self, oid: ObjectIdentifier) -> Option<&Attribute<'_>> {
        self.signed_attrs.iter().find(|a| a.oid == oid)
    }
    pub fn unsigned_attr(&self, oid: ObjectIdentifier) -> Option<&Attribute<'_>> {
        self.unsigned_attrs.iter().find(|a| a.oid == oid)
    }
}

fn attributes(value: &[u8]) -> Result<Vec<Attribute<'_>>, DerError> {
    der::children(value)?
        .into_iter()
        .map(|a| {
            let parts = der::children(a.value)?;
            let (Some(oid), Some(set)) = (parts.first(), parts.get(1)) else {
                return Err(DerError("attribute without type or values".into()));
            };
            Ok(Attribute {
                oid: der::oid(oid)?,
                values: der::children(set.value)?,
            })
        })
        .collect()
}

/// Parses a ContentInfo holding a SignedData. Trailing bytes (the zero padding of a PDF
/// /Contents string) are ignored.
pub(crate) fn parse(input: &[u8]) -> Result<SignedData<'_>, DerError> {
    let (ci, _padding) = der::expect(input, 0x30, "ContentInfo")?;
    let (ct, rest) = der::read(ci.value)?;
    if der::oid(&ct)? != oids::SIGNED_DATA {
        return Err(DerError("ContentInfo is not SignedData".into()));
    }
    let (explicit, _) = der::expect(rest, 0xa0, "ContentInfo content")?;
    let (sd, _) = der::expect(explicit.value, 0x30, "SignedData")?;
    let (_version, rest) = der::expect(sd.value, 0x02, "SignedData version")?;
    let (_digest_algs, rest) = der::expect(rest, 0x31, "SignedData digestAlgorithms")?;
    let (encap, mut rest) = der::expect(rest, 0x30, "EncapsulatedContentInfo")?;
    let encap_parts = der::children(encap.value)?;
    let econtent_type = der::oid(
        encap_parts
            .first()
            .ok_or_else(|| DerError("empty EncapsulatedContentInfo".into()))?,
    )?;
    let econtent = match encap_parts.get(1) {
        Some(e) if e.tag == 0xa0 => {
            let (octets, _) = der::expect(e.value, 0x04, "eContent")?;
            Some(octets.value)
        }
        _ => None,
    };
    let mut certificates = Vec::new();
    loop {
        let (tlv, after) = der::read(rest)?;
        match tlv.tag {
            0xa0 => {
                for c in der::children(tlv.value)? {
                    // Only plain certificates (SEQUENCE); attribute certificates are skipped.
                    if c.tag == 0x30 {
                        let cert = X509::from_der(c.raw)
                            .map_err(|e| DerError(format!("bad certificate in CMS: {e}")))?;
                        certificates.push(cert);
                    }
                }
                rest = after;
            }
            0xa1 => rest = after,
            _ => break,
        }
    }
    let (infos, _) = der::expect(rest, 0x31, "SignerInfos")?;
    let infos = der::children(infos.value)?;
    let first = infos
        .first()
        .ok_or_else(|| DerError("SignedData has no SignerInfo".into()))?;
    let signer = signer_info(first)?;
    Ok(SignedData {
        econtent_type,
        econtent,
        certificates,
        signer,
        signer_count: infos.len(),
    })
}

fn signer_info<'a>(tlv: &Tlv<'a>) -> Result<SignerInfo<'a>, DerError> {
    if tlv.tag != 0x30 {
        return Err(DerError("SignerInfo is not a SEQUENCE".into()));
    }
    let (_version, rest) = der::expect(tlv.value, 0x02, "SignerInfo version")?;
    let (sid_tlv, rest) = der::read(rest)?;
    let sid = match sid_tlv.tag {
        0x30 => {
            let (issuer, after) = der::expect(sid_tlv.value, 0x30, "issuer")?;
            let (serial, _) = der::expect(after, 0x02, "serialNumber")?;
            SignerId::IssuerSerial {
                issuer: issuer.raw,
                serial: serial.value,
            }
        }
        0x80 => SignerId::KeyId(sid_tlv.value),
        t => return Err(DerError(format!("unknown SignerIdentifier tag {t:#04x}"))),
    };
    let (dig, mut rest) = der::read(rest)?;
    let (digest_alg, _) = der::algorithm(&dig)?;
    let mut signed_attrs_der = None;
    let mut signed_attrs = Vec::new();
    let (next, after) = der::read(rest)?;
    let sig_alg_tlv = if next.tag == 0xa0 {
        // The signature covers the attributes encoded as a SET OF (tag 0x31), not [0].
        let mut bytes = next.raw.to_vec();
        bytes[0] = 0x31;
        signed_attrs_der = Some(bytes);
        signed_attrs = attributes(next.value)?;
        let (alg, after2) = der::read(after)?;
        rest = after2;
        alg
    } else {
        rest = after;
        next
    };
    let (sig_alg, sig_params) = der::algorithm(&sig_alg_tlv)?;
    let (signature, rest) = der::expect(rest, 0x04, "signature value")?;
    let unsigned_attrs = match der::read(rest) {
        Ok((u, _)) if u.tag == 0xa1 => attributes(u.value)?,
        _ => Vec::new(),
    };
    Ok(SignerInfo {
        sid,
        digest_alg,
        signed_attrs_der,
        signed_attrs,
        sig_alg,
        sig_params,
        signature: signature.value,
        unsigned_attrs,
    })
}

/// The openssl digest for a digest algorithm OID.
pub(crate) fn digest(oid: ObjectIdentifier) -> Option<MessageDigest> {
    match oid {
        o if o == oids::SHA1 => Some(MessageDigest::sha1()),
        o if o == oids::SHA224 => Some(MessageDigest::sha224()),
        o if o == oids::SHA256 => Some(MessageDigest::sha256()),
        o if o == oids::SHA384 => Some(MessageDigest::sha384()),
        o if o == oids::SHA512 => Some(MessageDigest::sha512()),
        _ => None,
    }
}

/// A readable name for a digest algorithm OID.
pub(crate) fn digest_name(oid: ObjectIdentifier) -> String {
    match oid {
        o if o == oids::SHA1 => "sha1".into(),
        o if o == oids::SHA224 => "sha224".into(),
        o if o == oids::SHA256 => "sha256".into(),
        o if o == oids::SHA384 => "sha384".into(),
        o if o == oids::SHA512 => "sha512".into(),
        o => o.to_string(),
    }
}

/// Hashes several byte slices as one message.
pub(crate) fn hash(md: MessageDigest, parts: &[&[u8]]) -> Result<Vec<u8>, String> {
    let mut h = Hasher::new(md).map_err(|e| e.to_string())?;
    for p in parts {
        h.update(p).map_err(|e| e.to_string())?;
    }
    Ok(h.finish().map_err(|e| e.to_string())?.to_vec())
}

/// The raw issuer Name and serial INTEGER value of a certificate, from its DER.
fn issuer_serial(cert: &X509) -> Option<(Vec<u8>, Vec<u8>)> {
    let der_cert = cert.to_der().ok()?;
    let (c, _) = der::expect(&der_cert, 0x30, "Certificate").ok()?;
    let (tbs, _) = der::expect(c.value, 0x30, "TBSCertificate").ok()?;
    let mut items = der::children(tbs.value).ok()?.into_iter();
    let mut serial = items.next()?;
    if serial.tag == 0xa0 {
        serial = items.next()?;
    }
    let _signature_alg = items.next()?;
    let issuer = items.next()?;
    Some((issuer.raw.to_vec(), serial.value.to_vec()))
}

/// The certificate the SignerInfo designates, if the CMS carries it. Issuer and serial are
/// compared as raw DER (serials may be negative in the wild).
pub(crate) fn find_signer_cert(sd: &SignedData<'_>) -> Option<X509> {
    sd.certificates
        .iter()
        .find(|c| match &sd.signer.sid {
            SignerId::IssuerSerial { issuer, serial } => issuer_serial(c)
                .is_some_and(|(i, s)| i.as_slice() == *issuer && s.as_slice() == *serial),
            SignerId::KeyId(id) => c.subject_key_id().map(|k| k.as_slice()) == Some(*id),
        })
        .cloned()
}

pub(crate) use super::report::SigningCertificateCheck as SigningCertMatch;

/// Checks signing-certificate-v2 (or the SHA-1 v1 attribute) against `cert`.
pub(crate) fn signing_cert_match(si: &SignerInfo<'_>, cert: &X509) -> SigningCertMatch {
    let der_cert = match cert.to_der() {
        Ok(d) => d,
        Err(_) => return SigningCertMatch::Mismatch,
    };
    let (attr, v2) = match (
        si.signed_attr(oids::SIGNING_CERTIFICATE_V2),
        si.signed_attr(oids::SIGNING_CERTIFICATE),
    ) {
        (Some(a), _) => (a, true),
        (None, Some(a)) => (a, false),
        (None, None) => return SigningCertMatch::Absent,
    };
    let first_hash = || -> Result<(MessageDigest, Vec<u8>), DerError> {
        let value = attr
            .values
            .first()
            .ok_or_else(|| DerError("empty attribute".into()))?;
        let (certs, _) = der::expect(value.value, 0x30, "certs")?;
        let (id, _) = der::expect(certs.value, 0x30, "ESSCertID")?;
        let parts = der::children(id.value)?;
        let mut md = if v2 {
            MessageDigest::sha256()
        } else {
            MessageDigest::sha1()
        };
        let mut idx = 0;
        if v2 && parts.first().map(|p| p.tag) == Some(0x30) {
            let (alg, _) = der::algorithm(&parts[0])?;
            md = digest(alg).ok_or_else(|| DerError("unknown hash".into()))?;
            idx = 1;
        }
        let h = parts
            .get(idx)
            .filter(|p| p.tag == 0x04)
            .ok_or_else(|| DerError("no certHash".into()))?;
        Ok((md, h.value.to_vec()))
    };
    match first_hash() {
        Ok((md, expected)) => match hash(md, &[&der_cert]) {
            Ok(actual) if actual == expected => SigningCertMatch::Match,
            _ => SigningCertMatch::Mismatch,
        },
        Err(_) => SigningCertMatch::Mismatch,
    }
}

/// The value of the message-digest signed attribute.
pub(crate) fn message_digest<'a>(si: &'a SignerInfo<'a>) -> Option<&'a [u8]> {
    si.signed_attr(oids::MESSAGE_DIGEST)
        .and_then(|a| a.values.first())
        .filter(|v| v.tag == 0x04)
        .map(|v| v.value)
}

/// The signature mechanism, as a short readable name.
pub(crate) fn mechanism_name(si: &SignerInfo<'_>) -> String {
    let d = digest_name(si.digest_alg);
    match si.sig_alg {
        o if o == oids::RSA_PSS => format!("rsassa_pss({d})"),
        o if o == oids::RSA
            || o == oids::RSA_SHA1
            || o == oids::RSA_SHA224
            || o == oids::RSA_SHA256
            || o == oids::RSA_SHA384
            || o == oids::RSA_SHA512 =>
        {
            format!("rsa_pkcs1v15({d})")
        }
        o if o == oids::EC_PUBLIC_KEY
            || o == oids::ECDSA_SHA1
            || o == oids::ECDSA_SHA224
            || o == oids::ECDSA_SHA256
            || o == oids::ECDSA_SHA384
            || o == oids::ECDSA_SHA512 =>
        {
            format!("ecdsa({d})")
        }
        o => o.to_string(),
    }
}

struct Pss {
    md: MessageDigest,
    mgf_md: MessageDigest,
    salt: i32,
}

fn pss_params(params: Option<&Tlv<'_>>) -> Result<Pss, String> {
    let mut pss = Pss {
        md: MessageDigest::sha1(),
        mgf_md: MessageDigest::sha1(),
        salt: 20,
    };
    let Some(p) = params else { return Ok(pss) };
    for item in der::children(p.value).map_err(|e| e.to_string())? {
        let (inner, _) = der::read(item.value).map_err(|e| e.to_string())?;
        match item.tag {
            0xa0 => {
                let (oid, _) = der::algorithm(&inner).map_err(|e| e.to_string())?;
                pss.md = digest(oid).ok_or("unknown PSS hash")?;
            }
            0xa1 => {
                let (oid, mgf_params) = der::algorithm(&inner).map_err(|e| e.to_string())?;
                if oid != oids::MGF1 {
                    return Err("unsupported PSS mask generation function".into());
                }
                let mgf_params = mgf_params.ok_or("MGF1 without hash")?;
                let (h, _) = der::algorithm(&mgf_params).map_err(|e| e.to_string())?;
                pss.mgf_md = digest(h).ok_or("unknown MGF1 hash")?;
            }
            0xa2 => {
                if inner.tag != 0x02 || inner.value.len() > 3 {
                    return Err("bad PSS salt length".into());
                }
                pss.salt = inner
                    .value
                    .iter()
                    .fold(0i32, |acc, &b| (acc << 8) | i32::from(b));
            }
            _ => {}
        }
    }
    Ok(pss)
}

fn sig_digest(si: &SignerInfo<'_>) -> Option<MessageDigest> {
    match si.sig_alg {
        o if o == oids::RSA_SHA1 || o == oids::ECDSA_SHA1 => Some(MessageDigest::sha1()),
        o if o == oids::RSA_SHA224 || o == oids::ECDSA_SHA224 => Some(MessageDigest::sha224()),
        o if o == oids::RSA_SHA256 || o == oids::ECDSA_SHA256 => Some(MessageDigest::sha256()),
        o if o == oids::RSA_SHA384 || o == oids::ECDSA_SHA384 => Some(MessageDigest::sha384()),
        o if o == oids::RSA_SHA512 || o == oids::ECDSA_SHA512 => Some(MessageDigest::sha512()),
        _ => digest(si.digest_alg),
    }
}

/// Verifies the SignerInfo's signature over `signed` (the signed attributes, or the content
/// itself when there are none) with `key`. `Err` means the algorithm could not be handled.
pub(crate) fn verify_signature(
    si: &SignerInfo<'_>,
    key: &PKey<Public>,
    signed: &[&[u8]],
) -> Result<bool, String> {
    let is_rsa = [
        oids::RSA,
        oids::RSA_SHA1,
        oids::RSA_SHA224,
        oids::RSA_SHA256,
        oids::RSA_SHA384,
        oids::RSA_SHA512,
    ]
    .contains(&si.sig_alg);
    let is_ec = [
        oids::EC_PUBLIC_KEY,
        oids::ECDSA_SHA1,
        oids::ECDSA_SHA224,
        oids::ECDSA_SHA256,
        oids::ECDSA_SHA384,
        oids::ECDSA_SHA512,
    ]
    .contains(&si.sig_alg);
    let e = |e: openssl::error::ErrorStack| e.to_string();
    let mut verifier = if si.sig_alg == oids::RSA_PSS {
        if key.id() != Id::RSA {
            return Ok(false);
        }
        let pss = pss_params(si.sig_params.as_ref())?;
        let mut v = Verifier::new(pss.md, key).map_err(e)?;
        v.set_rsa_padding(Padding::PKCS1_PSS).map_err(e)?;
        v.set_rsa_mgf1_md(pss.mgf_md).map_err(e)?;
        v.set_rsa_pss_saltlen(RsaPssSaltlen::custom(pss.salt))
            .map_err(e)?;
        v
    } else if is_rsa || is_ec {
        let expected = if is_rsa { Id::RSA } else { Id::EC };
        if key.id() != expected {
            return Ok(false);
        }
        let md = sig_digest(si).ok_or("unsupported digest algorithm")?;
        Verifier::new(md, key).map_err(e)?
    } else {
        return Err(format!("unsupported signature algorithm {}", si.sig_alg));
    };
    for part in signed {
        verifier.update(part).map_err(e)?;
    }
    // A malformed signature value is an invalid signature, not an unsupported algorithm.
    Ok(verifier.verify(si.signature).unwrap_or(false))
}

/// Outcome of checking one SignedData's signer against some content.
pub(crate) struct SignerCheck {
    pub cert: Option<X509>,
    pub digest_ok: bool,
    pub signature_ok: bool,
    pub signing_cert: SigningCertMatch,
    pub problems: Vec<String>,
    pub unsupported: bool,
}

/// Checks the digest of `content` against message-digest, the signature, and the signing
/// certificate attribute.
pub(crate) fn check_signer(sd: &SignedData<'_>, content: &[&[u8]]) -> SignerCheck {
    let si = &sd.signer;
    let mut out = SignerCheck {
        cert: find_signer_cert(sd),
        digest_ok: false,
        signature_ok: false,
        signing_cert: SigningCertMatch::Absent,
        problems: Vec::new(),
        unsupported: false,
    };
    let Some(md) = digest(si.digest_alg) else {
        out.unsupported = true;
        out.problems
            .push(format!("unsupported digest algorithm {}", si.digest_alg));
        return out;
    };
    let actual = match hash(md, content) {
        Ok(h) => h,
        Err(e) => {
            out.problems.push(e);
            return out;
        }
    };
    match (&si.signed_attrs_der, message_digest(si)) {
        (Some(_), Some(claimed)) => out.digest_ok = claimed == actual.as_slice(),
        (Some(_), None) => out
            .problems
            .push("signed attributes lack message-digest".into()),
        // Without signed attributes the signature itself covers the content.
        (None, _) => out.digest_ok = true,
    }
    if !out.digest_ok {
        out.problems
            .push("message digest does not match the signed bytes".into());
    }
    let Some(cert) = out.cert.clone() else {
        out.problems
            .push("no certificate in the CMS matches the signer identifier".into());
        return out;
    };
    out.signing_cert = signing_cert_match(si, &cert);
    if out.signing_cert == SigningCertMatch::Mismatch {
        out.problems
            .push("signing-certificate attribute does not match the signer certificate".into());
    }
    let key = match cert.public_key() {
        Ok(k) => k,
        Err(e) => {
            out.problems.push(format!("signer public key: {e}"));
            return out;
        }
    };
    let signed: Vec<&[u8]> = match &si.signed_attrs_der {
        Some(attrs) => vec![attrs.as_slice()],
        None => content.to_vec(),
    };
    match verify_signature(si, &key, &signed) {
        Ok(ok) => {
            out.signature_ok = ok;
            if !ok {
                out.problems
                    .push("the signature does not verify with the signer certificate".into());
            }
        }
        Err(e) => {
            out.unsupported = true;
            out.problems.push(e);
        }
    }
    out
}

/// Serial number as lowercase hex.
pub(crate) fn serial_hex(cert: &X509) -> String {
    cert.serial_number()
        .to_bn()
        .and_then(|bn: BigNum| bn.to_hex_str().map(|s| s.to_lowercase()))
        .unwrap_or_default()
}
