//! Inputs that must be refused with the right stable code, quickly, without panics and without
//! leaving an output file. No outside tools needed.

use crate::pdfgen;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::pki::{pki, KeyKind};
use docflow::signing::{sign_bytes, sign_pdf, SignOptions, Signer};

fn signer() -> Signer {
    let id = pki().identity(KeyKind::P256);
    Signer::from_pem_files(&id.key_pem, &id.cert_pem, None, None).unwrap()
}

/// Appends an update with `objects` and a table whose trailer adds `extra` to /Root and /Prev.
fn append(base: &[u8], objects: &[(u32, &str)], extra: &str) -> Vec<u8> {
    let prev = {
        let t = String::from_utf8_lossy(base);
        let i = t.rfind("startxref").unwrap();
        t[i + 9..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let mut out = base.to_vec();
    let mut rows = Vec::new();
    for (n, body) in objects {
        rows.push((*n, out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    let mut s = String::from("xref\n");
    for (n, off) in &rows {
        s.push_str(&format!("{n} 1\n{off:010} 00000 n \n"));
    }
    s.push_str(&format!(
        "trailer\n<< /Size 30 /Root 1 0 R /Prev {prev} {extra} >>\nstartxref\n{xref}\n%%EOF\n"
    ));
    out.extend_from_slice(s.as_bytes());
    out
}

fn expect_code(input: &[u8], code: &str) {
    let signer = signer();
    let start = Instant::now();
    let err = sign_bytes(input, &signer, &SignOptions::default())
        .err()
        .unwrap_or_else(|| panic!("expected {code}, but the file was signed"));
    assert_eq!(err.code(), code, "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    // The file path behaves the same and leaves nothing behind.
    let d = tempfile::tempdir().unwrap();
    let inp = d.path().join("in.pdf");
    std::fs::write(&inp, input).unwrap();
    let out = d.path().join("out.pdf");
    let err = sign_pdf(&inp, &out, &signer, &SignOptions::default()).unwrap_err();
    assert_eq!(err.code(), code);
    assert_eq!(
        std::fs::read_dir(d.path()).unwrap().count(),
        1,
        "left files behind"
    );
    assert!(!Path::new(&out).exists());
}

#[test]
fn not_a_pdf() {
    expect_code(b"oops\n", "pdf_not_pdf");
    expect_code(b"", "pdf_not_pdf");
}

#[test]
fn encrypted_files_are_refused() {
    let enc = append(
        &pdfgen::table(1),
        &[(
            20,
            "<< /Filter /Standard /V 2 /R 3 /Length 128 /O <00> /U <00> /P -4 >>",
        )],
        "/Encrypt 20 0 R",
    );
    expect_code(&enc, "pdf_encrypted");
}

#[test]
fn docmdp_p1_certified_files_are_refused() {
    let base = pdfgen::table(1);
    let cert = append(
        &base,
        &[
            (1, "<< /Type /Catalog /Pages 2 0 R /Perms << /DocMDP 21 0 R >> >>"),
            (
                21,
                "<< /Type /Sig /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /P 1 /V /1.2 >> >>] >>",
            ),
        ],
        "",
    );
    expect_code(&cert, "pdf_certified_no_changes");
}

#[test]
fn damaged_structures_are_refused() {
    let base = pdfgen::table(1);
    // Truncated: no startxref.
    expect_code(&base[..base.len() - 30], "pdf_damaged");
    // startxref pointing nowhere useful.
    let mut wrong = base.clone();
    let i = wrong.windows(9).rposition(|w| w == b"startxref").unwrap();
    wrong.truncate(i);
    wrong.extend_from_slice(b"startxref\n12\n%%EOF\n");
    expect_code(&wrong, "pdf_damaged");
    // A /Prev chain that loops.
    let mut looped = base.clone();
    let xref = looped.len();
    looped.extend_from_slice(
        format!("xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 12 /Root 1 0 R /Prev {xref} >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    expect_code(&looped, "pdf_damaged");
    // 20,000 nested arrays in the trailer: an error, not a stack overflow.
    let mut deep = base.clone();
    let xref = deep.len();
    deep.extend_from_slice(b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 12 /Root 1 0 R /X ");
    deep.resize(deep.len() + 20_000, b'[');
    deep.extend_from_slice(format!(" >>\nstartxref\n{xref}\n%%EOF\n").as_bytes());
    expect_code(&deep, "pdf_damaged");
    // A page tree that loops.
    let cyclic = append(
        &base,
        &[(2, "<< /Type /Pages /Kids [10 0 R 2 0 R] /Count 2 >>")],
        "",
    );
    expect_code(&cyclic, "pdf_damaged");
    // The catalog is missing.
    let no_root = append(&base, &[(1, "null")], "");
    expect_code(&no_root, "pdf_damaged");
}

#[test]
fn dangling_references_read_as_null_and_sign() {
    let base = pdfgen::table(1);
    let dangling = append(
        &base,
        &[(
            10,
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Bleh 100 0 R /Annots 99 0 R /Contents 4 0 R >>",
        )],
        "",
    );
    let (out, _) = sign_bytes(&dangling, &signer(), &SignOptions::default()).unwrap();
    assert!(out.starts_with(&dangling));
}

#[test]
fn options_are_checked() {
    let base = pdfgen::table(1);
    let opts = SignOptions {
        field: Some("a.b".into()),
        ..Default::default()
    };
    let e = sign_bytes(&base, &signer(), &opts).unwrap_err();
    assert_eq!(e.code(), "signature_field_invalid");
    let (once, _) = sign_bytes(
        &base,
        &signer(),
        &SignOptions {
            field: Some("Approval".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let e = sign_bytes(
        &once,
        &signer(),
        &SignOptions {
            field: Some("Approval".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(e.code(), "signature_field_invalid", "{e}");
    // A second unnamed signature gets a fresh field name.
    let (twice, r) = sign_bytes(&once, &signer(), &SignOptions::default()).unwrap();
    assert_eq!(r.field, "Signature1");
    assert!(twice.starts_with(&once));
}

#[test]
fn a_field_tree_listing_a_field_twice_is_refused_quickly() {
    // 30 unnamed levels, each listing its kid twice: 2^30 paths if followed naively.
    let mut objects: Vec<(u32, String)> = vec![(
        1,
        "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [20 0 R] >> >>".into(),
    )];
    for n in 20..50u32 {
        objects.push((n, format!("<< /Kids [{0} 0 R {0} 0 R] >>", n + 1)));
    }
    objects.push((50, "<< /T (leaf) /FT /Tx >>".into()));
    let refs: Vec<(u32, &str)> = objects.iter().map(|(n, b)| (*n, b.as_str())).collect();
    let file = append(&pdfgen::table(1), &refs, "");
    expect_code(&file, "pdf_damaged");
}

#[test]
fn a_trailer_size_that_decreases_is_refused() {
    let once = append(
        &pdfgen::table(1),
        &[(4, "<< /Length 0 >>\nstream\n\nendstream")],
        "",
    );
    let twice = append(
        &once,
        &[(5, "<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>")],
        "",
    );
    // The newest trailer claims fewer objects than the revision before it.
    let at = twice.windows(8).rposition(|w| w == b"/Size 30").unwrap();
    let mut shrunk = twice[..at].to_vec();
    shrunk.extend_from_slice(b"/Size 09");
    shrunk.extend_from_slice(&twice[at + 8..]);
    expect_code(&shrunk, "pdf_damaged");
    // Unchanged, the same file signs.
    assert!(sign_bytes(&twice, &signer(), &SignOptions::default()).is_ok());
}
