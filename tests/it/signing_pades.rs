//! PAdES signing checked by outside validators: pyHanko (INTACT/VALID/TRUSTED), qpdf --check and
//! pdfsig. Inputs are generated here; the shared corpus is not needed.

use crate::pdfgen;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::pki::{pki, KeyKind, ALL_KINDS};
use crate::common::pyhanko;
use docflow::signing::{sign_bytes, sign_pdf, SignOptions, Signer, SigningError, Visible};

fn signer(kind: KeyKind) -> Signer {
    let id = pki().identity(kind);
    Signer::from_pem_files(&id.key_pem, &id.cert_pem, None, None).expect("load signer")
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The checks every signed output gets.
fn assert_signed_ok(input: &Path, output: &Path, signatures: usize) {
    assert_signed_ok_with(input, output, signatures, true)
}

/// `strict: false` for hybrid-reference files, which pyHanko refuses to validate in strict mode
/// whoever signed them ("Settings do not permit validation of signatures in hybrid-reference files").
fn assert_signed_ok_with(input: &Path, output: &Path, signatures: usize, strict: bool) {
    let orig = std::fs::read(input).unwrap();
    let out = std::fs::read(output).unwrap();
    assert!(
        out.starts_with(&orig),
        "original bytes are not a prefix of the output"
    );
    let fields = pyhanko::signature_fields(output);
    assert_eq!(fields.len(), signatures, "signature fields: {fields:?}");
    pyhanko::validate_with(output, &[&pki().ca_pem], strict);
    pyhanko::qpdf_check(output);
    assert_eq!(
        pyhanko::pdfsig_valid(output, &pki().ca_pem),
        signatures,
        "pdfsig"
    );
}

#[test]
fn every_key_type_makes_a_valid_signature() {
    let d = tmp();
    let input = write(d.path(), "in.pdf", &pdfgen::table(1));
    pyhanko::qpdf_check(&input);
    for kind in ALL_KINDS {
        let out = d.path().join(format!("{kind:?}.pdf"));
        let r = sign_pdf(&input, &out, &signer(kind), &SignOptions::default()).unwrap();
        assert_eq!(r.field, "Signature1");
        assert!(r.timestamp.is_none());
        assert_signed_ok(&input, &out, 1);
        let report = pyhanko::validate_all(&out, &[&pki().ca_pem]);
        assert!(report.contains("covers the entire file"), "{report}");
    }
}

#[test]
fn pkcs12_signer_and_in_memory_signing() {
    let d = tmp();
    let id = pki().identity(KeyKind::P256);
    let s = Signer::from_pkcs12_file(&id.p12, "test").unwrap();
    assert!(matches!(
        Signer::from_pkcs12_file(&id.p12, "wrong"),
        Err(SigningError::Key(_))
    ));
    let input = pdfgen::table(2);
    let (signed, report) = sign_bytes(&input, &s, &SignOptions::default()).unwrap();
    assert_eq!(report.output_len as usize, signed.len());
    let inp = write(d.path(), "in.pdf", &input);
    let out = write(d.path(), "out.pdf", &signed);
    assert_signed_ok(&inp, &out, 1);
}

#[test]
fn table_xref_stream_and_hybrid_inputs_keep_their_xref_kind() {
    let d = tmp();
    for (name, bytes) in [
        ("table", pdfgen::table(1)),
        ("stream", pdfgen::xref_stream()),
        ("hybrid", pdfgen::hybrid()),
    ] {
        let input = write(d.path(), &format!("{name}.pdf"), &bytes);
        pyhanko::qpdf_check(&input);
        let out = d.path().join(format!("{name}-signed.pdf"));
        sign_pdf(
            &input,
            &out,
            &signer(KeyKind::Rsa2048),
            &SignOptions::default(),
        )
        .unwrap();
        assert_signed_ok_with(&input, &out, 1, name != "hybrid");
        let all = std::fs::read(&out).unwrap();
        let update = &all[bytes.len()..];
        let text = String::from_utf8_lossy(update);
        match name {
            "stream" => assert!(
                text.contains("/Type /XRef") && !text.contains("\nxref\n"),
                "{name}"
            ),
            _ => {
                assert!(
                    text.contains("\nxref\n") && !text.contains("/Type /XRef"),
                    "{name}"
                );
                assert!(
                    !text.contains("XRefStm"),
                    "stale /XRefStm in the update of {name}"
                );
            }
        }
        // The rewritten page keeps its reals byte for byte.
        assert!(text.contains(pdfgen::MEDIABOX), "{name}: /MediaBox changed");
    }
}

#[test]
fn five_signatures_by_five_keys_all_stay_valid() {
    let d = tmp();
    let mut input = write(d.path(), "0.pdf", &pdfgen::xref_stream());
    for (i, kind) in ALL_KINDS.iter().enumerate() {
        let out = d.path().join(format!("{}.pdf", i + 1));
        let opts = SignOptions {
            reason: Some(format!("Phê duyệt bước {}", i + 1)),
            ..Default::default()
        };
        let r = sign_pdf(&input, &out, &signer(*kind), &opts).unwrap();
        assert_eq!(r.field, format!("Signature{}", i + 1));
        input = out;
    }
    assert_signed_ok(&d.path().join("4.pdf"), &input, 5);
}

fn pyhanko_cmd() -> Command {
    Command::new(pyhanko::venv().join("bin/pyhanko"))
}

#[test]
fn signature_after_a_pyhanko_signature_keeps_both_valid() {
    let d = tmp();
    let input = write(d.path(), "in.pdf", &pdfgen::xref_stream());
    let first = d.path().join("first.pdf");
    let id = pki().identity(KeyKind::Rsa3072);
    let st = pyhanko_cmd()
        .args([
            "sign",
            "addsig",
            "--field",
            "PyHanko",
            "--use-pades",
            "pemder",
            "--no-pass",
            "--key",
        ])
        .arg(&id.key_pem)
        .arg("--cert")
        .arg(&id.cert_pem)
        .arg(&input)
        .arg(&first)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "pyhanko addsig: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let out = d.path().join("second.pdf");
    sign_pdf(
        &first,
        &out,
        &signer(KeyKind::P384),
        &SignOptions::default(),
    )
    .unwrap();
    assert_signed_ok(&first, &out, 2);
}

#[test]
fn empty_field_is_reused_and_a_signed_field_is_refused() {
    let d = tmp();
    let input = write(d.path(), "in.pdf", &pdfgen::table(1));
    let with_field = d.path().join("field.pdf");
    let st = pyhanko_cmd()
        .args(["sign", "addfields", "--field", "1/100,100,300,150/Approval"])
        .arg(&input)
        .arg(&with_field)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "pyhanko addfields: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let out = d.path().join("out.pdf");
    let opts = SignOptions {
        field: Some("Approval".into()),
        ..Default::default()
    };
    let r = sign_pdf(&with_field, &out, &signer(KeyKind::Rsa2048), &opts).unwrap();
    assert_eq!(r.field, "Approval");
    assert_signed_ok(&with_field, &out, 1);
    let again = d.path().join("again.pdf");
    let e = sign_pdf(&out, &again, &signer(KeyKind::Rsa2048), &opts).unwrap_err();
    assert_eq!(e.code(), "signature_field_invalid", "{e}");
    assert!(!again.exists());
}

#[test]
fn certify_then_sign() {
    let d = tmp();
    let input = write(d.path(), "in.pdf", &pdfgen::table(1));
    let certified = d.path().join("certified.pdf");
    let opts = SignOptions {
        certify: true,
        ..Default::default()
    };
    let r = sign_pdf(&input, &certified, &signer(KeyKind::Rsa2048), &opts).unwrap();
    assert!(r.certified);
    assert_signed_ok(&input, &certified, 1);
    let report = pyhanko::validate_all(&certified, &[&pki().ca_pem]);
    assert!(report.to_lowercase().contains("certif"), "{report}");
    // Certifying again is refused: certification must be the first signature.
    let e = sign_pdf(
        &certified,
        &d.path().join("x.pdf"),
        &signer(KeyKind::P256),
        &opts,
    )
    .unwrap_err();
    assert_eq!(e.code(), "pdf_certify_not_first");
    // An approval signature after certification (P=2) is allowed and both validate.
    let out = d.path().join("approved.pdf");
    sign_pdf(
        &certified,
        &out,
        &signer(KeyKind::P256),
        &SignOptions::default(),
    )
    .unwrap();
    assert_signed_ok(&certified, &out, 2);
}

/// A visible signature with the real Decree 30 stamp (embedded, subsetted Vietnamese font)
/// validates like an invisible one.
#[test]
fn visible_signature_with_the_vietnamese_stamp_validates() {
    let d = tmp();
    let input = write(d.path(), "in.pdf", &pdfgen::table(2));
    let out = d.path().join("visible.pdf");
    let opts = SignOptions {
        visible: Some(Visible {
            page: 2,
            rect: [300.0, 50.0, 550.0, 150.0],
            image: None,
            ..Visible::default()
        }),
        name: Some("Nguyễn Văn Đức".into()),
        position: Some("Phó Giám đốc".into()),
        ..Default::default()
    };
    sign_pdf(&input, &out, &signer(KeyKind::Rsa2048), &opts).expect("visible signing");
    assert_signed_ok(&input, &out, 1);
    let bytes = std::fs::read(&out).unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    assert!(
        text.contains("/AP << /N "),
        "visible widget without appearance"
    );
    assert!(
        text.contains("+LiberationSerif"),
        "subsetted stamp font embedded"
    );
    assert!(text.contains("/ToUnicode"), "stamp text copyable");
    let extracted = Command::new("pdftotext")
        .arg(&out)
        .arg("-")
        .output()
        .expect("pdftotext (apt-get install poppler-utils)");
    let extracted = String::from_utf8_lossy(&extracted.stdout);
    assert!(extracted.contains("Nguyễn Văn Đức"), "{extracted}");
    assert!(extracted.contains("Phó Giám đốc"), "{extracted}");
    assert!(
        extracted.contains("+07:00"),
        "stamp time in Vietnam time: {extracted}"
    );
    // A page that does not exist is an options error.
    let mut bad = opts.clone();
    bad.visible.as_mut().unwrap().page = 9;
    let e = sign_pdf(&input, &out, &signer(KeyKind::Rsa2048), &bad).unwrap_err();
    assert_eq!(e.code(), "signing_options_invalid", "{e}");
}

#[test]
fn cli_signs_and_reports_errors_with_codes() {
    let d = tmp();
    let input = write(d.path(), "in.pdf", &pdfgen::table(1));
    let out = d.path().join("out.pdf");
    let id = pki().identity(KeyKind::Rsa2048);
    let bin = env!("CARGO_BIN_EXE_docflow");
    let o = Command::new(bin)
        .args(["pdf", "sign"])
        .arg(&input)
        .arg(&out)
        .arg("--key")
        .arg(&id.key_pem)
        .arg("--cert")
        .arg(&id.cert_pem)
        .args(["--reason", "Đồng ý", "--location", "Hà Nội"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_signed_ok(&input, &out, 1);
    let o = Command::new(bin)
        .args(["pdf", "sign"])
        .arg(d.path().join("missing.pdf"))
        .arg(d.path().join("x.pdf"))
        .arg("--p12")
        .arg(&id.p12)
        .args(["--pass-env", "DOCFLOW_TEST_P12_PASS"])
        .env("DOCFLOW_TEST_P12_PASS", "test")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.starts_with("error [io_error]"), "{err}");
}

#[test]
fn files_ending_without_newline_or_in_cr_are_signed_cleanly() {
    let d = tmp();
    let base = pdfgen::table(1);
    let trimmed = base.strip_suffix(b"\n").unwrap();
    let mut cr = trimmed.to_vec();
    cr.push(b'\r');
    for (name, bytes) in [("no-eol", trimmed.to_vec()), ("cr", cr)] {
        let input = write(d.path(), &format!("{name}.pdf"), &bytes);
        let out = d.path().join(format!("{name}-signed.pdf"));
        sign_pdf(
            &input,
            &out,
            &signer(KeyKind::P256),
            &SignOptions::default(),
        )
        .unwrap();
        let signed = std::fs::read(&out).unwrap();
        if name == "cr" {
            // The CR already ends the line; a LF after it would make the earlier revision end
            // in CR LF, moving its end for a signature over it (issue 12).
            assert!(
                signed[bytes.len()].is_ascii_digit(),
                "{name}: the update starts right after the CR"
            );
        } else {
            assert_eq!(
                signed[bytes.len()],
                b'\n',
                "{name}: the update starts on a new line"
            );
        }
        assert_signed_ok(&input, &out, 1);
    }
}

/// A stand-in stamp builder (a framed box), to check the visible-signature writing now: widget
/// /Rect and /AP, object numbering from `first_obj`, and the page's /Annots.
fn framed_box(
    spec: &docflow::signing::appearance::StampSpec,
    first_obj: u32,
) -> Result<docflow::signing::appearance::Appearance, SigningError> {
    let (w, h) = (spec.width, spec.height);
    let ops = format!("q 0 0 1 RG 2 w 1 1 {} {} re S Q", w - 2.0, h - 2.0);
    let mut form = format!(
        "<< /Type /XObject /Subtype /Form /BBox [0 0 {w} {h}] /Resources << >> /Length {} >>\nstream\n",
        ops.len()
    )
    .into_bytes();
    form.extend_from_slice(ops.as_bytes());
    form.extend_from_slice(b"\nendstream");
    // Object first_obj is a dummy the form does not need; the root is the second, to check numbering.
    let _ = first_obj;
    Ok(docflow::signing::appearance::Appearance {
        objects: vec![b"<< /Dummy true >>".to_vec(), form],
        root: 1,
    })
}

#[test]
fn visible_signature_writing_with_a_stand_in_stamp() {
    let d = tmp();
    let input = pdfgen::table(2);
    let mut doc = input.clone();
    let opts = SignOptions {
        visible: Some(Visible {
            page: 2,
            rect: [300.0, 50.0, 550.5, 150.0],
            image: None,
            ..Visible::default()
        }),
        ..Default::default()
    };
    docflow::signing::sign_vec_with(&mut doc, &signer(KeyKind::Rsa2048), &opts, framed_box)
        .unwrap();
    let inp = write(d.path(), "in.pdf", &input);
    let out = write(d.path(), "visible.pdf", &doc);
    assert_signed_ok(&inp, &out, 1);
    let text = String::from_utf8_lossy(&doc[input.len()..]).into_owned();
    assert!(text.contains("/Rect [300 50 550.5 150]"), "{text}");
    // Page 2 (object 11) got the widget in /Annots.
    assert!(
        text.contains("11 0 obj\n<<") && text.contains("/Annots ["),
        "{text}"
    );
    // The layout is checked by pyHanko's and qpdf's reading above; the widget points at the form.
    let ap = text.split("/AP << /N ").nth(1).unwrap();
    let num: u32 = ap.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        text.contains(&format!("{num} 0 obj\n<< /Type /XObject /Subtype /Form")),
        "{text}"
    );
}

#[test]
fn in_place_signing_appends_to_the_file() {
    let d = tmp();
    let original = pdfgen::xref_stream();
    let orig_path = write(d.path(), "orig.pdf", &original);
    let path = write(d.path(), "doc.pdf", &original);
    let r =
        docflow::signing::sign_pdf_in_place(&path, &signer(KeyKind::P384), &SignOptions::default())
            .unwrap();
    assert_eq!(r.output_len, std::fs::metadata(&path).unwrap().len());
    assert_signed_ok(&orig_path, &path, 1);
    // A refusal leaves the file exactly as it was.
    let before = std::fs::read(&path).unwrap();
    let e = docflow::signing::sign_pdf_in_place(
        &path,
        &signer(KeyKind::P384),
        &SignOptions {
            certify: true,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "pdf_certify_not_first");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
