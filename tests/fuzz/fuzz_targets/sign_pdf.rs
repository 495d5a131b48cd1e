//! Feeds arbitrary bytes through the whole PDF-reading path of the signer (xref, object streams,
//! page and field trees, incremental writer). Any input must give a signed file or a SigningError:
//! a panic, a hang or a stack overflow is a bug.
//!
//! cargo fuzz run --fuzz-dir tests/fuzz sign_pdf -- -max_total_time=60
#![no_main]

use std::sync::OnceLock;

use docflow::signing::{sign_bytes, SignOptions, Signer};
use libfuzzer_sys::fuzz_target;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509Builder, X509NameBuilder};

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap();
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "fuzz").unwrap();
        let name = name.build();
        let mut b = X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        let cert = b.build();
        Signer::from_pem(
            &key.private_key_to_pem_pkcs8().unwrap(),
            &cert.to_pem().unwrap(),
            None,
            None,
        )
        .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok((out, _)) = sign_bytes(data, signer(), &SignOptions::default()) {
        assert!(
            out.starts_with(data),
            "the original bytes must stay a prefix"
        );
    }
});
