//! `docflow pdf verify` on files signed by pyHanko (the outside validator), untouched and
//! tampered with; docflow's verdict must agree with pyHanko's on every one of them.

use crate::common::pyhanko_verify::*;
use docflow::signing::verify::{
    verify_pdf, ChangeLevel, Coverage, PadesLevel, SignatureKind, SignatureStatus,
    SignerRevocation, SigningCertificateCheck, VerifyReport,
};
use openssl::x509::X509;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::OnceLock;

/// A PKI and the signed files every test starts from, made once per test binary.
struct Fixture {
    dir: PathBuf,
    root: Party,
    other_root: Party,
    signer: Party,
    signer_ec: Party,
    foreign_signer: Party,
    /// Same issuer, subject and serial as `signer`, another key: the "swapped" certificate.
    impostor: Party,
    /// B-B by `signer` over a fresh one-page PDF.
    bb: PathBuf,
    /// `bb` signed again by `signer_ec` in a second field.
    two: PathBuf,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // Kept after the run (under the target dir) so a failing file can be inspected.
        let parent = target_dir().join("verify-tests");
        std::fs::create_dir_all(&parent).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(&parent)
            .unwrap()
            .keep();
        let root = issue(&dir, "root", "Docflow Test Root", rsa_key(), None, true, 1);
        let other_root = issue(&dir, "other-root", "Unknown Root", rsa_key(), None, true, 1);
        let signer = issue(
            &dir,
            "signer",
            "Nguyễn Văn Đức",
            rsa_key(),
            Some(&root),
            false,
            1001,
        );
        let signer_ec = issue(
            &dir,
            "signer-ec",
            "Trần Thị B",
            ec_key(),
            Some(&root),
            false,
            1002,
        );
        let foreign_signer = issue(
            &dir,
            "foreign",
            "Foreign Signer",
            rsa_key(),
            Some(&other_root),
            false,
            7,
        );
        let impostor = issue(
            &dir,
            "impostor",
            "Nguyễn Văn Đức",
            rsa_key(),
            Some(&root),
            false,
            1001,
        );
        let base = dir.join("base.pdf");
        std::fs::write(&base, minimal_pdf("Quyet dinh so 12/QD-UBND")).unwrap();
        let bb = dir.join("bb.pdf");
        pyhanko_sign(&base, &bb, "Sig1", &signer, &[]);
        let two = dir.join("two.pdf");
        pyhanko_sign(&bb, &two, "Sig2", &signer_ec, &[]);
        Fixture {
            dir,
            root,
            other_root,
            signer,
            signer_ec,
            foreign_signer,
            impostor,
            bb,
            two,
        }
    })
}

fn roots(f: &Fixture) -> Vec<X509> {
    vec![f.root.cert.clone()]
}

/// Verifies `file` with docflow and with pyHanko (trusting `trust_pem`) and checks that they
/// agree on every signature: bottom line, cryptographic soundness, trust, whole-file coverage.
fn verify_and_compare(file: &Path, trust_pem: &Path) -> Result<VerifyReport, String> {
    let trust = X509::stack_from_pem(&std::fs::read(trust_pem).unwrap()).unwrap();
    let data = std::fs::read(file).unwrap();
    let ours = verify_pdf(&data, &trust);
    let py = pyhanko_validate(file, trust_pem);
    let report = match ours {
        Ok(r) => r,
        Err(e) => {
            assert!(
                !py.ok,
                "docflow refused {} ({e}) but pyHanko accepted it:\n{}",
                file.display(),
                py.output
            );
            return Err(e.to_string());
        }
    };
    assert_eq!(
        report.all_valid,
        py.ok,
        "docflow and pyHanko disagree on {}:\n{report:#?}\npyHanko:\n{}",
        file.display(),
        py.output
    );
    compare_doc_timestamps(&file.display().to_string(), &report, &py);
    // pyHanko prints no per-field verdict when it gives up on a file (e.g. a broken
    // ByteRange); then its exit status is the whole verdict, compared above.
    if !py.signatures.is_empty() {
        // `pyhanko sign validate` reports regular signatures only, not document timestamps.
        let regular = report
            .signatures
            .iter()
            .filter(|s| s.kind == SignatureKind::Signature)
            .count();
        assert_eq!(
            py.signatures.len(),
            regular,
            "signature count differs on {}:\n{}",
            file.display(),
            py.output
        );
        for p in &py.signatures {
            let s = report
                .signatures
                .iter()
                .find(|s| s.field == p.field)
                .unwrap_or_else(|| panic!("pyHanko field {} not in docflow's report", p.field));
            let ctx = format!(
                "{} field {}: {s:#?}\npyHanko:\n{}",
                file.display(),
                p.field,
                py.output
            );
            assert_eq!(
                s.status == SignatureStatus::Valid,
                p.valid,
                "bottom line: {ctx}"
            );
            assert_eq!(s.intact && s.valid, p.sound, "soundness: {ctx}");
            if p.sound {
                assert_eq!(s.trusted, p.trusted, "trust: {ctx}");
                assert_eq!(
                    s.coverage == Coverage::WholeFile,
                    p.whole_file,
                    "coverage: {ctx}"
                );
                // Under a certification pyHanko files any change it does not permit under
                // "other"; docflow still says what was added and names the breach in the
                // status (compared above).
                if let Some(m) = p
                    .modifications
                    .as_ref()
                    .filter(|_| s.certification.is_none())
                {
                    let ok_mods = m.starts_with("All modifications");
                    assert_eq!(
                        s.changes_after == ChangeLevel::SignaturesOnly,
                        ok_mods,
                        "modifications: {ctx}"
                    );
                }
            }
        }
    }
    Ok(report)
}

fn write(name: &str, data: &[u8]) -> PathBuf {
    let p = fixture().dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// The /ByteRange array of the last signature: (start of the numbers, end, the 4 numbers).
fn byte_range(data: &[u8]) -> (usize, usize, [i64; 4]) {
    let at = rfind(data, b"/ByteRange").unwrap();
    let open = at + find(&data[at..], b"[").unwrap() + 1;
    let close = at + find(&data[at..], b"]").unwrap();
    let nums: Vec<i64> = std::str::from_utf8(&data[open..close])
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (open, close, [nums[0], nums[1], nums[2], nums[3]])
}

/// Rewrites the last /ByteRange in place (same length, space padded).
fn with_byte_range(data: &[u8], br: [i64; 4]) -> Vec<u8> {
    let (open, close, _) = byte_range(data);
    let text = format!("{} {} {} {}", br[0], br[1], br[2], br[3]);
    assert!(text.len() <= close - open, "new ByteRange does not fit");
    let mut out = data.to_vec();
    let padded = format!("{text:<width$}", width = close - open);
    out[open..close].copy_from_slice(padded.as_bytes());
    out
}

#[test]
fn pades_b_b_is_valid_trusted_and_covers_the_whole_file() {
    let f = fixture();
    let r = verify_and_compare(&f.bb, &f.root.cert_pem).unwrap();
    assert!(r.all_valid);
    assert_eq!(r.signatures.len(), 1);
    let s = &r.signatures[0];
    assert_eq!(s.field, "Sig1");
    assert_eq!(s.kind, SignatureKind::Signature);
    assert_eq!(s.status, SignatureStatus::Valid);
    assert!(s.intact && s.valid && s.trusted);
    assert_eq!(s.coverage, Coverage::WholeFile);
    assert_eq!(s.changes_after, ChangeLevel::None);
    assert_eq!(s.pades_level, Some(PadesLevel::BB));
    assert_eq!(
        s.integrity.signing_certificate,
        SigningCertificateCheck::Match
    );
    let signer = s.signer.as_ref().unwrap();
    assert_eq!(signer.common_name.as_deref(), Some("Nguyễn Văn Đức"));
    assert!(signer.subject.contains("O=Docflow Test"));
    assert!(s.claimed_time.is_some(), "the /M time is reported");
    assert!(s.timestamp.is_none());
    assert!(!s.revocation.present);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["signatures"][0]["status"], "valid");
    assert_eq!(json["signatures"][0]["pades_level"], "B-B");
}

#[test]
fn an_unknown_root_gives_intact_valid_but_untrusted() {
    let f = fixture();
    let out = f.dir.join("foreign.pdf");
    pyhanko_sign(
        &f.dir.join("base.pdf"),
        &out,
        "Sig1",
        &f.foreign_signer,
        &[],
    );
    let r = verify_and_compare(&out, &f.root.cert_pem).unwrap();
    let s = &r.signatures[0];
    assert!(s.intact && s.valid);
    assert!(!s.trusted);
    assert_eq!(s.status, SignatureStatus::Untrusted);
    assert!(!r.all_valid);
    // The same file is trusted once its own root is given.
    let r = verify_and_compare(&out, &f.other_root.cert_pem).unwrap();
    assert!(r.all_valid);
}

#[test]
fn two_signatures_first_covers_an_earlier_revision_with_only_signatures_added() {
    let f = fixture();
    let r = verify_and_compare(&f.two, &f.root.cert_pem).unwrap();
    assert!(r.all_valid);
    assert_eq!(r.signatures.len(), 2);
    let (a, b) = (&r.signatures[0], &r.signatures[1]);
    assert_eq!((a.field.as_str(), b.field.as_str()), ("Sig1", "Sig2"));
    assert_eq!(a.coverage, Coverage::EarlierRevision);
    assert_eq!(a.changes_after, ChangeLevel::SignaturesOnly);
    assert_eq!(a.status, SignatureStatus::Valid);
    assert_eq!(b.coverage, Coverage::WholeFile);
    assert_eq!(b.changes_after, ChangeLevel::None);
    assert_eq!(
        b.integrity.signature_algorithm.as_deref(),
        Some("ecdsa(sha256)")
    );
    assert_eq!(
        b.signer.as_ref().unwrap().common_name.as_deref(),
        Some("Trần Thị B")
    );
    assert!(a.signed_revision < b.signed_revision);
}

#[test]
fn a_tampered_byte_is_a_digest_mismatch() {
    let f = fixture();
    let mut data = std::fs::read(&f.bb).unwrap();
    let at = find(&data, b"Quyet dinh so 12").unwrap();
    data[at + 14] = b'9'; // "12" -> "92": someone edits the decision number
    let file = write("tampered.pdf", &data);
    let r = verify_and_compare(&file, &f.root.cert_pem).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.status, SignatureStatus::DigestMismatch);
    assert!(!s.intact && !s.integrity.digest_ok);
    assert!(!r.all_valid);
}

#[test]
fn an_edited_byte_range_is_named() {
    let f = fixture();
    let data = std::fs::read(&f.bb).unwrap();
    let (_, _, br) = byte_range(&data);
    let cases: [(&str, [i64; 4], &str); 4] = [
        ("br-not-from-0.pdf", [1, br[1] - 1, br[2], br[3]], "not 0"),
        (
            "br-gap-not-contents.pdf",
            [0, br[1] - 2, br[2], br[3]],
            "not exactly",
        ),
        ("br-overlap.pdf", [0, br[2] + 2, br[2], br[3]], "overlap"),
        (
            "br-short.pdf",
            [0, br[1], br[2], br[3] - 20],
            "revision boundary",
        ),
    ];
    for (name, edited, why) in cases {
        let file = write(name, &with_byte_range(&data, edited));
        let r = verify_and_compare(&file, &f.root.cert_pem).unwrap();
        let s = &r.signatures[0];
        assert_eq!(
            s.status,
            SignatureStatus::ByteRangeInvalid,
            "{name}: {s:#?}"
        );
        assert!(!s.integrity.byte_range_ok);
        assert!(
            s.problems.iter().any(|p| p.contains(why)),
            "{name}: expected a problem mentioning {why:?}: {:?}",
            s.problems
        );
        assert!(!r.all_valid);
    }
}

/// Edits the decoded /Contents of the last signature in place (same length) and writes it back.
fn edit_contents(data: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let (_, _, br) = byte_range(data);
    let (start, end) = (br[1] as usize + 1, br[2] as usize - 1);
    let hex = std::str::from_utf8(&data[start..end]).unwrap();
    let mut cms: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    edit(&mut cms);
    let new_hex: String = cms.iter().map(|x| format!("{x:02x}")).collect();
    let mut out = data.to_vec();
    out[start..end].copy_from_slice(new_hex.as_bytes());
    out
}

/// Replaces the signer certificate inside the CMS with `other` (same DER length).
fn swap_certificate(data: &[u8], original: &X509, other: &X509) -> Vec<u8> {
    let (a, b) = (original.to_der().unwrap(), other.to_der().unwrap());
    assert_eq!(
        a.len(),
        b.len(),
        "test certificates must have equal DER length"
    );
    edit_contents(data, |cms| {
        let at = find(cms, &a).expect("signer certificate inside the CMS");
        cms[at..at + a.len()].copy_from_slice(&b);
    })
}

#[test]
fn a_swapped_certificate_is_named() {
    let f = fixture();
    let data = std::fs::read(&f.bb).unwrap();
    let file = write(
        "swapped.pdf",
        &swap_certificate(&data, &f.signer.cert, &f.impostor.cert),
    );
    let r = verify_and_compare(&file, &f.root.cert_pem).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.status, SignatureStatus::CertificateMismatch, "{s:#?}");
    assert_eq!(
        s.integrity.signing_certificate,
        SigningCertificateCheck::Mismatch
    );
    assert!(
        !s.integrity.signature_ok,
        "the impostor's key cannot verify the signature"
    );
    assert!(!s.valid && !r.all_valid);
}

/// An incremental update after the signature that replaces the page content (object 4).
fn append_content_change(data: &[u8], text: &str) -> Vec<u8> {
    let number_after = |key: &[u8]| -> usize {
        let at = rfind(data, key).unwrap() + key.len();
        let digits: String = data[at..]
            .iter()
            .map(|&b| char::from(b))
            .skip_while(|c| c.is_whitespace())
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().unwrap()
    };
    let prev = number_after(b"startxref");
    let size = number_after(b"/Size");
    let mut out = data.to_vec();
    let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let obj_at = out.len();
    out.extend_from_slice(
        format!(
            "4 0 obj\n<< /Length {} >>\nstream\n{content}\nendstream\nendobj\n",
            content.len()
        )
        .as_bytes(),
    );
    let xref_at = out.len();
    out.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n4 1\n{obj_at:010} 00000 n \ntrailer\n\
             << /Size {size} /Root 1 0 R /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

#[test]
fn content_appended_after_the_last_signature_is_named() {
    let f = fixture();
    let data = std::fs::read(&f.bb).unwrap();
    let file = write(
        "appended.pdf",
        &append_content_change(&data, "Quyet dinh so 99"),
    );
    let r = verify_and_compare(&file, &f.root.cert_pem).unwrap();
    let s = &r.signatures[0];
    assert!(s.intact && s.valid, "the signed revision itself is intact");
    assert_eq!(s.coverage, Coverage::EarlierRevision);
    assert_eq!(s.changes_after, ChangeLevel::Other);
    assert_eq!(s.status, SignatureStatus::ModifiedAfterSigning);
    assert!(
        s.change_details.iter().any(|d| d.starts_with("object 4 0")),
        "{:?}",
        s.change_details
    );
    assert!(!r.all_valid);

    // Bytes after the last %%EOF that are not a revision are caught as well. This is the one
    // deliberate disagreement with pyHanko, which ignores such bytes (EXTENDED_WITH_NONE,
    // VALID): docflow refuses unsigned bytes it cannot account for, since lenient readers may
    // recover objects hidden there.
    let mut junk = data.clone();
    junk.extend_from_slice(b"% appended note: approved by someone else\n");
    let file = write("appended-junk.pdf", &junk);
    let r = verify_pdf(&std::fs::read(&file).unwrap(), &roots(f)).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.coverage, Coverage::EarlierRevision);
    assert_eq!(s.changes_after, ChangeLevel::Other);
    assert_eq!(s.status, SignatureStatus::ModifiedAfterSigning);
    assert!(!r.all_valid);
    let py = pyhanko_validate(&file, &f.root.cert_pem);
    assert!(
        py.ok && !py.signatures[0].whole_file,
        "pyHanko's view of trailing junk changed; revisit this divergence:\n{}",
        py.output
    );
}

#[test]
fn a_second_signature_over_tampered_content_does_not_rescue_the_first() {
    let f = fixture();
    let data = std::fs::read(&f.bb).unwrap();
    let changed = write(
        "changed-then-signed.pdf",
        &append_content_change(&data, "Sua doi"),
    );
    let out = f.dir.join("changed-then-signed-2.pdf");
    pyhanko_sign(&changed, &out, "Sig2", &f.signer_ec, &[]);
    let r = verify_and_compare(&out, &f.root.cert_pem).unwrap();
    assert_eq!(
        r.signatures[0].status,
        SignatureStatus::ModifiedAfterSigning
    );
    assert_eq!(r.signatures[1].status, SignatureStatus::Valid);
    assert!(!r.all_valid);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let f = fixture();
    assert!(verify_pdf(b"", &roots(f)).is_err());
    assert!(verify_pdf(b"oops\n", &roots(f)).is_err());
    let mut nested = b"%PDF-1.7\n1 0 obj\n".to_vec();
    nested.extend(vec![b'['; 50_000]);
    nested.extend_from_slice(b"\ntrailer\n<< /Root 1 0 R >>\n");
    assert!(verify_pdf(&nested, &roots(f)).is_err());
    // Every prefix of a signed file either verifies as not valid or is refused.
    let data = std::fs::read(&f.two).unwrap();
    for cut in (0..data.len()).step_by(997) {
        if let Ok(r) = verify_pdf(&data[..cut], &roots(f)) {
            assert!(!r.all_valid || cut == data.len());
        }
    }
}

#[test]
fn random_byte_damage_never_panics_and_is_never_valid() {
    let f = fixture();
    let data = std::fs::read(&f.two).unwrap();
    // A fixed xorshift sequence: the same 400 mutants on every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Sig2 covers the whole file except its own /Contents: only the zero padding there may
    // change without breaking something.
    let (_, _, br) = byte_range(&data);
    let gap = br[1] as usize..br[2] as usize;
    for i in 0..400 {
        let mut m = data.clone();
        for _ in 0..(1 + i % 4) {
            let at = (next() % m.len() as u64) as usize;
            m[at] = (next() & 0xff) as u8;
        }
        let hits: Vec<usize> = (0..m.len()).filter(|&k| m[k] != data[k]).collect();
        if hits.is_empty() {
            continue;
        }
        let r = std::panic::catch_unwind(|| verify_pdf(&m, &roots(f)));
        let r = r.unwrap_or_else(|_| panic!("mutant {i} panicked"));
        if let Ok(report) = r {
            if report.all_valid {
                assert!(
                    hits.iter().all(|h| gap.contains(h)),
                    "mutant {i} (bytes {hits:?}) still verifies"
                );
            }
        }
    }
}

#[test]
fn cli_exit_code_and_json() {
    let f = fixture();
    let bin = env!("CARGO_BIN_EXE_docflow");
    let ok = Command::new(bin)
        .args(["pdf", "verify", "--json", "--trust"])
        .arg(&f.root.cert_pem)
        .arg(&f.two)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(json["all_valid"], true);
    assert_eq!(json["signatures"].as_array().unwrap().len(), 2);

    let mut data = std::fs::read(&f.bb).unwrap();
    let at = find(&data, b"Quyet").unwrap();
    data[at] = b'X';
    let bad = write("cli-tampered.pdf", &data);
    let out = Command::new(bin)
        .args(["pdf", "verify", "--trust"])
        .arg(&f.root.cert_pem)
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("DIGEST_MISMATCH"), "{table}");

    let untrusted = Command::new(bin)
        .args(["pdf", "verify"])
        .arg(&f.bb)
        .output()
        .unwrap();
    assert_eq!(
        untrusted.status.code(),
        Some(1),
        "no trust roots: not trusted"
    );

    let missing = Command::new(bin)
        .args(["pdf", "verify", "/nonexistent/file.pdf"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

/// certomancer serving the test PKI's TSA, OCSP responder and CRLs on loopback; stopped on drop.
struct Certomancer {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Certomancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the certomancer config and keys into `dir` and issues the certificates into
/// `dir/pki-out`; returns the port the config's URLs point to.
fn certomancer_pki(dir: &Path) -> u16 {
    let bin = pyenv_bin();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    for k in ["root", "interm", "ocsp", "tsa", "signer"] {
        std::fs::write(
            dir.join("keys").join(format!("{k}.key.pem")),
            rsa_key().private_key_to_pem_pkcs8().unwrap(),
        )
        .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let template = include_str!("../fixtures/verify/certomancer.yml");
    let config = template.replace("127.0.0.1:9000", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.join("certomancer.yml"), config).unwrap();
    let summon = Command::new(bin.join("certomancer"))
        .current_dir(dir)
        .args([
            "--config",
            "certomancer.yml",
            "mass-summon",
            "--flat",
            "testing-ca",
            "pki-out",
        ])
        .output()
        .unwrap();
    assert!(
        summon.status.success(),
        "certomancer mass-summon: {summon:?}"
    );
    port
}

fn start_certomancer(dir: &Path) -> Certomancer {
    let bin = pyenv_bin();
    let port = certomancer_pki(dir);
    let child = Command::new(bin.join("certomancer"))
        .current_dir(dir)
        .args([
            "--config",
            "certomancer.yml",
            "animate",
            "--port",
            &port.to_string(),
            "--no-web-ui",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = Certomancer {
        child,
        dir: dir.to_path_buf(),
        port,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "certomancer did not start on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    server
}

#[test]
fn timestamps_b_t_and_b_lta_with_a_real_tsa() {
    let f = fixture();
    let pki = start_certomancer(&f.dir.join("certomancer"));
    let out_dir = &pki.dir;
    let signer = Party {
        key: openssl::pkey::PKey::private_key_from_pem(
            &std::fs::read(out_dir.join("keys/signer.key.pem")).unwrap(),
        )
        .unwrap(),
        cert: X509::from_pem(&std::fs::read(out_dir.join("pki-out/signer.cert.pem")).unwrap())
            .unwrap(),
        key_pem: out_dir.join("keys/signer.key.pem"),
        cert_pem: out_dir.join("pki-out/signer.cert.pem"),
    };
    let root_pem = out_dir.join("pki-out/root.cert.pem");
    let chain = out_dir
        .join("pki-out/interm.cert.pem")
        .to_string_lossy()
        .into_owned();
    let tsa = format!("http://127.0.0.1:{}/testing-ca/tsa/tsa", pki.port);
    let base = f.dir.join("base.pdf");

    // B-T: signature timestamp from the TSA.
    let bt = out_dir.join("bt.pdf");
    let spec = "1/50,50,250,100/Sig1";
    let key = signer.key_pem.to_string_lossy().into_owned();
    let cert = signer.cert_pem.to_string_lossy().into_owned();
    let (b, o) = (
        base.to_string_lossy().into_owned(),
        bt.to_string_lossy().into_owned(),
    );
    pyhanko(&[
        "sign",
        "addsig",
        "--field",
        spec,
        "--use-pades",
        "--timestamp-url",
        &tsa,
        "pemder",
        "--key",
        &key,
        "--cert",
        &cert,
        "--chain",
        &chain,
        "--no-pass",
        &b,
        &o,
    ]);
    let before = chrono::Utc::now();
    let r = verify_and_compare(&bt, &root_pem).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.status, SignatureStatus::Valid, "{s:#?}");
    assert_eq!(s.pades_level, Some(PadesLevel::BT));
    let ts = s.timestamp.as_ref().expect("signature timestamp");
    assert!(ts.imprint_ok && ts.signature_ok && ts.trusted, "{ts:#?}");
    assert!(ts.tsa.as_deref().unwrap_or_default().contains("Test TSA"));
    let t = chrono::DateTime::parse_from_rfc3339(ts.time.as_deref().unwrap()).unwrap();
    let skew = (before - t.with_timezone(&chrono::Utc)).num_seconds().abs();
    assert!(skew < 600, "TSA time {t} is far from now");
    assert_eq!(
        s.chain.as_ref().unwrap().validated_at,
        ts.time.clone().unwrap(),
        "the chain is validated at the timestamp's time"
    );

    // A forged timestamp: the token's genTime is moved by ten minutes, so the TSA's signature
    // over the TSTInfo no longer holds while the main signature is untouched.
    let data = std::fs::read(&bt).unwrap();
    let year = chrono::Utc::now().format("%Y").to_string();
    let file = write(
        "bt-forged-time.pdf",
        &edit_contents(&data, |cms| {
            let at = cms
                .windows(6)
                .position(|w| w[0] == 0x18 && &w[2..6] == year.as_bytes())
                .expect("genTime in the token");
            let minute_tens = at + 2 + 10; // after YYYYMMDDHH
            cms[minute_tens] = if cms[minute_tens] == b'0' { b'1' } else { b'0' };
        }),
    );
    let r = verify_and_compare(&file, &root_pem).unwrap();
    let s = &r.signatures[0];
    assert!(s.intact && s.valid, "the signature itself is untouched");
    assert_eq!(s.status, SignatureStatus::TimestampInvalid, "{s:#?}");
    let ts = s.timestamp.as_ref().unwrap();
    assert!(ts.imprint_ok && !ts.signature_ok, "{ts:#?}");

    // B-LTA: revocation info embedded (DSS) and a document timestamp on top.
    let lta = out_dir.join("lta.pdf");
    let root_s = root_pem.to_string_lossy().into_owned();
    let o = lta.to_string_lossy().into_owned();
    pyhanko(&[
        "sign",
        "addsig",
        "--field",
        spec,
        "--use-pades-lta",
        "--with-validation-info",
        "--timestamp-url",
        &tsa,
        "--trust",
        &root_s,
        "--trust-replace",
        "pemder",
        "--key",
        &key,
        "--cert",
        &cert,
        "--chain",
        &chain,
        "--no-pass",
        &b,
        &o,
    ]);
    let r = verify_and_compare(&lta, &root_pem).unwrap();
    assert!(r.all_valid, "{r:#?}");
    let sig = r
        .signatures
        .iter()
        .find(|s| s.kind == SignatureKind::Signature)
        .unwrap();
    assert_eq!(sig.pades_level, Some(PadesLevel::BLTA), "{sig:#?}");
    assert!(sig.revocation.present, "{:#?}", sig.revocation);
    assert!(sig.revocation.covers_signer, "{:#?}", sig.revocation);
    assert_eq!(
        sig.revocation.signer,
        SignerRevocation::Good,
        "{:#?}",
        sig.revocation
    );
    assert_eq!(sig.coverage, Coverage::EarlierRevision);
    assert_eq!(sig.changes_after, ChangeLevel::SignaturesOnly);
    let doc_ts = r
        .signatures
        .iter()
        .find(|s| s.kind == SignatureKind::DocumentTimestamp)
        .expect("document timestamp");
    assert_eq!(doc_ts.status, SignatureStatus::Valid, "{doc_ts:#?}");
    assert!(doc_ts.timestamp.as_ref().unwrap().valid());
    assert!(r
        .dss
        .as_ref()
        .is_some_and(|d| d.certs > 0 && d.ocsps + d.crls > 0));

    // Tampering under a document timestamp is caught as a digest (imprint) mismatch.
    let mut data = std::fs::read(&lta).unwrap();
    let at = find(&data, b"Quyet dinh").unwrap();
    data[at] = b'q';
    let bad = write("lta-tampered.pdf", &data);
    let r = verify_and_compare(&bad, &root_pem).unwrap();
    assert!(r
        .signatures
        .iter()
        .all(|s| s.status == SignatureStatus::DigestMismatch));
}

#[test]
fn certification_rules_follow_docmdp() {
    let f = fixture();
    let base = f.dir.join("base.pdf");
    let s = |p: &Path| p.to_string_lossy().into_owned();
    // Prepared the right way for P=2: the empty field exists before certifying.
    let with_field = f.dir.join("with-empty-field.pdf");
    pyhanko(&[
        "sign",
        "addfields",
        "--field",
        "1/50,50,250,100/Sig2",
        &s(&base),
        &s(&with_field),
    ]);

    // (P, create the field after certifying?, expected status of the certification)
    let cases = [
        (1u8, false, SignatureStatus::ModifiedAfterSigning),
        (2, false, SignatureStatus::Valid),
        (2, true, SignatureStatus::ModifiedAfterSigning),
        (3, false, SignatureStatus::Valid),
        (3, true, SignatureStatus::ModifiedAfterSigning),
    ];
    for (p, new_field, expected) in cases {
        let input = if new_field { &base } else { &with_field };
        let certified = f.dir.join(format!("certified-p{p}-{new_field}.pdf"));
        pyhanko_certify(input, &certified, &f.signer, p);
        let r = verify_and_compare(&certified, &f.root.cert_pem).unwrap();
        assert!(r.all_valid, "P={p}: {r:#?}");
        assert_eq!(r.signatures[0].certification, Some(i64::from(p)));

        let signed = f
            .dir
            .join(format!("certified-p{p}-{new_field}-then-signed.pdf"));
        if new_field {
            pyhanko_sign(&certified, &signed, "Sig2", &f.signer_ec, &[]);
        } else {
            // pyHanko itself refuses to sign under P=1; this helper plays a careless signer.
            let out = pyhanko_helper(&[
                "sign-anyway".as_ref(),
                certified.as_os_str(),
                signed.as_os_str(),
                f.signer_ec.key_pem.as_os_str(),
                f.signer_ec.cert_pem.as_os_str(),
                "Sig2".as_ref(),
            ]);
            assert!(out.status.success(), "pyHanko sign: {out:?}");
        }
        let r = verify_and_compare(&signed, &f.root.cert_pem).unwrap();
        let cert_sig = &r.signatures[0];
        assert_eq!(cert_sig.field, "Cert");
        assert_eq!(cert_sig.changes_after, ChangeLevel::SignaturesOnly);
        assert_eq!(
            cert_sig.status, expected,
            "P={p} new field {new_field}: {cert_sig:#?}"
        );
        assert_eq!(r.signatures[1].status, SignatureStatus::Valid);
    }
}

/// Appends an incremental update that adds a /DSS holding `crl` (lopdf writes it).
fn append_dss_crl(data: &[u8], crl: Vec<u8>) -> Vec<u8> {
    use lopdf::{Dictionary, Document, IncrementalDocument, Object, Stream};
    let doc = Document::load_mem(data).unwrap();
    let root = doc.trailer.get(b"Root").unwrap().as_reference().unwrap();
    let mut inc = IncrementalDocument::create_from(data.to_vec(), doc);
    inc.opt_clone_object_to_new_document(root).unwrap();
    let crl_id = inc
        .new_document
        .add_object(Stream::new(Dictionary::new(), crl));
    let mut dss = Dictionary::new();
    dss.set("CRLs", Object::Array(vec![Object::Reference(crl_id)]));
    let dss_id = inc.new_document.add_object(dss);
    inc.new_document
        .get_object_mut(root)
        .unwrap()
        .as_dict_mut()
        .unwrap()
        .set("DSS", Object::Reference(dss_id));
    let mut out = Vec::new();
    inc.save_to(&mut out).unwrap();
    out
}

#[test]
fn a_revoked_signer_is_not_trusted() {
    let f = fixture();
    let dir = f.dir.join("certomancer-revoked");
    certomancer_pki(&dir);
    let bin = pyenv_bin();
    let crl = Command::new(bin.join("certomancer"))
        .current_dir(&dir)
        .args(["--config", "certomancer.yml", "necronomicon", "--no-pem"])
        .args(["testing-ca", "interm", "interm.crl"])
        .output()
        .unwrap();
    assert!(crl.status.success(), "certomancer necronomicon: {crl:?}");
    let signed = dir.join("revoked.pdf");
    let arg = |p: PathBuf| p.to_string_lossy().into_owned();
    pyhanko(&[
        "sign",
        "addsig",
        "--field",
        "1/50,50,250,100/Sig1",
        "--use-pades",
        "pemder",
        "--key",
        &arg(dir.join("keys/signer.key.pem")),
        "--cert",
        &arg(dir.join("pki-out/revoked.cert.pem")),
        "--chain",
        &arg(dir.join("pki-out/interm.cert.pem")),
        "--no-pass",
        &arg(f.dir.join("base.pdf")),
        &arg(signed.clone()),
    ]);
    let with_crl = append_dss_crl(
        &std::fs::read(&signed).unwrap(),
        std::fs::read(dir.join("interm.crl")).unwrap(),
    );
    let file = write("revoked-with-crl.pdf", &with_crl);
    let root = X509::from_pem(&std::fs::read(dir.join("pki-out/root.cert.pem")).unwrap()).unwrap();
    let r = verify_pdf(&with_crl, &[root]).unwrap();
    let s = &r.signatures[0];
    assert!(s.intact && s.valid, "{s:#?}");
    assert_eq!(
        s.revocation.signer,
        SignerRevocation::Revoked,
        "{:#?}",
        s.revocation
    );
    assert_eq!(
        s.revocation.revoked_at.as_deref(),
        Some("2024-01-01T00:00:00Z")
    );
    assert!(!s.trusted);
    assert!(s.chain.as_ref().unwrap().trusted, "the path itself is fine");
    assert_eq!(s.status, SignatureStatus::Untrusted);
    assert!(
        s.problems.iter().any(|p| p.contains("revoked")),
        "{:?}",
        s.problems
    );
    assert_eq!(
        s.changes_after,
        ChangeLevel::SignaturesOnly,
        "a DSS update is allowed"
    );
    // pyHanko, using the embedded CRL (its fetches go nowhere), also refuses it.
    let py = Command::new(bin.join("pyhanko"))
        .args(["sign", "validate", "--pretty-print", "--trust"])
        .arg(dir.join("pki-out/root.cert.pem"))
        .arg("--trust-replace")
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&py.stdout);
    assert!(
        !py.status.success(),
        "pyHanko accepted a revoked signer:\n{text}"
    );
    assert!(text.contains("judged INVALID"), "{text}");
}

#[test]
fn rsa_pss_sha384_sha512_and_p384_signatures_verify() {
    let f = fixture();
    let base = f.dir.join("base.pdf");
    let pss = f.dir.join("pss.pdf");
    pyhanko_sign(&base, &pss, "Sig1", &f.signer, &["--prefer-pss"]);
    let r = verify_and_compare(&pss, &f.root.cert_pem).unwrap();
    assert!(r.all_valid, "{r:#?}");
    let alg = r.signatures[0].integrity.signature_algorithm.as_deref();
    assert_eq!(alg, Some("rsassa_pss(sha256)"));

    let p384 = issue(
        &f.dir,
        "signer-p384",
        "Pham P384",
        ec_p384_key(),
        Some(&f.root),
        false,
        1003,
    );
    for (signer, md, expected) in [
        (&f.signer, "sha512", "rsa_pkcs1v15(sha512)"),
        (&p384, "sha384", "ecdsa(sha384)"),
    ] {
        let out = f.dir.join(format!("{md}.pdf"));
        let run = pyhanko_helper(&[
            "sign-md".as_ref(),
            base.as_os_str(),
            out.as_os_str(),
            signer.key_pem.as_os_str(),
            signer.cert_pem.as_os_str(),
            "Sig1".as_ref(),
            md.as_ref(),
        ]);
        assert!(run.status.success(), "pyHanko sign {md}: {run:?}");
        let r = verify_and_compare(&out, &f.root.cert_pem).unwrap();
        assert!(r.all_valid, "{md}: {r:#?}");
        let s = &r.signatures[0];
        assert_eq!(s.integrity.signature_algorithm.as_deref(), Some(expected));
        assert_eq!(s.integrity.digest_algorithm.as_deref(), Some(md));
    }
}

/// Appends an update that gives the (unsigned) field `name` a visible appearance.
fn append_appearance_to_field(data: &[u8], name: &str) -> Vec<u8> {
    use lopdf::{Dictionary, Document, IncrementalDocument, Object, Stream};
    let doc = Document::load_mem(data).unwrap();
    let field_id = doc
        .objects
        .iter()
        .find(|(_, o)| {
            o.as_dict()
                .ok()
                .and_then(|d| d.get(b"T").ok())
                .and_then(|t| t.as_str().ok())
                == Some(name.as_bytes())
        })
        .map(|(id, _)| *id)
        .expect("the field");
    let mut inc = IncrementalDocument::create_from(data.to_vec(), doc);
    inc.opt_clone_object_to_new_document(field_id).unwrap();
    let mut ap_dict = Dictionary::new();
    ap_dict.set("Type", Object::Name(b"XObject".to_vec()));
    ap_dict.set("Subtype", Object::Name(b"Form".to_vec()));
    ap_dict.set(
        "BBox",
        Object::Array(vec![0.into(), 0.into(), 200.into(), 50.into()]),
    );
    let ap = inc.new_document.add_object(Stream::new(
        ap_dict,
        b"BT /Helv 12 Tf 10 20 Td (DA DUYET - APPROVED) Tj ET".to_vec(),
    ));
    let mut n = Dictionary::new();
    n.set("N", Object::Reference(ap));
    inc.new_document
        .get_object_mut(field_id)
        .unwrap()
        .as_dict_mut()
        .unwrap()
        .set("AP", Object::Dictionary(n));
    let mut out = Vec::new();
    inc.save_to(&mut out).unwrap();
    out
}

#[test]
fn an_appearance_added_to_an_unsigned_field_after_signing_is_named() {
    let f = fixture();
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let with_field = f.dir.join("empty-sig2.pdf");
    pyhanko(&[
        "sign",
        "addfields",
        "--field",
        "1/300,50,500,100/Sig2",
        &s(&f.dir.join("base.pdf")),
        &s(&with_field),
    ]);
    let signed = f.dir.join("empty-sig2-signed.pdf");
    pyhanko_sign(&with_field, &signed, "Sig1", &f.signer, &[]);
    let forged = write(
        "empty-sig2-forged-appearance.pdf",
        &append_appearance_to_field(&std::fs::read(&signed).unwrap(), "Sig2"),
    );
    let r = verify_and_compare(&forged, &f.root.cert_pem).unwrap();
    let sig1 = &r.signatures[0];
    assert_eq!(
        sig1.status,
        SignatureStatus::ModifiedAfterSigning,
        "{sig1:#?}"
    );
    assert_eq!(sig1.changes_after, ChangeLevel::Other);
}
