//! Outside validators as test oracles: pyHanko (in a local venv made on first use), qpdf --check
//! and poppler's pdfsig. A missing tool fails the test with a clear message; nothing is skipped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The venv holding pyHanko and certomancer: `$DOCFLOW_VENV` or `<repo>/.venv`.
pub fn venv() -> PathBuf {
    super::pyvenv::pyhanko_venv()
}

fn tool(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("`{name}` is required for the signing tests: apt-get install {package}");
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `pyhanko sign validate` (strict syntax); returns the report. Panics unless every signature is
/// INTACT, VALID and TRUSTED by one of `trust`.
pub fn validate_all(pdf: &Path, trust: &[&Path]) -> String {
    validate_with(pdf, trust, true)
}

/// As [`validate_all`]; `strict: false` adds `--no-strict-syntax`, which pyHanko needs to validate
/// hybrid-reference files at all.
pub fn validate_with(pdf: &Path, trust: &[&Path], strict: bool) -> String {
    let venv = venv();
    let fields = signature_fields(pdf);
    assert!(
        !fields.is_empty(),
        "pyHanko finds no signature in {}",
        pdf.display()
    );
    let mut cmd = Command::new(venv.join("bin/pyhanko"));
    cmd.args([
        "sign",
        "validate",
        "--pretty-print",
        "--no-revocation-check",
        "--trust-replace",
    ]);
    if !strict {
        cmd.arg("--no-strict-syntax");
    }
    for t in trust {
        cmd.arg("--trust").arg(t);
    }
    let out = cmd.arg(pdf).output().expect("run pyhanko");
    let t = text(&out);
    let n = fields.len();
    let valid = t.matches("The signature is judged VALID").count();
    let trusted = t.matches("The signer's certificate is trusted").count();
    let intact = t
        .matches("The signature is cryptographically sound")
        .count();
    // Coverage: the newest signature covers the whole file; each earlier one sees only
    // signing/form-filling changes after it (pyHanko's FORM_FILLING modification level).
    let whole = t.matches("The signature covers the entire file").count();
    let benign = t
        .matches("All modifications relate to signing and form filling operations")
        .count();
    assert!(
        out.status.success()
            && valid == n
            && trusted == n
            && intact == n
            && whole == 1
            && benign == n - 1,
        "pyHanko does not find all {n} signatures of {} intact, valid, trusted with the expected coverage \
         ({intact} intact, {valid} valid, {trusted} trusted, {whole} whole-file, {benign} with only signing changes after):\n{t}",
        pdf.display()
    );
    t
}

/// Names of the signed signature fields, as pyHanko lists them.
pub fn signature_fields(pdf: &Path) -> Vec<String> {
    let out = Command::new(venv().join("bin/pyhanko"))
        .args(["sign", "list"])
        .arg(pdf)
        .output()
        .expect("run pyhanko sign list");
    assert!(
        out.status.success(),
        "pyhanko sign list failed: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains(":EMPTY"))
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Runs the python of the venv on a script with arguments; returns stdout, panics on failure.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(out.status.success(), "python failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `qpdf --check` must exit 0 (clean).
pub fn qpdf_check(pdf: &Path) {
    let out = Command::new(tool("qpdf", "qpdf"))
        .arg("--check")
        .arg(pdf)
        .output()
        .expect("run qpdf");
    assert_eq!(
        out.status.code(),
        Some(0),
        "qpdf --check {}:\n{}",
        pdf.display(),
        text(&out)
    );
}

/// Number of signatures pdfsig calls valid, with `ca` trusted through a fresh NSS database.
pub fn pdfsig_valid(pdf: &Path, ca: &Path) -> usize {
    let certutil = tool("certutil", "libnss3-tools");
    let db = tempfile::tempdir().expect("tempdir");
    let sql = format!("sql:{}", db.path().display());
    super::pyvenv::run(Command::new(&certutil).args(["-N", "-d", &sql, "--empty-password"]))
        .expect("certutil -N");
    super::pyvenv::run(
        Command::new(&certutil)
            .args(["-A", "-d", &sql, "-n", "ca", "-t", "CT,C,C", "-i"])
            .arg(ca),
    )
    .expect("certutil -A");
    let out = Command::new(tool("pdfsig", "poppler-utils"))
        .args(["-nssdir", &sql])
        .arg(pdf)
        .output()
        .expect("run pdfsig");
    text(&out).matches("Signature is Valid").count()
}
