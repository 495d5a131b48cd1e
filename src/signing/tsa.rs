//! RFC 3161 signature timestamps for PAdES B-T.
//!
//! The token is checked before it is embedded: status granted, SHA-256 imprint of our signature
//! value, our nonce, and the TSA's CMS signature (message digest of the TSTInfo and the signature
//! over the signed attributes with the certificate the token names). Whether the TSA is trusted is
//! left to the validator, as for the signer's own chain. Any failure is an error: there is no
//! fallback to the local clock.

use std::time::Duration;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedAttributes, SignedData, SignerIdentifier};
use der::asn1::{Int, OctetString};
use der::{Any, Decode, Encode};
use openssl::hash::{hash, MessageDigest};
use openssl::sign::Verifier;
use x509_cert::spki::AlgorithmIdentifier;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use super::cms::{
    ID_CONTENT_TYPE, ID_CT_TST_INFO, ID_MESSAGE_DIGEST, ID_SHA1, ID_SHA256, ID_SHA384, ID_SHA512,
    ID_SIGNED_DATA,
};
use super::SigningError;

/// Where and how long to ask for a timestamp.
#[derive(Debug, Clone)]
pub struct TsaConfig {
    /// `http://` or `https://` URL of the RFC 3161 service.
    pub url: String,
    /// Connect/read timeout.
    pub timeout: Duration,
}

impl TsaConfig {
    /// A TSA at `url` with a 15 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        TsaConfig {
            url: url.into(),
            timeout: Duration::from_secs(15),
        }
    }
}

/// A verified timestamp token.
pub struct Timestamp {
    /// DER of the token (a CMS ContentInfo).
    pub token: Vec<u8>,
    /// The TSA's time, RFC 3339.
    pub time: String,
}

fn tsa_err(msg: impl Into<String>) -> SigningError {
    SigningError::Tsa(msg.into())
}

/// Asks the TSA to timestamp `message` (the signature value) and verifies the answer.
pub fn timestamp(cfg: &TsaConfig, message: &[u8]) -> Result<Timestamp, SigningError> {
    timestamp_digest(cfg, &openssl::sha::sha256(message))
}

/// Asks the TSA to timestamp the SHA-256 digest `imprint` (a document timestamp's byte ranges)
/// and verifies the answer.
pub fn timestamp_digest(cfg: &TsaConfig, imprint: &[u8; 32]) -> Result<Timestamp, SigningError> {
    let imprint = *imprint;
    let mut nonce = [0u8; 8];
    openssl::rand::rand_bytes(&mut nonce).map_err(|e| tsa_err(e.to_string()))?;
    nonce[0] = (nonce[0] & 0x7f) | 0x01; // positive, minimal DER encoding
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: ID_SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint.to_vec()).map_err(der)?,
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce).map_err(der)?),
        cert_req: true,
        extensions: None,
    };
    let body = req.to_der().map_err(der)?;
    let resp = super::http::post(&cfg.url, "application/timestamp-query", &body, cfg.timeout)
        .map_err(|e| tsa_err(format!("{}: {e}", cfg.url)))?;
    verify_response(&resp, &imprint, &nonce)
}

fn der(e: der::Error) -> SigningError {
    tsa_err(format!("bad timestamp data: {e}"))
}

/// Checks a TimeStampResp against the imprint and nonce we sent.
pub fn verify_response(
    resp: &[u8],
    imprint: &[u8; 32],
    nonce: &[u8],
) -> Result<Timestamp, SigningError> {
    let resp = TimeStampResp::from_der(resp).map_err(der)?;
    let status = resp.status.status as u8;
    if status > 1 {
        return Err(tsa_err(format!(
            "the TSA refused the request (status {status})"
        )));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| tsa_err("the TSA answered without a token"))?;
    let token_der = token.to_der().map_err(der)?;
    let tst = verify_token(&token)?;
    if tst.message_imprint.hash_algorithm.oid != ID_SHA256
        || tst.message_imprint.hashed_message.as_bytes() != imprint
    {
        return Err(tsa_err("the token's message imprint is not our signature"));
    }
    match &tst.nonce {
        Some(n) if n.as_bytes() == nonce => {}
        _ => return Err(tsa_err("the token's nonce does not match the request")),
    }
    let time = rfc3339(&tst.gen_time);
    Ok(Timestamp {
        token: token_der,
        time,
    })
}

/// `20261127140509.12Z` → `2026-11-27T14:05:09.12Z`; other shapes are returned as they are.
fn rfc3339(gen_time: &str) -> String {
    let b = gen_time.as_bytes();
    if b.len() >= 15 && b[..14].iter().all(u8::is_ascii_digit) && gen_time.ends_with('Z') {
        format!(
            "{}-{}-{}T{}:{}:{}{}",
            &gen_time[0..4],
            &gen_time[4..6],
            &gen_time[6..8],
            &gen_time[8..10],
            &gen_time[10..12],
            &gen_time[12..14],
            &gen_time[14..]
        )
    } else {
        gen_time.to_string()
    }
}

fn digest_for(oid: der::asn1::ObjectIdentifier) -> Result<MessageDigest, SigningError> {
    Ok(match oid {
        o if o == ID_SHA256 => MessageDigest::sha256(),
        o if o == ID_SHA384 => MessageDigest::sha384(),
        o if o == ID_SHA512 => MessageDigest::sha512(),
        o if o == ID_SHA1 => MessageDigest::sha1(),
        o => {
            return Err(tsa_err(format!(
                "unsupported digest algorithm {o} in the token"
            )))
        }
    })
}

/// The TSTInfo fields that are checked.
struct TstFields {
    message_imprint: MessageImprint,
    nonce: Option<Int>,
    /// genTime as sent, e.g. `20261127195512.123Z`.
    gen_time: String,
}

/// Reads a TSTInfo leniently: `x509_tsp::TstInfo` goes through der 0.7's GeneralizedTime, which
/// refuses the fractional seconds many TSAs send (certomancer does).
fn parse_tst_info(bytes: &[u8]) -> der::Result<TstFields> {
    use der::{Reader, SliceReader, Tag, Tagged};
    let mut r = SliceReader::new(bytes)?;
    let fields = r.sequence(|r| {
        let _version: u8 = r.decode()?;
        let _policy: der::asn1::ObjectIdentifier = r.decode()?;
        let message_imprint: MessageImprint = r.decode()?;
        let _serial: Int = r.decode()?;
        let time: Any = r.decode()?;
        if time.tag() != Tag::GeneralizedTime {
            return Err(Tag::GeneralizedTime.value_error());
        }
        let mut nonce = None;
        while !r.is_finished() {
            let item: Any = r.decode()?;
            if item.tag() == Tag::Integer {
                nonce = Some(item.decode_as::<Int>()?);
            }
        }
        Ok(TstFields {
            message_imprint,
            nonce,
            gen_time: String::from_utf8_lossy(time.value()).into_owned(),
        })
    })?;
    r.finish(fields)
}

/// Verifies the token's CMS signature and returns its TSTInfo.
fn verify_token(token: &ContentInfo) -> Result<TstFields, SigningError> {
    if token.content_type != ID_SIGNED_DATA {
        return Err(tsa_err("the token is not CMS SignedData"));
    }
    let sd = SignedData::from_der(&token.content.to_der().map_err(der)?).map_err(der)?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(tsa_err("the token does not hold a TSTInfo"));
    }
    let econtent: Any = sd
        .encap_content_info
        .econtent
        .clone()
        .ok_or_else(|| tsa_err("the token has no content"))?;
    let tst_der = OctetString::from_der(&econtent.to_der().map_err(der)?)
        .map_err(der)?
        .into_bytes();
    let tst = parse_tst_info(&tst_der).map_err(der)?;
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| tsa_err("the token has no signer"))?;
    let md = digest_for(si.digest_alg.oid)?;
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| tsa_err("the token has no signed attributes"))?;
    check_signed_attrs(attrs, md, &tst_der)?;
    let x509 = tsa_certificate(&sd, &si.sid)?;
    let pkey = x509.public_key().map_err(|e| tsa_err(e.to_string()))?;
    let signed = attrs.to_der().map_err(der)?;
    let mut v = Verifier::new(md, &pkey).map_err(|e| tsa_err(e.to_string()))?;
    v.update(&signed).map_err(|e| tsa_err(e.to_string()))?;
    let ok = v
        .verify(si.signature.as_bytes())
        .map_err(|e| tsa_err(format!("verifying the TSA signature: {e}")))?;
    if !ok {
        return Err(tsa_err("the TSA's signature on the token is invalid"));
    }
    Ok(tst)
}

/// The token's signed attributes must hold the TSTInfo's digest and content type.
fn check_signed_attrs(
    attrs: &SignedAttributes,
    md: MessageDigest,
    tst_der: &[u8],
) -> Result<(), SigningError> {
    let mut digest_ok = false;
    let mut type_ok = false;
    for a in attrs.iter() {
        let Some(v) = a.values.iter().next() else {
            continue;
        };
        if a.oid == ID_MESSAGE_DIGEST {
            let want = hash(md, tst_der).map_err(|e| tsa_err(e.to_string()))?;
            let got = OctetString::from_der(&v.to_der().map_err(der)?).map_err(der)?;
            digest_ok = got.as_bytes() == &*want;
        } else if a.oid == ID_CONTENT_TYPE {
            type_ok = v.decode_as::<der::asn1::ObjectIdentifier>().ok() == Some(ID_CT_TST_INFO);
        }
    }
    if !digest_ok || !type_ok {
        return Err(tsa_err(
            "the token's signed attributes do not match its TSTInfo",
        ));
    }
    Ok(())
}

/// The TSA certificate named by the signer identifier, among the token's certificates.
fn tsa_certificate(
    sd: &SignedData,
    sid: &SignerIdentifier,
) -> Result<openssl::x509::X509, SigningError> {
    let certs = sd
        .certificates
        .as_ref()
        .ok_or_else(|| tsa_err("the token carries no TSA certificate"))?;
    let cert = certs
        .0
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            _ => None,
        })
        .find(|c| match sid {
            SignerIdentifier::IssuerAndSerialNumber(isn) => {
                c.tbs_certificate.issuer == isn.issuer
                    && c.tbs_certificate.serial_number == isn.serial_number
            }
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                c.tbs_certificate.extensions.iter().flatten().any(|e| {
                    e.extn_id == ID_SUBJECT_KEY_IDENTIFIER
                        && e.extn_value.as_bytes().ends_with(ski.0.as_bytes())
                })
            }
        })
        .ok_or_else(|| tsa_err("the TSA certificate is not in the token"))?;
    openssl::x509::X509::from_der(&cert.to_der().map_err(der)?).map_err(|e| tsa_err(e.to_string()))
}

/// id-ce-subjectKeyIdentifier (evaluated at compile time).
const ID_SUBJECT_KEY_IDENTIFIER: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.14");

#[cfg(test)]
mod tests {
    #[test]
    fn generalized_time_to_rfc3339() {
        assert_eq!(
            super::rfc3339("20261127140509.12Z"),
            "2026-11-27T14:05:09.12Z"
        );
        assert_eq!(super::rfc3339("20261127140509Z"), "2026-11-27T14:05:09Z");
        assert_eq!(super::rfc3339("garbage"), "garbage");
    }
}
