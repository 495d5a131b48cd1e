//! PAdES B-T against a real RFC 3161 TSA on loopback (certomancer, started here and killed after),
//! and the refusal to sign when the TSA fails.

use crate::pdfgen;

use crate::common::certomancer::Certomancer;
use crate::common::pki::{pki, KeyKind};
use crate::common::pyhanko;
use der::asn1::{Int, OctetString};
use der::Encode;
use docflow::signing::{sign_pdf, tsa, SignOptions, Signer, TsaConfig};
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

fn signer() -> Signer {
    let id = pki().identity(KeyKind::Rsa2048);
    Signer::from_pem_files(&id.key_pem, &id.cert_pem, None, None).unwrap()
}

#[test]
fn b_t_signature_with_a_real_tsa_then_tsa_down_fails_the_signing() {
    let cm = Certomancer::start();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(1)).unwrap();
    let out = d.path().join("bt.pdf");
    let opts = SignOptions {
        tsa: Some(TsaConfig::new(cm.tsa_url())),
        ..Default::default()
    };
    let r = sign_pdf(&input, &out, &signer(), &opts).unwrap();
    assert!(r.timestamp.is_some());
    let report = pyhanko::validate_all(&out, &[&pki().ca_pem, &cm.root()]);
    assert!(report.contains("Signature timestamp token:"), "{report}");
    assert!(
        report.contains("The timestamp token is cryptographically sound"),
        "{report}"
    );
    assert!(
        report.contains("The TSA certificate is trusted"),
        "{report}"
    );
    pyhanko::qpdf_check(&out);

    // A second B-T signature on top keeps both valid.
    let out2 = d.path().join("bt2.pdf");
    let p256 = pki().identity(KeyKind::P256);
    let s2 = Signer::from_pem_files(&p256.key_pem, &p256.cert_pem, None, None).unwrap();
    sign_pdf(&out, &out2, &s2, &opts).unwrap();
    pyhanko::validate_all(&out2, &[&pki().ca_pem, &cm.root()]);

    // The token checks: a response is refused for another imprint or another nonce.
    let imprint = openssl::sha::sha256(b"signature value");
    let nonce = [0x12u8, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: x509_cert::spki::AlgorithmIdentifier {
                oid: docflow::signing::cms::ID_SHA256,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint.to_vec()).unwrap(),
        },
        req_policy: None,
        nonce: Some(Int::new(&nonce).unwrap()),
        cert_req: true,
        extensions: None,
    };
    let resp = reqwest::blocking::Client::new()
        .post(cm.tsa_url())
        .header("Content-Type", "application/timestamp-query")
        .body(req.to_der().unwrap())
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert!(tsa::verify_response(&resp, &imprint, &nonce).is_ok());
    let other = openssl::sha::sha256(b"another signature");
    let e = tsa::verify_response(&resp, &other, &nonce).err().unwrap();
    assert_eq!(e.code(), "tsa_failed");
    let e = tsa::verify_response(&resp, &imprint, &[1, 2, 3])
        .err()
        .unwrap();
    assert_eq!(e.code(), "tsa_failed");
    let mut tampered = resp.to_vec();
    let n = tampered.len();
    tampered[n - 10] ^= 0x55; // inside the TSA's signature value
    assert!(tsa::verify_response(&tampered, &imprint, &nonce).is_err());

    // TSA down: the signing fails loudly and writes nothing; no fallback to the local clock.
    let url = cm.tsa_url();
    drop(cm);
    let down = d.path().join("down.pdf");
    let opts = SignOptions {
        tsa: Some(TsaConfig::new(url)),
        ..Default::default()
    };
    let e = sign_pdf(&input, &down, &signer(), &opts).unwrap_err();
    assert_eq!(e.code(), "tsa_failed", "{e}");
    assert!(!down.exists());
    // A TSA that answers something else than a timestamp fails too.
    let e = sign_pdf(
        &input,
        &down,
        &signer(),
        &SignOptions {
            tsa: Some(TsaConfig::new("http://127.0.0.1:1/none")),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "tsa_failed");
}
