//! Test helpers for signature verification: a local pyHanko install, a throwaway PKI, a small
//! PDF, pyHanko signing and pyHanko's own verdict (the outside oracle).
#![allow(dead_code)]

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo target directory this test binary was built into.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<binary>
    exe.ancestors()
        .nth(3)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The bin directory of the tests' pyHanko venv (shared with the signing tests), installing
/// pyHanko and certomancer there on first use. Fails the test if it cannot be installed: a
/// verifier that was not compared with pyHanko is not tested.
pub fn pyenv_bin() -> PathBuf {
    super::pyvenv::pyhanko_venv().join("bin")
}

/// A certificate with its key, written as PEM files.
pub struct Party {
    pub key: PKey<Private>,
    pub cert: X509,
    pub key_pem: PathBuf,
    pub cert_pem: PathBuf,
}

fn name(cn: &str) -> openssl::x509::X509Name {
    let mut n = X509NameBuilder::new().unwrap();
    n.append_entry_by_nid(Nid::COUNTRYNAME, "VN").unwrap();
    n.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Docflow Test")
        .unwrap();
    n.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    n.build()
}

pub fn rsa_key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap()
}

pub fn ec_key() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

pub fn ec_p384_key() -> PKey<Private> {
    let g = EcGroup::from_curve_name(Nid::SECP384R1).unwrap();
    PKey::from_ec_key(EcKey::generate(&g).unwrap()).unwrap()
}

/// Issues a certificate. `issuer` None = self-signed CA.
pub fn issue(
    dir: &Path,
    file: &str,
    cn: &str,
    key: PKey<Private>,
    issuer: Option<&Party>,
    ca: bool,
    serial: u32,
) -> Party {
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = Asn1Integer::from_bn(&BigNum::from_u32(serial).unwrap()).unwrap();
    b.set_serial_number(&serial).unwrap();
    let subject = name(cn);
    b.set_subject_name(&subject).unwrap();
    match issuer {
        Some(i) => b.set_issuer_name(i.cert.subject_name()).unwrap(),
        None => b.set_issuer_name(&subject).unwrap(),
    }
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(1_577_836_800).unwrap())
        .unwrap(); // 2020-01-01
    b.set_not_after(&Asn1Time::from_unix(3_786_912_000).unwrap())
        .unwrap(); // 2090-01-01
    if ca {
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
        b.append_extension(ExtendedKeyUsage::new().email_protection().build().unwrap())
            .unwrap();
    }
    let ski = SubjectKeyIdentifier::new()
        .build(&b.x509v3_context(issuer.map(|i| i.cert.as_ref()), None))
        .unwrap();
    b.append_extension(ski).unwrap();
    if let Some(i) = issuer {
        let aki = AuthorityKeyIdentifier::new()
            .keyid(true)
            .build(&b.x509v3_context(Some(&i.cert), None))
            .unwrap();
        b.append_extension(aki).unwrap();
    }
    let signing_key = issuer.map(|i| &i.key).unwrap_or(&key);
    b.sign(signing_key, MessageDigest::sha256()).unwrap();
    let cert = b.build();
    let key_pem = dir.join(format!("{file}.key.pem"));
    let cert_pem = dir.join(format!("{file}.cert.pem"));
    std::fs::write(&key_pem, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    std::fs::write(&cert_pem, cert.to_pem().unwrap()).unwrap();
    Party {
        key,
        cert,
        key_pem,
        cert_pem,
    }
}

/// A one-page PDF with a classic xref table; object 4 is the page content stream.
pub fn minimal_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len() + 1
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Runs pyHanko, panicking with its output on failure.
pub fn pyhanko(args: &[&str]) {
    let bin = pyenv_bin();
    let out = Command::new(bin.join("pyhanko"))
        .args(args)
        .output()
        .expect("run pyhanko");
    assert!(
        out.status.success(),
        "pyhanko {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs `input` into `output` with pyHanko (PAdES), adding a new field `field`.
pub fn pyhanko_sign(input: &Path, output: &Path, field: &str, signer: &Party, extra: &[&str]) {
    let spec = format!("1/50,50,250,100/{field}");
    let mut args = vec!["sign", "addsig", "--field", &spec, "--use-pades"];
    args.extend_from_slice(extra);
    let key = signer.key_pem.to_string_lossy().into_owned();
    let cert = signer.cert_pem.to_string_lossy().into_owned();
    let (i, o) = (
        input.to_string_lossy().into_owned(),
        output.to_string_lossy().into_owned(),
    );
    args.extend_from_slice(&[
        "pemder",
        "--key",
        &key,
        "--cert",
        &cert,
        "--no-pass",
        &i,
        &o,
    ]);
    pyhanko(&args);
}

/// pyHanko's verdict on one signature, parsed from `sign validate --pretty-print`.
#[derive(Debug, Clone, Default)]
pub struct PyVerdict {
    pub field: String,
    pub sound: bool,
    pub trusted: bool,
    pub whole_file: bool,
    pub modifications: Option<String>,
    pub valid: bool,
    pub timestamp: Option<String>,
}

/// pyHanko's verdict on a document timestamp (through its API: the CLI skips them).
#[derive(Debug, Clone)]
pub struct PyTimestamp {
    pub field: String,
    pub intact: bool,
    pub valid: bool,
    pub trusted: bool,
}

/// pyHanko's verdicts for a file, and whether it exited 0.
#[derive(Debug, Clone)]
pub struct PyReport {
    pub ok: bool,
    pub signatures: Vec<PyVerdict>,
    pub doc_timestamps: Vec<PyTimestamp>,
    pub output: String,
}

/// Runs tests/fixtures/verify/pyhanko_helper.py with the venv's Python.
pub fn pyhanko_helper(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let bin = pyenv_bin();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/verify/pyhanko_helper.py");
    Command::new(bin.join("python"))
        .arg(script)
        .args(args)
        .output()
        .expect("run pyhanko_helper.py")
}

/// Certifies `input` (DocMDP `p`) into `output` with pyHanko, in a new field "Cert".
pub fn pyhanko_certify(input: &Path, output: &Path, signer: &Party, p: u8) {
    let p = p.to_string();
    let out = pyhanko_helper(&[
        "certify".as_ref(),
        input.as_os_str(),
        output.as_os_str(),
        signer.key_pem.as_os_str(),
        signer.cert_pem.as_os_str(),
        p.as_ref(),
    ]);
    assert!(out.status.success(), "pyHanko certify failed: {out:?}");
}

fn doc_timestamps(file: &Path, trust: &Path) -> Vec<PyTimestamp> {
    let out = pyhanko_helper(&[
        "doc-timestamps".as_ref(),
        file.as_os_str(),
        trust.as_os_str(),
    ]);
    if !out.status.success() {
        // pyHanko cannot read the file: no timestamp verdicts.
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| PyTimestamp {
            field: v["field"].as_str().unwrap_or_default().to_string(),
            intact: v["intact"] == true,
            valid: v["valid"] == true,
            trusted: v["trusted"] == true,
        })
        .collect()
}

/// Validates with pyHanko against `trust` (no revocation checks).
pub fn pyhanko_validate(file: &Path, trust: &Path) -> PyReport {
    let bin = pyenv_bin();
    let out = Command::new(bin.join("pyhanko"))
        .args(["sign", "validate", "--pretty-print", "--trust"])
        .arg(trust)
        .args(["--trust-replace", "--no-revocation-check"])
        .arg(file)
        .output()
        .expect("run pyhanko validate");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    PyReport {
        ok: out.status.success(),
        signatures: parse_pretty(&text),
        doc_timestamps: doc_timestamps(file, trust),
        output: text,
    }
}

fn parse_pretty(text: &str) -> Vec<PyVerdict> {
    let mut out: Vec<PyVerdict> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Field ") {
            if let Some((_, name)) = rest.split_once(": ") {
                out.push(PyVerdict {
                    field: name.trim().to_string(),
                    ..Default::default()
                });
            }
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if line.contains("The signature is cryptographically sound") {
            cur.sound = true;
        }
        if line == "The signer's certificate is trusted." {
            cur.trusted = true;
        }
        if line.contains("The signature covers the entire file.") {
            cur.whole_file = true;
        }
        if line.starts_with("All modifications") || line.starts_with("Some modifications") {
            cur.modifications = Some(line.to_string());
        }
        if let Some(t) = line.strip_prefix("Signature timestamp token: ") {
            cur.timestamp = Some(t.to_string());
        }
        if line == "The signature is judged VALID." {
            cur.valid = true;
        }
    }
    out
}

/// docflow's document-timestamp verdicts match pyHanko's (intact, sound, trusted).
pub fn compare_doc_timestamps(
    name: &str,
    ours: &docflow::signing::verify::VerifyReport,
    py: &PyReport,
) {
    use docflow::signing::verify::SignatureKind;
    let mine: Vec<_> = ours
        .signatures
        .iter()
        .filter(|s| s.kind == SignatureKind::DocumentTimestamp)
        .collect();
    if py.doc_timestamps.is_empty() && !mine.is_empty() {
        // pyHanko could not read the file; docflow must not call it valid either.
        assert!(
            !ours.all_valid,
            "{name}: pyHanko could not read the timestamps"
        );
        return;
    }
    assert_eq!(
        mine.len(),
        py.doc_timestamps.len(),
        "{name}: document timestamp count"
    );
    for p in &py.doc_timestamps {
        let s = mine
            .iter()
            .find(|s| s.field == p.field)
            .unwrap_or_else(|| panic!("{name}: document timestamp {} missing", p.field));
        let ctx = format!(
            "{name} document timestamp {}: {s:#?}\npyHanko: {p:?}",
            p.field
        );
        assert_eq!(s.intact, p.intact, "intact: {ctx}");
        assert_eq!(s.intact && s.valid, p.intact && p.valid, "sound: {ctx}");
        if p.intact && p.valid {
            assert_eq!(s.trusted, p.trusted, "trusted: {ctx}");
        }
    }
}
