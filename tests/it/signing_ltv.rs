//! PAdES B-LT and B-LTA (issue 12, part 2) against certomancer on loopback (OCSP, CRLs, TSA):
//! `docflow pdf sign --level`, `docflow pdf extend` (also of a file pyHanko signed), renewal,
//! and the refusals (a revocation source down, a revoked signer). Every output is validated by
//! pyHanko with online fetching disabled *and certomancer stopped* (only what the file carries
//! can be used: `tests/common/pades_level.py`), and by docflow's own verifier; both must name
//! the same level.

use crate::common::certomancer::Certomancer;
use crate::common::pyhanko;
use crate::common::TestServer;
use crate::pdfgen;
use docflow::signing::ltv::{self, ExtendOptions, Level};
use docflow::signing::verify::{verify_pdf_file, PadesLevel, SignatureKind, SignatureStatus};
use docflow::signing::TsaConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The signer's files from certomancer's PKI: key, certificate, chain (intermediate + root).
struct SignerFiles {
    key: PathBuf,
    cert: PathBuf,
    chain: PathBuf,
}

fn signer_files(cm: &Certomancer, name: &str) -> SignerFiles {
    let dir = cm.dir.path();
    let chain = dir.join("chain.pem");
    let mut pem = std::fs::read(dir.join("pki-out/interm.cert.pem")).unwrap();
    pem.extend(std::fs::read(dir.join("pki-out/root.cert.pem")).unwrap());
    std::fs::write(&chain, pem).unwrap();
    SignerFiles {
        key: dir.join(format!("keys/{name}.key.pem")),
        cert: dir.join(format!("pki-out/{name}.cert.pem")),
        chain,
    }
}

fn docflow(args: &[&str]) -> Output {
    Command::new(TestServer::binary())
        .args(["pdf"])
        .args(args)
        .env_remove("DOCFLOW_CONFIG")
        .env_remove("DOCFLOW_TSA_URL")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sign(s: &SignerFiles, input: &Path, out: &Path, level: &str, tsa: &str) -> Output {
    let mut args = vec![
        "sign".to_string(),
        input.display().to_string(),
        out.display().to_string(),
        "--key".into(),
        s.key.display().to_string(),
        "--cert".into(),
        s.cert.display().to_string(),
        "--chain".into(),
        s.chain.display().to_string(),
        "--level".into(),
        level.into(),
    ];
    if !tsa.is_empty() {
        args.extend(["--tsa".to_string(), tsa.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docflow(&args)
}

fn sign_ok(s: &SignerFiles, input: &Path, out: &Path, level: &str, tsa: &str) {
    let o = sign(s, input, out, level, tsa);
    assert!(o.status.success(), "sign --level {level}: {}", text(&o));
    assert!(
        text(&o).contains(&format!("PAdES {}", level.to_uppercase())),
        "{}",
        text(&o)
    );
}

fn extend(file: &Path, out: &Path, level: &str, extra: &[&str]) -> Output {
    let f = file.display().to_string();
    let o = out.display().to_string();
    let mut args = vec!["extend", f.as_str(), "--level", level, "-o", o.as_str()];
    args.extend_from_slice(extra);
    docflow(&args)
}

fn extend_ok(file: &Path, out: &Path, level: &str, extra: &[&str]) {
    let o = extend(file, out, level, extra);
    assert!(o.status.success(), "extend --level {level}: {}", text(&o));
}

/// pyHanko's level per regular signature, nothing fetched (see `pades_level.py`).
fn pyhanko_levels(pdf: &Path, root: &Path) -> Vec<serde_json::Value> {
    let out = pyhanko::python(
        include_str!("../common/pades_level.py"),
        &[&pdf.display().to_string(), &root.display().to_string()],
    );
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn level_name(l: PadesLevel) -> &'static str {
    match l {
        PadesLevel::BB => "B-B",
        PadesLevel::BT => "B-T",
        PadesLevel::BLT => "B-LT",
        PadesLevel::BLTA => "B-LTA",
        PadesLevel::NotBaseline => "not baseline",
        PadesLevel::NotPades => "not PAdES",
    }
}

/// pyHanko (nothing fetched) and docflow's verify both find `want` for every regular
/// signature, which docflow also finds valid; document timestamps are valid too.
pub(crate) fn assert_level(pdf: &Path, root: &Path, want: &str) {
    let py = pyhanko_levels(pdf, root);
    let ours = verify_pdf_file(
        pdf,
        &[openssl::x509::X509::from_pem(&std::fs::read(root).unwrap()).unwrap()],
    )
    .unwrap();
    let regular: Vec<_> = ours
        .signatures
        .iter()
        .filter(|s| s.kind == SignatureKind::Signature)
        .collect();
    assert!(!regular.is_empty(), "no signature in {}", pdf.display());
    assert_eq!(py.len(), regular.len(), "{py:#?}");
    for (p, s) in py.iter().zip(&regular) {
        assert_eq!(p["field"], s.field.as_str(), "{py:#?}");
        assert_eq!(
            p["level"],
            want,
            "pyHanko's level for {} in {}: {p:#}",
            s.field,
            pdf.display()
        );
        let level = s.pades_level.map(level_name);
        assert_eq!(
            level,
            Some(want),
            "docflow's level for {} in {}: {s:#?}",
            s.field,
            pdf.display()
        );
        assert_eq!(s.status, SignatureStatus::Valid, "{s:#?}");
    }
    for t in ours
        .signatures
        .iter()
        .filter(|s| s.kind == SignatureKind::DocumentTimestamp)
    {
        assert_eq!(t.status, SignatureStatus::Valid, "{t:#?}");
    }
    assert!(ours.all_valid, "{ours:#?}");
    pyhanko::qpdf_check(pdf);
}

#[test]
fn sign_at_each_level_and_extend_validate_without_fetching_in_pyhanko_and_docflow() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "signer");
    let tsa = cm.tsa_url();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(2)).unwrap();
    let p = |n: &str| d.path().join(n);

    sign_ok(&s, &input, &p("bb.pdf"), "b-b", "");
    sign_ok(&s, &input, &p("bt.pdf"), "b-t", &tsa);
    sign_ok(&s, &input, &p("blt.pdf"), "b-lt", &tsa);
    sign_ok(&s, &input, &p("blta.pdf"), "b-lta", &tsa);
    // B-T signed, then extended: to B-LT, and that to B-LTA.
    extend_ok(&p("bt.pdf"), &p("bt-lt.pdf"), "b-lt", &[]);
    extend_ok(
        &p("bt-lt.pdf"),
        &p("bt-lt-lta.pdf"),
        "b-lta",
        &["--tsa", &tsa],
    );
    // A second signer on a B-LTA file, extended again: both signatures B-LTA.
    sign_ok(&s, &p("blta.pdf"), &p("two.pdf"), "b-t", &tsa);
    extend_ok(&p("two.pdf"), &p("two-lta.pdf"), "b-lta", &["--tsa", &tsa]);
    // b-lta without a TSA is refused before anything is fetched.
    let o = extend(&p("bt.pdf"), &p("never.pdf"), "b-lta", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("[signing_options_invalid]"),
        "{}",
        text(&o)
    );
    assert!(!p("never.pdf").exists());

    // From here on nothing answers: the files must carry everything.
    let root = d.path().join("root.pem");
    std::fs::copy(cm.root(), &root).unwrap();
    drop(cm);
    assert_level(&p("bt.pdf"), &root, "B-T");
    assert_level(&p("blt.pdf"), &root, "B-LT");
    assert_level(&p("blta.pdf"), &root, "B-LTA");
    assert_level(&p("bt-lt.pdf"), &root, "B-LT");
    assert_level(&p("bt-lt-lta.pdf"), &root, "B-LTA");
    assert_level(&p("two-lta.pdf"), &root, "B-LTA");
    assert_level(&p("bb.pdf"), &root, "B-B");

    // The B-LT file holds a DSS (no /VRI) with the chain and the revocation answers.
    let r = verify_pdf_file(&p("blt.pdf"), &[]).unwrap();
    let dss = r.dss.expect("a DSS");
    assert!(dss.certs >= 4, "signer, intermediate, root, TSA: {dss:?}");
    assert!(dss.ocsps >= 1 && dss.crls >= 1, "{dss:?}");
    assert_eq!(dss.vri, 0);
    // Without trust roots, docflow cannot call the embedded answers verified: not B-LT.
    assert_eq!(r.signatures[0].pades_level, Some(PadesLevel::BT));
}

#[test]
fn an_archive_renewed_twice_stays_valid_in_pyhanko_and_docflow() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "signer");
    let tsa = cm.tsa_url();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(1)).unwrap();
    let lta = d.path().join("lta.pdf");
    sign_ok(&s, &input, &lta, "b-lta", &tsa);
    let once = d.path().join("once.pdf");
    extend_ok(&lta, &once, "b-lta", &["--renew", "--tsa", &tsa]);
    let twice = d.path().join("twice.pdf");
    extend_ok(&once, &twice, "b-lta", &["--renew", "--tsa", &tsa]);
    // In place (no -o): the file itself is renewed.
    let in_place = d.path().join("in-place.pdf");
    std::fs::copy(&twice, &in_place).unwrap();
    let before = std::fs::metadata(&in_place).unwrap().len();
    // The TSA from the tsa_url setting (here DOCFLOW_TSA_URL) when --tsa is not given.
    let o = Command::new(TestServer::binary())
        .args(["pdf", "extend"])
        .arg(&in_place)
        .args(["--level", "b-lta", "--renew"])
        .env_remove("DOCFLOW_CONFIG")
        .env("DOCFLOW_TSA_URL", &tsa)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("document timestamp"), "{}", text(&o));
    assert!(std::fs::metadata(&in_place).unwrap().len() > before);
    // --renew needs b-lta, and a document timestamp to renew.
    let o = extend(&lta, &d.path().join("x.pdf"), "b-lt", &["--renew"]);
    assert!(
        text(&o).contains("[signing_options_invalid]"),
        "{}",
        text(&o)
    );
    let bt = d.path().join("bt.pdf");
    sign_ok(&s, &input, &bt, "b-t", &tsa);
    let o = extend(
        &bt,
        &d.path().join("x.pdf"),
        "b-lta",
        &["--renew", "--tsa", &tsa],
    );
    assert!(
        text(&o).contains("document timestamp to renew"),
        "{}",
        text(&o)
    );

    let root = d.path().join("root.pem");
    std::fs::copy(cm.root(), &root).unwrap();
    drop(cm);
    for f in [&lta, &once, &twice, &in_place] {
        assert_level(f, &root, "B-LTA");
    }
    let r = verify_pdf_file(&twice, &[]).unwrap();
    let stamps = r
        .signatures
        .iter()
        .filter(|s| s.kind == SignatureKind::DocumentTimestamp)
        .count();
    assert_eq!(stamps, 3, "the first document timestamp and two renewals");
}

#[test]
fn a_file_pyhanko_signed_is_extended_to_b_lta() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "signer");
    let tsa = cm.tsa_url();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(1)).unwrap();
    let bt = d.path().join("pyhanko-bt.pdf");
    let out = Command::new(pyhanko::venv().join("bin/pyhanko"))
        .args([
            "sign",
            "addsig",
            "--field",
            "Sig1",
            "--use-pades",
            "--timestamp-url",
            &tsa,
            "pemder",
        ])
        .arg("--key")
        .arg(&s.key)
        .arg("--cert")
        .arg(&s.cert)
        .arg("--chain")
        .arg(&s.chain)
        .arg("--no-pass")
        .arg(&input)
        .arg(&bt)
        .output()
        .unwrap();
    assert!(out.status.success(), "pyhanko addsig: {}", text(&out));
    let lta = d.path().join("extended.pdf");
    let mut doc = std::fs::read(&bt).unwrap();
    let r = ltv::extend_vec(
        &mut doc,
        &ExtendOptions::new(Level::BLTA, Some(TsaConfig::new(tsa.clone()))),
    )
    .unwrap();
    assert_eq!(r.covered, vec!["Sig1".to_string()]);
    assert!(r.doc_timestamp.is_some());
    std::fs::write(&lta, &doc).unwrap();
    let root = d.path().join("root.pem");
    std::fs::copy(cm.root(), &root).unwrap();
    drop(cm);
    assert_level(&bt, &root, "B-T");
    assert_level(&lta, &root, "B-LTA");
}

#[test]
fn revocation_sources_down_fail_with_revocation_unavailable_and_write_nothing() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "signer");
    let tsa = cm.tsa_url();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(1)).unwrap();
    let bt = d.path().join("bt.pdf");
    sign_ok(&s, &input, &bt, "b-t", &tsa);
    drop(cm); // OCSP responder, CRLs and TSA all gone
    let before = std::fs::read(&bt).unwrap();
    let out = d.path().join("lt.pdf");
    let o = extend(&bt, &out, "b-lt", &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("error [revocation_unavailable]"),
        "{}",
        text(&o)
    );
    assert!(!out.exists(), "no output file");
    // In place: the input is left exactly as it was.
    let o = docflow(&["extend", &bt.display().to_string(), "--level", "b-lt"]);
    assert!(
        text(&o).contains("[revocation_unavailable]"),
        "{}",
        text(&o)
    );
    assert!(
        std::fs::read(&bt).unwrap() == before,
        "the input was changed"
    );
    // The library leaves the document as it was.
    let mut doc = before.clone();
    let e = ltv::extend_vec(&mut doc, &ExtendOptions::new(Level::BLT, None)).unwrap_err();
    assert_eq!(e.code(), "revocation_unavailable", "{e}");
    assert!(doc == before);
    // No leftover temporary file either.
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
}

#[test]
fn a_revoked_signer_is_refused_with_the_reason_and_time() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "revoked");
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(1)).unwrap();
    let out = d.path().join("lt.pdf");
    let o = sign(&s, &input, &out, "b-lt", &cm.tsa_url());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("error [certificate_revoked]"), "{t}");
    assert!(t.contains("Tran Van Thu Hoi"), "names the certificate: {t}");
    assert!(t.contains("keyCompromise"), "the reason: {t}");
    assert!(t.contains("2021"), "the revocation time: {t}");
    assert!(!out.exists(), "no output file");
    // B-T signing does not ask the issuer, as before.
    sign_ok(&s, &input, &d.path().join("bt.pdf"), "b-t", &cm.tsa_url());
}

/// Adds a DSS holding only `certs` (no OCSP response, no CRL) with pyHanko, as an incremental
/// update of a copy of `src`.
const CERTS_ONLY_DSS: &str = r#"
import shutil, sys
from pyhanko.keys import load_cert_from_pemder
from pyhanko.sign.validation import DocumentSecurityStore
src, out, *certs = sys.argv[1:]
shutil.copy(src, out)
with open(out, "r+b") as f:
    DocumentSecurityStore.add_dss(f, None, certs=[load_cert_from_pemder(c) for c in certs])
"#;

#[test]
fn a_dss_without_revocation_answers_is_b_t_in_both_and_extending_it_completes_it() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "signer");
    let tsa = cm.tsa_url();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("in.pdf");
    std::fs::write(&input, pdfgen::table(1)).unwrap();
    let bt = d.path().join("bt.pdf");
    sign_ok(&s, &input, &bt, "b-t", &tsa);
    let certs_only = d.path().join("certs-only.pdf");
    let pki = cm.dir.path().join("pki-out");
    let mut args: Vec<String> = vec![bt.display().to_string(), certs_only.display().to_string()];
    for c in ["signer", "interm", "root", "tsa"] {
        args.push(pki.join(format!("{c}.cert.pem")).display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    pyhanko::python(CERTS_ONLY_DSS, &args);
    // docflow extends the DSS pyHanko wrote: its four certificates stay, once each.
    let merged = d.path().join("merged.pdf");
    extend_ok(&certs_only, &merged, "b-lt", &[]);
    let root = d.path().join("root.pem");
    std::fs::copy(cm.root(), &root).unwrap();
    drop(cm);

    assert_level(&certs_only, &root, "B-T");
    let trust = [openssl::x509::X509::from_pem(&std::fs::read(&root).unwrap()).unwrap()];
    let r = verify_pdf_file(&certs_only, &trust).unwrap();
    assert_eq!(r.dss.as_ref().map(|d| d.certs), Some(4), "{:?}", r.dss);
    let gaps = &r.signatures[0].revocation.long_term_gaps;
    assert!(
        gaps.iter()
            .any(|g| g.contains("no verified revocation data") && g.contains("Nguyen Van A")),
        "{gaps:?}"
    );
    assert!(gaps.iter().any(|g| g.contains("Test TSA")), "{gaps:?}");

    assert_level(&merged, &root, "B-LT");
    let r = verify_pdf_file(&merged, &trust).unwrap();
    let dss = r.dss.expect("a DSS");
    // signer, intermediate, root, TSA (pyHanko's) + the OCSP responder's (docflow's)
    assert_eq!(dss.certs, 5, "{dss:?}");
    assert!(dss.ocsps >= 1 && dss.crls >= 1, "{dss:?}");
    assert!(r.signatures[0].revocation.long_term_gaps.is_empty());
}

#[test]
fn a_file_with_an_xref_stream_gets_its_dss_and_timestamp_in_xref_streams() {
    let cm = Certomancer::start();
    let s = signer_files(&cm, "signer");
    let tsa = cm.tsa_url();
    let d = tempfile::tempdir().unwrap();
    let input = d.path().join("xref-stream.pdf");
    std::fs::write(&input, pdfgen::xref_stream()).unwrap();
    let lta = d.path().join("lta.pdf");
    sign_ok(&s, &input, &lta, "b-lta", &tsa);
    let renewed = d.path().join("renewed.pdf");
    extend_ok(&lta, &renewed, "b-lta", &["--renew", "--tsa", &tsa]);
    let root = d.path().join("root.pem");
    std::fs::copy(cm.root(), &root).unwrap();
    drop(cm);
    // Every update (signature, DSS, document timestamps) ends in an xref stream, no table.
    let data = std::fs::read(&renewed).unwrap();
    let text = String::from_utf8_lossy(&data);
    assert!(!text.contains("\nxref\n"), "an xref table was written");
    assert_eq!(
        text.matches("/Type /XRef").count(),
        5,
        "original + 4 updates"
    );
    assert_level(&lta, &root, "B-LTA");
    assert_level(&renewed, &root, "B-LTA");
}
