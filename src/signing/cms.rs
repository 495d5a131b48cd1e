//! The CMS SignedData of a PAdES signature (ETSI.CAdES.detached).
//!
//! Signed attributes: content-type, message-digest, signing-certificate-v2 — and deliberately no
//! signing-time (PAdES takes the claimed time from /M). An RFC 3161 token, when given, becomes the
//! unsigned signature-time-stamp attribute (B-T).

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use openssl::sha::sha256;
use x509_cert::attr::{Attribute, AttributeValue};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::keys::{KeyAlgorithm, Signer};
use super::SigningError;

pub const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
pub const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
pub const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub const ID_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const ID_TIME_STAMP_TOKEN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

/// ESS `SigningCertificateV2` (RFC 5035), policies omitted.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
}

/// ESS `ESSCertIDv2` with the default hash algorithm (SHA-256), which DER leaves out.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    cert_hash: OctetString,
    issuer_serial: IssuerSerial,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: SerialNumber,
}

fn der_err(e: der::Error) -> SigningError {
    SigningError::Internal(format!("DER encoding: {e}"))
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, SigningError> {
    let values: SetOfVec<AttributeValue> = SetOfVec::try_from(vec![value]).map_err(der_err)?;
    Ok(Attribute { oid, values })
}

/// SHA-256 algorithm identifier, parameters absent (RFC 5754).
pub fn sha256_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ID_SHA256,
        parameters: None,
    }
}

fn parse_cert(der: &[u8]) -> Result<Certificate, SigningError> {
    Certificate::from_der(der).map_err(|e| SigningError::Key(format!("certificate: {e}")))
}

/// The signed attributes over a document digest, as the DER `SET OF` that gets signed.
pub struct SignedAttrs {
    attrs: SetOfVec<Attribute>,
    der: Vec<u8>,
}

impl SignedAttrs {
    /// content-type id-data, message-digest, signing-certificate-v2 of `cert_der`.
    pub fn new(document_digest: &[u8; 32], cert_der: &[u8]) -> Result<Self, SigningError> {
        let cert = parse_cert(cert_der)?;
        let ess = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                cert_hash: OctetString::new(sha256(cert_der).to_vec()).map_err(der_err)?,
                issuer_serial: IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(
                        cert.tbs_certificate.issuer.clone(),
                    )],
                    serial_number: cert.tbs_certificate.serial_number.clone(),
                },
            }],
        };
        let attrs = vec![
            attribute(
                ID_CONTENT_TYPE,
                Any::encode_from(&ID_DATA).map_err(der_err)?,
            )?,
            attribute(
                ID_MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(document_digest.to_vec()).map_err(der_err)?)
                    .map_err(der_err)?,
            )?,
            attribute(
                ID_SIGNING_CERTIFICATE_V2,
                Any::encode_from(&ess).map_err(der_err)?,
            )?,
        ];
        let attrs = SetOfVec::try_from(attrs).map_err(der_err)?;
        let der = attrs.to_der().map_err(der_err)?;
        Ok(SignedAttrs { attrs, der })
    }

    /// The bytes the signature covers (tag 0x31).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of [`Self::der`]: all a remote key needs.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&self.der)
    }
}

fn signature_alg(alg: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    match alg {
        KeyAlgorithm::Rsa(_) => AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        },
    }
}

/// Assembles the DER `ContentInfo` (SignedData) from the signed attributes and the signature.
pub fn signed_data(
    signer: &Signer,
    attrs: &SignedAttrs,
    signature: &[u8],
    timestamp_token: Option<&[u8]>,
) -> Result<Vec<u8>, SigningError> {
    let key_err = |e: openssl::error::ErrorStack| SigningError::Key(e.to_string());
    let cert_der = signer.certificate().to_der().map_err(key_err)?;
    let cert = parse_cert(&cert_der)?;
    let mut certs = vec![CertificateChoices::Certificate(cert.clone())];
    for c in signer.chain() {
        certs.push(CertificateChoices::Certificate(parse_cert(
            &c.to_der().map_err(key_err)?,
        )?));
    }
    let unsigned_attrs = match timestamp_token {
        Some(tok) => {
            let any = Any::from_der(tok)
                .map_err(|e| SigningError::Tsa(format!("timestamp token: {e}")))?;
            Some(SetOfVec::try_from(vec![attribute(ID_TIME_STAMP_TOKEN, any)?]).map_err(der_err)?)
        }
        None => None,
    };
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: cert.tbs_certificate.issuer.clone(),
            serial_number: cert.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256_alg(),
        signed_attrs: Some(attrs.attrs.clone()),
        signature_algorithm: signature_alg(signer.key().algorithm()),
        signature: OctetString::new(signature.to_vec()).map_err(der_err)?,
        unsigned_attrs,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_alg()]).map_err(der_err)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet::try_from(certs).map_err(der_err)?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(der_err)?,
    };
    let ci = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(der_err)?,
    };
    ci.to_der().map_err(der_err)
}
