//! A test certificate authority: CAs, signing certificates with chosen validity and key usage,
//! PKCS#12 files of them (credentials and route-signing tests).
#![allow(dead_code)]

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::PathBuf;

pub fn p256() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

/// What a test certificate looks like.
pub struct CertSpec {
    pub cn: &'static str,
    /// Days from now of notBefore and notAfter.
    pub from_days: i64,
    pub to_days: i64,
    /// None: no key usage extension; Some(true): digitalSignature+nonRepudiation;
    /// Some(false): keyEncipherment only.
    pub signing_usage: Option<bool>,
    pub ca: bool,
}

impl CertSpec {
    pub fn leaf(cn: &'static str) -> CertSpec {
        CertSpec {
            cn,
            from_days: -1,
            to_days: 365,
            signing_usage: Some(true),
            ca: false,
        }
    }
}

pub fn time(days: i64) -> Asn1Time {
    let now = chrono::Utc::now().timestamp();
    Asn1Time::from_unix(now + days * 86_400).unwrap()
}

pub fn make_cert(
    spec: &CertSpec,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("C", "VN").unwrap();
    name.append_entry_by_text("O", "Sở Lao động - Thương binh và Xã hội")
        .unwrap();
    name.append_entry_by_text("CN", spec.cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(rand_serial()).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&time(spec.from_days)).unwrap();
    b.set_not_after(&time(spec.to_days)).unwrap();
    let (issuer_name, signing_key) = match issuer {
        Some((c, k)) => (c.subject_name().to_owned().unwrap(), k),
        None => (name.as_ref().to_owned().unwrap(), key),
    };
    b.set_issuer_name(&issuer_name).unwrap();
    if spec.ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(KeyUsage::new().critical().key_cert_sign().build().unwrap())
            .unwrap();
    } else {
        match spec.signing_usage {
            Some(true) => b
                .append_extension(
                    KeyUsage::new()
                        .critical()
                        .digital_signature()
                        .non_repudiation()
                        .build()
                        .unwrap(),
                )
                .unwrap(),
            Some(false) => b
                .append_extension(
                    KeyUsage::new()
                        .critical()
                        .key_encipherment()
                        .build()
                        .unwrap(),
                )
                .unwrap(),
            None => {}
        }
    }
    b.sign(signing_key, MessageDigest::sha256()).unwrap();
    b.build()
}

pub fn rand_serial() -> u32 {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).unwrap();
    u32::from_be_bytes(b) & 0x7fff_ffff
}

/// A CA of this test and the PEM file the server trusts.
pub struct Ca {
    pub key: PKey<Private>,
    pub cert: X509,
    pub pem: PathBuf,
    pub _dir: tempfile::TempDir,
}

pub fn ca(cn: &'static str) -> Ca {
    let key = p256();
    let cert = make_cert(
        &CertSpec {
            ca: true,
            ..CertSpec::leaf(cn)
        },
        &key,
        None,
    );
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("roots.pem");
    std::fs::write(&pem, cert.to_pem().unwrap()).unwrap();
    Ca {
        key,
        cert,
        pem,
        _dir: dir,
    }
}

/// A signer's key and certificate issued by `ca`.
pub fn identity(ca: &Ca, spec: &CertSpec) -> (PKey<Private>, X509) {
    let key = p256();
    let cert = make_cert(spec, &key, Some((&ca.cert, &ca.key)));
    (key, cert)
}

pub fn pkcs12_of(key: &PKey<Private>, cert: &X509, ca: &Ca, password: &str) -> Vec<u8> {
    let mut chain = openssl::stack::Stack::new().unwrap();
    chain.push(ca.cert.clone()).unwrap();
    Pkcs12::builder()
        .name("signer")
        .pkey(key)
        .cert(cert)
        .ca(chain)
        .build2(password)
        .unwrap()
        .to_der()
        .unwrap()
}
