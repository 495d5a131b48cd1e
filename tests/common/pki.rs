//! A throwaway test PKI made at test time with openssl: root CA → signer certificates of every
//! supported key type. Nothing private is committed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectKeyIdentifier};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// Key types the signer supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    P256,
    P384,
}

pub const ALL_KINDS: [KeyKind; 5] = [
    KeyKind::Rsa2048,
    KeyKind::Rsa3072,
    KeyKind::Rsa4096,
    KeyKind::P256,
    KeyKind::P384,
];

/// A signer's files.
pub struct Identity {
    pub kind: KeyKind,
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
    /// PKCS#12 with password `test`.
    pub p12: PathBuf,
}

/// Root CA and one signer per key type, in a directory kept for the test binary's life.
pub struct Pki {
    pub dir: PathBuf,
    pub ca_pem: PathBuf,
    pub identities: Vec<Identity>,
}

impl Pki {
    pub fn identity(&self, kind: KeyKind) -> &Identity {
        self.identities
            .iter()
            .find(|i| i.kind == kind)
            .expect("identity")
    }
}

fn key(kind: KeyKind) -> PKey<Private> {
    match kind {
        KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap(),
        KeyKind::Rsa3072 => PKey::from_rsa(Rsa::generate(3072).unwrap()).unwrap(),
        KeyKind::Rsa4096 => PKey::from_rsa(Rsa::generate(4096).unwrap()).unwrap(),
        KeyKind::P256 => {
            let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
        }
        KeyKind::P384 => {
            let g = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
            PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
        }
    }
}

fn cert(
    subject_cn: &str,
    public: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
    serial: u32,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("C", "VN").unwrap();
    name.append_entry_by_text("O", "docflow tests").unwrap();
    name.append_entry_by_text("CN", subject_cn).unwrap();
    let name = name.build();
    let name: &openssl::x509::X509NameRef = &name;
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&BigNum::from_u32(serial).unwrap()).unwrap())
        .unwrap();
    b.set_subject_name(name).unwrap();
    b.set_pubkey(public).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(3650).unwrap())
        .unwrap();
    let (issuer_name, signing_key, is_ca) = match issuer {
        Some((c, k)) => (c.subject_name().to_owned().unwrap(), k, false),
        None => (name.to_owned().unwrap(), public, true),
    };
    b.set_issuer_name(&issuer_name).unwrap();
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
    } else {
        b.append_extension(BasicConstraints::new().critical().build().unwrap())
            .unwrap();
        b.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()
                .unwrap(),
        )
        .unwrap();
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(ski).unwrap();
    b.sign(signing_key, MessageDigest::sha256()).unwrap();
    b.build()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// The PKI of this test binary, made once.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("docflow-pki-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root_key = key(KeyKind::Rsa2048);
        let root = cert("docflow Test Root CA", &root_key, None, 1);
        let ca_pem = dir.join("ca.pem");
        write(&ca_pem, &root.to_pem().unwrap());
        let identities = ALL_KINDS
            .iter()
            .enumerate()
            .map(|(i, &kind)| {
                let k = key(kind);
                let c = cert(
                    &format!("Nguyễn Văn A {kind:?}"),
                    &k,
                    Some((&root, &root_key)),
                    100 + i as u32,
                );
                let name = format!("{kind:?}").to_lowercase();
                let key_pem = dir.join(format!("{name}.key.pem"));
                let cert_pem = dir.join(format!("{name}.cert.pem"));
                let p12 = dir.join(format!("{name}.p12"));
                write(&key_pem, &k.private_key_to_pem_pkcs8().unwrap());
                write(&cert_pem, &c.to_pem().unwrap());
                let mut ca = openssl::stack::Stack::new().unwrap();
                ca.push(root.clone()).unwrap();
                let p = Pkcs12::builder()
                    .name("signer")
                    .pkey(&k)
                    .cert(&c)
                    .ca(ca)
                    .build2("test")
                    .unwrap();
                write(&p12, &p.to_der().unwrap());
                Identity {
                    kind,
                    key_pem,
                    cert_pem,
                    p12,
                }
            })
            .collect();
        Pki {
            dir,
            ca_pem,
            identities,
        }
    })
}
