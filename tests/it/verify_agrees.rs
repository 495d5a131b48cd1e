//! "docflow's verify agrees with pyHanko" as a property of every file docflow signs (issue 12):
//! each input is signed twice over (invisible, then with a visible stamp on page 1), and, when
//! it has an empty signature field, once more with the route's number stamp drawn in that field
//! (`Visible::in_field`); after
//! each signature docflow's verdict on every signature of the output, matched by /ByteRange, must
//! be pyHanko's: cryptographically sound or not, trusted, changes after it accepted, judged
//! valid. Inputs: the files of tests/fixtures/pdf, the generated ones of tests/fixtures/pdfgen.rs
//! and, with DOCFLOW_CORPUS_DIR set (CI), every corpus file of its MANIFEST.tsv. Inputs docflow
//! refuses to sign are left to the signing tests.

use crate::common::pyhanko_verify::*;
use crate::pdfgen;
use crate::verify_corpus::corpus;
use docflow::signing::verify::{
    verify_pdf, ChangeLevel, Coverage, SignatureKind, SignatureReport, SignatureStatus,
};
use docflow::signing::{sign_bytes, SignOptions, Signer, Visible};
use openssl::x509::X509;
use std::path::{Path, PathBuf};

/// Where pyHanko raises instead of giving a verdict, by input and step, with its message:
/// no verdict to compare, so each one is named here, and the test fails if one no longer happens
/// (or another appears). On both files pyHanko's diff analysis of a second update fails the
/// same way when pyHanko signs the file twice itself (`pyhanko sign addsig --no-strict-syntax`
/// twice, then validate): qpdf's hybrid-xref.pdf lists its xref stream at the catalog's offset,
/// override-compressed-object.pdf redefines objects of an object stream in an update.
const PYHANKO_RAISES: &[(&str, &str)] = &[
    (
        "valid-hybrid-xref-30-pages.pdf (then-visible)",
        "No container reference available",
    ),
    (
        "valid-objstm-object-overridden-in-update.pdf (then-visible)",
        "No container reference available",
    ),
];

/// A root, a signer under it, and a folder for the outputs (kept for inspection on failure).
struct Setup {
    dir: PathBuf,
    root: Party,
    roots: Vec<X509>,
    party: Party,
    signer: Signer,
    /// How many outputs were stamped in an existing field (the `in-field` step).
    in_field: std::cell::Cell<usize>,
}

fn setup() -> Setup {
    let parent = target_dir().join("verify-tests");
    std::fs::create_dir_all(&parent).unwrap();
    let dir = tempfile::Builder::new()
        .prefix("agree-")
        .tempdir_in(&parent)
        .unwrap()
        .keep();
    let root = issue(&dir, "root", "Docflow Agree Root", rsa_key(), None, true, 1);
    let party = issue(
        &dir,
        "signer",
        "Nguyễn Văn Đức",
        rsa_key(),
        Some(&root),
        false,
        1001,
    );
    let signer = Signer::from_pem_files(&party.key_pem, &party.cert_pem, None, None).unwrap();
    let roots = vec![root.cert.clone()];
    Setup {
        dir,
        root,
        roots,
        party,
        signer,
        in_field: std::cell::Cell::new(0),
    }
}

/// One signature's verdict, in the terms both validators report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    sound: bool,
    trusted: bool,
    /// Only meaningful when sound: it covers the file, or what follows it is accepted.
    changes_ok: bool,
    judged_valid: bool,
}

fn ours(s: &SignatureReport) -> Verdict {
    Verdict {
        sound: s.intact && s.valid,
        trusted: s.trusted,
        changes_ok: s.status != SignatureStatus::ModifiedAfterSigning
            && (s.coverage == Coverage::WholeFile
                || s.changes_after == ChangeLevel::SignaturesOnly),
        judged_valid: s.status == SignatureStatus::Valid,
    }
}

/// pyHanko's verdicts (tests/fixtures/verify/pyhanko_helper.py `verdicts`): by /ByteRange, or
/// the reason it could not read the file.
type Theirs = Vec<(Vec<i64>, String, Option<String>, Verdict)>;

fn theirs(file: &Path, root: &Path, strict: bool) -> Result<Theirs, String> {
    let out = pyhanko_helper(&[
        "verdicts".as_ref(),
        file.as_os_str(),
        root.as_os_str(),
        (if strict { "1" } else { "0" }).as_ref(),
    ]);
    assert!(
        out.status.success(),
        "pyhanko_helper verdicts {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let j: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("pyhanko_helper printed {line:?}: {e}"));
        if let Some(e) = j.get("error").filter(|_| j.get("field").is_none()) {
            return Err(e.to_string());
        }
        let br = j["byte_range"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_i64()).collect())
            .unwrap_or_default();
        let b = |k: &str| j[k] == true;
        v.push((
            br,
            j["field"].as_str().unwrap_or_default().to_string(),
            j.get("error").map(|e| e.to_string()),
            Verdict {
                sound: b("intact") && b("valid"),
                trusted: b("trusted"),
                changes_ok: b("modifications_ok"),
                judged_valid: b("judged_valid"),
            },
        ));
    }
    Ok(v)
}

/// The disagreements between docflow and pyHanko on `data` (written to `file`), one line each;
/// a [`PYHANKO_RAISES`] case met is pushed to `raised`.
fn disagreements(
    s: &Setup,
    what: &str,
    file: &Path,
    data: &[u8],
    raised: &mut Vec<String>,
) -> Vec<String> {
    std::fs::write(file, data).unwrap();
    // pyHanko's strict reader refuses every signature of a hybrid-reference file; on a file
    // whose syntax it refuses (a dangling reference, an object stream an update overrides) it
    // raises instead of judging: its non-strict reader judges those.
    let hybrid = data.windows(8).any(|w| w == b"/XRefStm");
    let strict_refuses = |py: &Result<Theirs, String>| match py {
        Err(_) => true,
        Ok(v) => v
            .iter()
            .any(|(_, _, e, _)| e.as_deref().is_some_and(|e| e.contains("Strict"))),
    };
    let py = match theirs(file, &s.root.cert_pem, !hybrid) {
        py if !hybrid && strict_refuses(&py) => {
            eprintln!("{what}: pyHanko's strict reader refuses it ({py:?}); non-strict instead");
            theirs(file, &s.root.cert_pem, false)
        }
        other => other,
    };
    let report = verify_pdf(data, &s.roots);
    let (py, report) = match (py, report) {
        (Ok(py), Ok(r)) => (py, r),
        (Err(e), Ok(r)) => {
            return vec![format!(
                "{what}: pyHanko cannot read the file ({e}); docflow reports {} signature(s)",
                r.signatures.len()
            )]
        }
        (Ok(py), Err(e)) => {
            return vec![format!(
                "{what}: docflow cannot verify it ([{}] {e}); pyHanko reports {} signature(s)",
                e.code(),
                py.len()
            )]
        }
        (Err(_), Err(_)) => return vec![format!("{what}: neither validator can read the file")],
    };
    let mut out = Vec::new();
    let regular: Vec<&SignatureReport> = report
        .signatures
        .iter()
        .filter(|r| r.kind == SignatureKind::Signature)
        .collect();
    for sig in &regular {
        let Some((_, _, error, theirs)) = py.iter().find(|(br, _, _, _)| *br == sig.byte_range)
        else {
            out.push(format!(
                "{what}: signature {} {:?}: pyHanko does not list it",
                sig.field, sig.byte_range
            ));
            continue;
        };
        let mine = ours(sig);
        if let Some(e) = error {
            let known = PYHANKO_RAISES
                .iter()
                .any(|(w, m)| *w == what && e.contains(m));
            if known {
                eprintln!(
                    "{what}: signature {}: pyHanko raises {e}; docflow says {:?} (no verdict to compare)",
                    sig.field, sig.status
                );
                raised.push(what.to_string());
            } else {
                out.push(format!(
                    "{what}: signature {} {:?}: pyHanko raises {e}; docflow says {:?}",
                    sig.field, sig.byte_range, sig.status
                ));
            }
            continue;
        }
        let differs = mine.sound != theirs.sound
            || (mine.sound
                && (mine.trusted != theirs.trusted
                    || mine.changes_ok != theirs.changes_ok
                    || mine.judged_valid != theirs.judged_valid));
        if differs {
            out.push(format!(
                "{what}: signature {} {:?}: docflow {mine:?} (status {:?}, {:?}), pyHanko {theirs:?}",
                sig.field, sig.byte_range, sig.status, sig.problems
            ));
        }
    }
    for (br, field, _, _) in &py {
        if !regular.iter().any(|r| r.byte_range == *br) {
            out.push(format!(
                "{what}: signature {field} {br:?}: docflow does not list it"
            ));
        }
    }
    out
}

/// A visible stamp on page 1 (`--page 1 --rect 50,50,250,110`).
fn visible() -> SignOptions {
    SignOptions {
        visible: Some(Visible {
            page: 1,
            rect: [50.0, 50.0, 250.0, 110.0],
            image: None,
            seal: None,
            lines: None,
            image_after_lines: None,
            in_field: false,
        }),
        ..SignOptions::default()
    }
}

/// The names of the empty signature fields of `input` (`/FT /Sig`, no `/V`), read with lopdf
/// (top-level fields and their kids, bounded): where the route stamps the number and date of
/// an issued document (`Visible::in_field`, the stage's `number_field`).
fn empty_signature_fields(input: &[u8]) -> Vec<String> {
    use lopdf::Object;
    let Ok(doc) = lopdf::Document::load_mem(input) else {
        return Vec::new();
    };
    let resolve = |o: &Object| -> Option<Object> {
        match o {
            Object::Reference(id) => doc.get_object(*id).ok().cloned(),
            other => Some(other.clone()),
        }
    };
    let Some(Object::Dictionary(acro)) = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"AcroForm").ok())
        .and_then(resolve)
    else {
        return Vec::new();
    };
    let Some(Object::Array(fields)) = acro.get(b"Fields").ok().and_then(resolve) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    let mut todo: Vec<(Object, String)> =
        fields.iter().map(|f| (f.clone(), String::new())).collect();
    let mut seen = 0;
    while let Some((field, parent)) = todo.pop() {
        seen += 1;
        if seen > 10_000 {
            break;
        }
        let Some(Object::Dictionary(d)) = resolve(&field) else {
            continue;
        };
        let own = d
            .get(b"T")
            .ok()
            .and_then(|t| t.as_str().ok())
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let name = match (&own, parent.is_empty()) {
            (Some(t), true) => t.clone(),
            (Some(t), false) => format!("{parent}.{t}"),
            (None, _) => parent.clone(),
        };
        let is_sig = d.get(b"FT").ok().and_then(|t| t.as_name().ok()) == Some(b"Sig".as_slice());
        if is_sig && d.get(b"V").is_err() && own.is_some() {
            names.push(name.clone());
        }
        if let Some(Object::Array(kids)) = d.get(b"Kids").ok().and_then(resolve) {
            todo.extend(kids.iter().map(|k| (k.clone(), name.clone())));
        }
    }
    names.sort();
    names
}

/// The route's number stamp drawn into the empty signature field `field`.
fn in_field(field: &str) -> SignOptions {
    SignOptions {
        field: Some(field.to_string()),
        visible: Some(Visible {
            page: 1,
            rect: [0.0, 0.0, 0.0, 0.0],
            image: None,
            seal: None,
            lines: Some(vec![
                "Số: 01/QĐ-SLDTBXH".into(),
                "Hà Nội, ngày 01 tháng 12 năm 2026".into(),
            ]),
            image_after_lines: None,
            in_field: true,
        }),
        ..SignOptions::default()
    }
}

/// Signs `input` invisibly, then visibly, then (when it has an empty signature field) with
/// the number stamp drawn in that field, comparing after each; returns the disagreements and
/// how many signed outputs were compared.
fn sign_and_compare(
    s: &Setup,
    name: &str,
    input: &[u8],
    raised: &mut Vec<String>,
) -> (Vec<String>, usize) {
    let invisible = SignOptions::default();
    let visible = visible();
    let stem = name.trim_end_matches(".pdf");
    let mut found = Vec::new();
    let mut compared = 0;
    // (step, signed from the previous step's output?, options)
    let numbered = empty_signature_fields(input).first().map(|f| in_field(f));
    let mut steps = vec![
        ("invisible", false, &invisible),
        ("then-visible", true, &visible),
        ("visible", false, &visible),
    ];
    if let Some(opts) = &numbered {
        steps.push(("in-field", false, opts));
    }
    let mut previous: Option<Vec<u8>> = None;
    for (step, chained, opts) in steps {
        let from = if chained {
            match &previous {
                Some(p) => p.clone(),
                None => continue,
            }
        } else {
            input.to_vec()
        };
        match sign_bytes(&from, &s.signer, opts) {
            Ok((signed, _)) => {
                if step == "in-field" {
                    s.in_field.set(s.in_field.get() + 1);
                }
                let file = s.dir.join(format!("{stem}.{step}.pdf"));
                let what = format!("{name} ({step})");
                found.extend(disagreements(s, &what, &file, &signed, raised));
                compared += 1;
                previous = Some(signed);
            }
            Err(e) => {
                eprintln!(
                    "{name}: docflow does not sign it {step}: [{}] {e}",
                    e.code()
                );
                previous = None;
            }
        }
    }
    (found, compared)
}

fn run(s: &Setup, inputs: Vec<(String, Vec<u8>)>, at_least: usize, in_field_at_least: usize) {
    let mut all = Vec::new();
    let mut compared = 0;
    let mut raised = Vec::new();
    for (name, data) in &inputs {
        let (found, n) = sign_and_compare(s, name, data, &mut raised);
        all.extend(found);
        compared += n;
    }
    for (what, message) in PYHANKO_RAISES {
        let input_here = inputs.iter().any(|(n, _)| what.starts_with(n.as_str()));
        if input_here && !raised.iter().any(|r| r == what) {
            all.push(format!(
                "{what}: pyHanko no longer raises `{message}`: compare it (drop it from PYHANKO_RAISES)"
            ));
        }
    }
    assert!(
        all.is_empty(),
        "docflow and pyHanko disagree ({} case(s), outputs in {}):\n{}",
        all.len(),
        s.dir.display(),
        all.join("\n")
    );
    assert!(
        compared >= at_least,
        "only {compared} signed outputs compared, expected at least {at_least}"
    );
    eprintln!(
        "{compared} signed outputs compared, {} of them stamped in an existing empty field",
        s.in_field.get()
    );
    assert!(
        s.in_field.get() >= in_field_at_least,
        "only {} outputs stamped in an existing empty field, expected at least {in_field_at_least}",
        s.in_field.get()
    );
}

/// Files certified by pyHanko with DocMDP P=2, one with an empty signature field made before
/// certifying (Sig2, visible), one without.
fn certified_inputs(s: &Setup) -> Vec<(String, Vec<u8>)> {
    let base = s.dir.join("certify-base.pdf");
    std::fs::write(&base, pdfgen::table(1)).unwrap();
    let with_field = s.dir.join("certify-base-with-field.pdf");
    pyhanko(&[
        "sign",
        "addfields",
        "--field",
        "1/50,150,250,200/Sig2",
        &base.to_string_lossy(),
        &with_field.to_string_lossy(),
    ]);
    let mut v = Vec::new();
    for (name, input) in [
        ("pyhanko-certified-p2-empty-field.pdf", &with_field),
        ("pyhanko-certified-p2-no-empty-field.pdf", &base),
    ] {
        let out = s.dir.join(name);
        pyhanko_certify(input, &out, &s.party, 2);
        v.push((name.to_string(), std::fs::read(&out).unwrap()));
    }
    v
}

/// The repository's own inputs: tests/fixtures/pdf and the generated files.
fn fixture_inputs() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pdf");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pdf"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    v.extend([
        ("pdfgen-table-1-page.pdf".to_string(), pdfgen::table(1)),
        ("pdfgen-table-2-pages.pdf".to_string(), pdfgen::table(2)),
        ("pdfgen-xref-stream.pdf".to_string(), pdfgen::xref_stream()),
        ("pdfgen-hybrid.pdf".to_string(), pdfgen::hybrid()),
    ]);
    v
}

#[test]
fn verify_agrees_with_pyhanko_on_what_docflow_signs_from_the_fixtures() {
    let s = setup();
    let mut inputs = fixture_inputs();
    inputs.extend(certified_inputs(&s));
    // 4 of the fixtures and the 4 generated files are signable three ways, and the 2 certified
    // files at least invisibly (a visible stamp is refused without an empty field).
    run(&s, inputs, 26, 1);
}

#[test]
fn verify_agrees_with_pyhanko_on_what_docflow_signs_from_the_corpus() {
    let Some(entries) = corpus() else { return };
    let inputs = entries
        .iter()
        .map(|e| {
            let name = e.file.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&e.file).unwrap())
        })
        .collect();
    run(&setup(), inputs, 60, 3);
}

/// Under a P=2 certification docflow signs into the existing empty field (invisible or with a
/// stamp drawn in the field's rectangle), refuses a visible signature when there is no empty
/// field (`pdf_certified_field_required`), and signs invisibly into a new invisible field, which
/// pyHanko and docflow's verify both accept.
#[test]
fn under_a_p2_certification_the_empty_field_is_filled_or_a_visible_stamp_refused() {
    let s = setup();
    let inputs = certified_inputs(&s);
    let (with_field, without) = (&inputs[0].1, &inputs[1].1);
    let mut raised = Vec::new();
    for (step, opts) in [
        ("invisible", SignOptions::default()),
        ("visible", visible()),
    ] {
        let (out, rep) = sign_bytes(with_field, &s.signer, &opts).unwrap();
        assert_eq!(rep.field, "Sig2", "{step}: the empty field is filled");
        let r = verify_pdf(&out, &s.roots).unwrap();
        assert!(r.all_valid, "{step}: {r:#?}");
        assert_eq!(r.signatures.len(), 2, "{step}: no other field is signed");
        let file = s.dir.join(format!("p2-field-{step}.pdf"));
        let found = disagreements(&s, step, &file, &out, &mut raised);
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
    let e = sign_bytes(without, &s.signer, &visible()).unwrap_err();
    assert_eq!(e.code(), "pdf_certified_field_required", "{e}");
    let (out, rep) = sign_bytes(without, &s.signer, &SignOptions::default()).unwrap();
    assert_eq!(rep.field, "Signature1");
    let r = verify_pdf(&out, &s.roots).unwrap();
    assert!(
        r.all_valid,
        "a new invisible field keeps the certification: {r:#?}"
    );
    let file = s.dir.join("p2-new-invisible.pdf");
    let found = disagreements(&s, "new invisible", &file, &out, &mut raised);
    assert!(found.is_empty(), "{}", found.join("\n"));
    assert!(raised.is_empty());
}
