//! Verification over the real-world corpus (`DOCFLOW_CORPUS_DIR`, e.g. ../shared/corpus/pdf):
//! every file gives a report or a clear error in bounded time, and on every signed file
//! docflow agrees with pyHanko. Without the variable these tests do nothing (CI sets it); with
//! a variable that points nowhere they fail.

use crate::common::pyhanko_verify::*;
use docflow::signing::verify::{verify_pdf, ChangeLevel, Coverage, SignatureKind, VerifyReport};
use openssl::hash::{hash, MessageDigest};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

pub(crate) struct Entry {
    pub(crate) file: PathBuf,
    pub(crate) signatures: usize,
}

/// The corpus files listed in MANIFEST.tsv, checked against their sha256; `None` when
/// DOCFLOW_CORPUS_DIR is not set.
pub(crate) fn corpus() -> Option<Vec<Entry>> {
    let Some(dir) = std::env::var_os("DOCFLOW_CORPUS_DIR") else {
        eprintln!("DOCFLOW_CORPUS_DIR is not set: corpus verification not run");
        return None;
    };
    let dir = PathBuf::from(dir);
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap_or_else(|e| {
        panic!(
            "DOCFLOW_CORPUS_DIR={} has no readable MANIFEST.tsv: {e}",
            dir.display()
        )
    });
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().expect("MANIFEST header").split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let (c_file, c_sha, c_sigs) = (col("file"), col("sha256"), col("existing_signatures"));
    let entries: Vec<Entry> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let file = dir.join(f[c_file]);
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let sha: String = hash(MessageDigest::sha256(), &data)
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                sha,
                f[c_sha],
                "{} does not match MANIFEST.tsv",
                file.display()
            );
            Entry {
                file,
                signatures: f[c_sigs].parse().unwrap_or(0),
            }
        })
        .collect();
    assert!(entries.len() >= 40, "the corpus looks incomplete");
    Some(entries)
}

/// Verifies on a thread with the default (small) stack, failing on a panic or after 10 s.
fn verify_bounded(data: Vec<u8>) -> Result<VerifyReport, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(verify_pdf(&data, &[]).map_err(|e| format!("[{}] {e}", e.code())));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("verification took more than 10 s"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("verification panicked"),
    }
}

#[test]
fn every_corpus_file_gives_a_report_or_a_clear_error_in_time() {
    let Some(entries) = corpus() else { return };
    for e in &entries {
        let data = std::fs::read(&e.file).unwrap();
        let name = e.file.file_name().unwrap().to_string_lossy().into_owned();
        match std::panic::catch_unwind(|| verify_bounded(data)) {
            Ok(Ok(r)) => {
                assert!(!r.all_valid, "{name}: nothing can be trusted without roots");
                eprintln!("{name}: {} signature(s)", r.signatures.len());
            }
            Ok(Err(msg)) => {
                assert!(!msg.is_empty());
                eprintln!("{name}: refused: {msg}");
            }
            Err(_) => panic!("{name}: verification panicked or hung"),
        }
    }
}

#[test]
fn docflow_agrees_with_pyhanko_on_every_signed_corpus_file() {
    let Some(entries) = corpus() else { return };
    // A root that signed nothing here: both validators must call every signer untrusted.
    let dir = tempfile::tempdir().unwrap();
    let root = issue(
        dir.path(),
        "unrelated-root",
        "Unrelated Root",
        rsa_key(),
        None,
        true,
        1,
    );
    let mut compared = 0;
    for e in entries.iter().filter(|e| e.signatures > 0) {
        let name = e.file.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&e.file).unwrap();
        let ours = verify_bounded(data);
        let py = pyhanko_validate(&e.file, &root.cert_pem);
        let report = match ours {
            Ok(r) => r,
            Err(msg) => {
                assert!(
                    !py.ok && py.signatures.is_empty(),
                    "{name}: docflow refused it ({msg}) but pyHanko validated:\n{}",
                    py.output
                );
                continue;
            }
        };
        assert!(
            !py.ok && !report.all_valid,
            "{name}: nothing is trusted here"
        );
        compare_doc_timestamps(&name, &report, &py);
        let regular: Vec<_> = report
            .signatures
            .iter()
            .filter(|s| s.kind == SignatureKind::Signature)
            .collect();
        if py.signatures.is_empty() {
            // pyHanko could not read the file at all (e.g. encrypted); docflow may still
            // report, but must not call anything valid.
            eprintln!("{name}: pyHanko gave no per-signature verdict");
            continue;
        }
        assert_eq!(
            py.signatures.len(),
            regular.len(),
            "{name}: signature count\n{report:#?}\n{}",
            py.output
        );
        for p in &py.signatures {
            let s = regular
                .iter()
                .find(|s| s.field == p.field)
                .unwrap_or_else(|| panic!("{name}: field {} missing in docflow's report", p.field));
            let ctx = format!("{name} field {}: {s:#?}\npyHanko:\n{}", p.field, py.output);
            assert_eq!(s.intact && s.valid, p.sound, "soundness: {ctx}");
            assert!(!s.trusted && !p.trusted, "trust: {ctx}");
            if p.sound {
                assert_eq!(
                    s.coverage == Coverage::WholeFile,
                    p.whole_file,
                    "coverage: {ctx}"
                );
                if let Some(m) = &p.modifications {
                    assert_eq!(
                        s.changes_after == ChangeLevel::SignaturesOnly,
                        m.starts_with("All modifications"),
                        "modifications: {ctx}"
                    );
                }
            }
            compared += 1;
        }
    }
    assert!(compared >= 8, "only {compared} signatures compared");
}
