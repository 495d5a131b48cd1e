//! A clean first signature (issue 12, part 3): `signing::normalise` rewrites an unsigned
//! hybrid-reference or damaged file into one classic xref table with no dangling reference,
//! keeping what a reader sees — `pdftotext` output, every page's `pdftoppm` render pixel for
//! pixel, the form fields — and the signature made over it validates in pyHanko's strict mode.
//! Signed files are never rewritten. With `DOCFLOW_CORPUS_DIR`, every unsigned corpus file the
//! upload check would rewrite is normalised, compared and signed the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::pki::{pki, KeyKind};
use crate::common::{fixture, pyhanko};
use crate::pdfgen;
use docflow::documents::inspect;
use docflow::signing::normalise::{self, Need};
use docflow::signing::pdf::source::MemSource;
use docflow::signing::{sign_bytes, SignOptions, Signer, Visible};

fn signer() -> Signer {
    let id = pki().identity(KeyKind::P256);
    Signer::from_pem_files(&id.key_pem, &id.cert_pem, None, None).expect("load signer")
}

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("`{name}` is required: apt-get install poppler-utils");
}

/// `pdftotext -layout` of the whole file.
fn text_of(pdf: &Path) -> String {
    let o = Command::new(tool("pdftotext"))
        .arg("-layout")
        .arg(pdf)
        .arg("-")
        .output()
        .expect("run pdftotext");
    assert!(
        o.status.success(),
        "pdftotext {}: {}",
        pdf.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Every page rendered by `pdftoppm` at 60 dpi, as raw PPM pixels (no metadata to differ).
fn renders_of(pdf: &Path, dir: &Path) -> Vec<Vec<u8>> {
    std::fs::create_dir_all(dir).unwrap();
    let o = Command::new(tool("pdftoppm"))
        .args(["-r", "60"])
        .arg(pdf)
        .arg(dir.join("p"))
        .output()
        .expect("run pdftoppm");
    assert!(
        o.status.success(),
        "pdftoppm {}: {}",
        pdf.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    pages.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// The form fields as qpdf sees them (`qpdf --json --json-key=acroform`, which reads damaged
/// files too): full names, types, flags, values, appearance states, pages; without the object
/// numbers, which the rewrite changes. None when qpdf cannot open the file at all (qpdf 11.3
/// gives up on a startxref hidden by trailing junk, which poppler and lopdf read).
fn fields_of(pdf: &Path) -> Option<serde_json::Value> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("object");
                m.remove("parent");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let o = Command::new("qpdf")
        .args(["--json", "--json-key=acroform"])
        .arg(pdf)
        .output()
        .expect("run qpdf");
    // 3: read with warnings (a damaged input); 2: could not read it.
    match o.status.code() {
        Some(0 | 3) => {}
        Some(2) => {
            eprintln!(
                "qpdf cannot open {}: {}",
                pdf.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        _ => panic!("qpdf --json {}: {o:?}", pdf.display()),
    }
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("qpdf's JSON");
    strip(&mut v);
    Some(v["acroform"].take())
}

/// What a clean file looks like in its bytes: one revision, one classic table, no stream
/// cross-reference, no object stream.
fn assert_clean_bytes(name: &str, out: &[u8]) {
    let count = |needle: &[u8]| out.windows(needle.len()).filter(|w| *w == needle).count();
    assert_eq!(count(b"%%EOF"), 1, "{name}: one revision");
    assert_eq!(count(b"\nxref\n"), 1, "{name}: one xref table");
    assert_eq!(count(b"startxref"), 1, "{name}: one startxref");
    for gone in [&b"/XRefStm"[..], b"/ObjStm", b"/Linearized"] {
        assert_eq!(
            count(gone),
            0,
            "{name}: {} left",
            String::from_utf8_lossy(gone)
        );
    }
    let trailer = out.windows(7).rposition(|w| w == b"trailer").unwrap();
    let trailer = String::from_utf8_lossy(&out[trailer..]);
    assert!(!trailer.contains("/Prev"), "{name}: {trailer}");
    assert_eq!(
        normalise::assess(&MemSource(out)),
        None,
        "{name}: still needs normalising"
    );
}

/// What a reader sees in `input`: the file itself, unless poppler shows another number of
/// pages of it than of the rewrite (its text drops a page given directly in /Kids, with a
/// warning); then qpdf's QDF rewrite of it, which turns such a page into an object as the
/// rewrite does (the comparisons then check it shows the same pages).
fn as_seen(dir: &Path, name: &str, input: &Path, rewrite: &Path) -> PathBuf {
    let pages = |pdf: &Path, probe: &str| {
        (
            renders_of(pdf, &dir.join(format!("{name}.{probe}"))).len(),
            text_of(pdf).matches('\u{c}').count(),
        )
    };
    if pages(input, "probe-in") == pages(rewrite, "probe-clean") {
        return input.to_path_buf();
    }
    let qdf = dir.join(format!("{name}.qdf.pdf"));
    let o = Command::new("qpdf")
        .arg("--qdf")
        .arg(input)
        .arg(&qdf)
        .output()
        .expect("run qpdf");
    // 3: repaired with warnings.
    assert!(matches!(o.status.code(), Some(0 | 3)), "{name}: {o:?}");
    eprintln!("{name}: poppler drops pages of the input; compared with qpdf's QDF repair");
    qdf
}

/// Normalises `input`, checks the rewrite keeps what a reader sees, signs it (invisibly and
/// with a visible stamp), and has strict pyHanko validate both. Returns the rewrite.
fn normalise_sign_and_check(dir: &Path, name: &str, input: &[u8]) -> Vec<u8> {
    let n = normalise::normalise(input).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_clean_bytes(name, &n.bytes);
    let again = normalise::normalise(input).unwrap();
    assert_eq!(
        again.bytes, n.bytes,
        "{name}: the rewrite is not deterministic"
    );
    assert_eq!(
        normalise::normalise(&n.bytes).unwrap().bytes,
        n.bytes,
        "{name}: normalising a clean rewrite changes it"
    );
    let original = dir.join(format!("{name}.in.pdf"));
    let after = dir.join(format!("{name}.clean.pdf"));
    std::fs::write(&original, input).unwrap();
    std::fs::write(&after, &n.bytes).unwrap();
    let before = as_seen(dir, name, &original, &after);
    pyhanko::qpdf_check(&after);
    assert_eq!(
        text_of(&before),
        text_of(&after),
        "{name}: pdftotext differs"
    );
    let (rb, ra) = (
        renders_of(&before, &dir.join(format!("{name}.r-in"))),
        renders_of(&after, &dir.join(format!("{name}.r-clean"))),
    );
    assert!(!rb.is_empty(), "{name}: no page rendered");
    assert_eq!(rb.len(), ra.len(), "{name}: page count");
    for (i, (b, a)) in rb.iter().zip(&ra).enumerate() {
        assert!(b == a, "{name}: page {} renders differently", i + 1);
    }
    let fields =
        fields_of(&after).unwrap_or_else(|| panic!("{name}: qpdf cannot read the rewrite"));
    match fields_of(&before) {
        Some(was) => assert_eq!(was, fields, "{name}: form fields differ"),
        // Nothing to compare with: then there must have been no form to lose.
        None => assert!(
            !input.windows(9).any(|w| w == b"/AcroForm")
                && fields["fields"].as_array().is_none_or(|f| f.is_empty()),
            "{name}: qpdf cannot read the input, which has a form"
        ),
    }
    let visible = SignOptions {
        visible: Some(Visible {
            page: 1,
            rect: [40.0, 40.0, 240.0, 110.0],
            ..Visible::default()
        }),
        name: Some("Nguyễn Văn Đức".into()),
        ..SignOptions::default()
    };
    for (mode, opts) in [("invisible", SignOptions::default()), ("visible", visible)] {
        let (signed, _) =
            sign_bytes(&n.bytes, &signer(), &opts).unwrap_or_else(|e| panic!("{name} {mode}: {e}"));
        assert!(
            signed.starts_with(&n.bytes),
            "{name} {mode}: not incremental"
        );
        let path = dir.join(format!("{name}.{mode}.pdf"));
        std::fs::write(&path, &signed).unwrap();
        // Strict syntax (pyHanko's CLI default): what refuses every hybrid file.
        pyhanko::validate_with(&path, &[&pki().ca_pem], true);
        pyhanko::qpdf_check(&path);
    }
    n.bytes
}

#[test]
fn hybrid_files_are_rewritten_with_one_table_and_signed_strictly_valid() {
    let d = tempfile::tempdir().unwrap();
    for (name, input) in [
        ("pdfgen-hybrid", pdfgen::hybrid()),
        (
            "valid-hybrid-xref-30-pages",
            fixture("valid-hybrid-xref-30-pages.pdf"),
        ),
    ] {
        assert_eq!(
            normalise::assess(&MemSource(&input)),
            Some(Need::Hybrid),
            "{name}"
        );
        // Strict pyHanko refuses a signature made over the file as it is...
        let (signed, _) = sign_bytes(&input, &signer(), &SignOptions::default()).unwrap();
        let path = d.path().join(format!("{name}.as-is.pdf"));
        std::fs::write(&path, signed).unwrap();
        let refused = std::panic::catch_unwind(|| {
            pyhanko::validate_with(&path, &[&pki().ca_pem], true);
        });
        assert!(
            refused.is_err(),
            "{name}: strict pyHanko accepted a hybrid file"
        );
        // ... and accepts one made over the rewrite.
        normalise_sign_and_check(d.path(), name, &input);
    }
}

#[test]
fn damaged_files_are_repaired_into_a_clean_file_and_signed_strictly_valid() {
    let d = tempfile::tempdir().unwrap();
    // A page given directly in /Kids (the strict reader refuses it): it becomes an object.
    let kid = fixture("malformed-page-tree-direct-kid.pdf");
    assert!(matches!(
        normalise::assess(&MemSource(&kid)),
        Some(Need::Damaged(_))
    ));
    // poppler drops that page (it warns, and shows one page of two): compared with qpdf's
    // repair, which keeps both (see `as_seen`).
    let clean = normalise_sign_and_check(d.path(), "direct-kid", &kid);
    let pages = |pdf: &[u8]| {
        let src = MemSource(pdf);
        let mut r = docflow::signing::pdf::reader::Reader::open(&src).unwrap();
        let cat = docflow::signing::pdf::document::catalog(&mut r).unwrap();
        docflow::signing::pdf::document::page_count(&mut r, &cat).unwrap()
    };
    assert_eq!(pages(&clean), 2, "both pages kept");
    // A startxref that points one byte off: lopdf finds the table, the rewrite lists each
    // object where it really is.
    let good = pdfgen::table(2);
    let at = good.windows(9).rposition(|w| w == b"startxref").unwrap();
    let tail = String::from_utf8_lossy(&good[at..]).to_string();
    let off: u64 = tail.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut shifted = good[..at].to_vec();
    shifted.extend_from_slice(format!("startxref\n{}\n%%EOF\n", off + 1).as_bytes());
    assert!(matches!(
        normalise::assess(&MemSource(&shifted)),
        Some(Need::Damaged(_))
    ));
    let clean = normalise_sign_and_check(d.path(), "startxref-off-by-one", &shifted);
    assert!(clean.len() < shifted.len() * 2);
    // No cross-reference at all (cut off before it): rebuilt from the objects themselves.
    let xref_at = good.windows(5).rposition(|w| w == b"xref\n").unwrap();
    let mut cut = good[..xref_at].to_vec();
    cut.extend_from_slice(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n");
    normalise_sign_and_check(d.path(), "no-xref", &cut);
}

#[test]
fn references_to_missing_objects_become_null_and_unused_objects_go() {
    // Object 30 is referenced and missing; object 31 is there and used by nothing.
    let input = pdfgen::table_with(vec![
        (
            10,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox {} /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R /Bleh 30 0 R /Arr [30 0 R 4 0 R] >>",
                pdfgen::MEDIABOX
            )
            .into_bytes(),
        ),
        (31, b"(an unused object nobody refers to)".to_vec()),
    ]);
    let n = normalise::normalise(&input).unwrap();
    let text = String::from_utf8_lossy(&n.bytes);
    assert!(!text.contains("/Bleh"), "{text}");
    assert!(text.contains("/Arr [null "), "{text}");
    assert!(!text.contains("unused object"), "{text}");
    // Catalog, page tree, page, content, font: each once, numbered from 1.
    assert_eq!(n.objects, 5, "{text}");
    assert!(
        text.contains(&format!("/MediaBox {}", pdfgen::MEDIABOX)),
        "reals kept: {text}"
    );
    let d = tempfile::tempdir().unwrap();
    normalise_sign_and_check(d.path(), "dangling", &input);
}

#[test]
fn fields_survive_and_the_empty_field_is_signed_after_normalising() {
    let d = tempfile::tempdir().unwrap();
    let input = pdfgen::with_empty_field("SoKyHieu", [300.0, 700.0, 500.0, 740.0]);
    let clean = normalise_sign_and_check(d.path(), "empty-field", &input);
    let fields = fields_of(&d.path().join("empty-field.clean.pdf"))
        .unwrap()
        .to_string();
    assert!(fields.contains("\"fullname\":\"SoKyHieu\""), "{fields}");
    assert!(fields.contains("\"fieldtype\":\"/Sig\""), "{fields}");
    let opts = SignOptions {
        field: Some("SoKyHieu".into()),
        ..SignOptions::default()
    };
    let (signed, r) = sign_bytes(&clean, &signer(), &opts).unwrap();
    assert_eq!(r.field, "SoKyHieu");
    let path = d.path().join("empty-field.filled.pdf");
    std::fs::write(&path, signed).unwrap();
    assert_eq!(
        pyhanko::signature_fields(&path),
        vec!["SoKyHieu".to_string()]
    );
    pyhanko::validate_with(&path, &[&pki().ca_pem], true);
}

#[test]
fn signed_certified_and_encrypted_files_are_never_rewritten() {
    for name in ["signed-twice.pdf", "certified-docmdp-p1-no-changes.pdf"] {
        let bytes = fixture(name);
        let e = normalise::normalise(&bytes).unwrap_err();
        assert_eq!(e.code(), "pdf_already_signed", "{name}: {e}");
        let mut same = bytes.clone();
        assert!(
            !normalise::before_first_signature(&mut same).unwrap(),
            "{name}"
        );
        assert_eq!(same, bytes, "{name}: changed");
    }
    let e = normalise::normalise(&fixture("encrypted-rc4-128-user-password.pdf")).unwrap_err();
    assert_eq!(e.code(), "pdf_encrypted", "{e}");
    let e = normalise::normalise(b"not a pdf at all").unwrap_err();
    assert_eq!(e.code(), "pdf_not_pdf", "{e}");
    // A clean file is left alone by the server's step; a hybrid one is rewritten.
    let mut clean = pdfgen::table(1);
    let orig = clean.clone();
    assert!(!normalise::before_first_signature(&mut clean).unwrap());
    assert_eq!(clean, orig);
    let mut hybrid = pdfgen::hybrid();
    assert!(normalise::before_first_signature(&mut hybrid).unwrap());
    assert_clean_bytes("hybrid", &hybrid);
}

#[test]
fn hostile_inputs_are_refused_in_bounded_time_and_memory() {
    // A 40 KB object stream that inflates to 1 GB, holding the catalog: the reader's decode
    // cap refuses it, whatever the file's size.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    {
        use std::io::Write;
        z.write_all(b"1 0 ").unwrap();
        let zeros = vec![b' '; 1 << 20];
        for _ in 0..1024 {
            z.write_all(&zeros).unwrap();
        }
    }
    let data = z.finish().unwrap();
    assert!(data.len() < 2 << 20);
    let mut f = b"%PDF-1.7\n".to_vec();
    let stm = f.len();
    f.extend_from_slice(
        format!(
            "6 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    f.extend_from_slice(&data);
    f.extend_from_slice(b"\nendstream\nendobj\n");
    let xref = f.len();
    f.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n6 1\n{stm:010} 00000 n \ntrailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    let started = std::time::Instant::now();
    let e = normalise::normalise(&f).unwrap_err();
    assert!(
        ["pdf_damaged", "pdf_too_complex"].contains(&e.code()),
        "{}: {e}",
        e.code()
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    // Deep nesting is bounded by the lexer; a loop of references is walked once.
    let looped = pdfgen::table_with(vec![
        (30, b"[31 0 R]".to_vec()),
        (31, b"[30 0 R 31 0 R]".to_vec()),
        (
            1,
            b"<< /Type /Catalog /Pages 2 0 R /Loop 30 0 R >>".to_vec(),
        ),
    ]);
    let n = normalise::normalise(&looped).unwrap();
    assert_eq!(n.objects, 7);
}

#[test]
fn cli_normalise_signs_a_hybrid_file_and_refuses_a_signed_one() {
    let d = tempfile::tempdir().unwrap();
    let id = pki().identity(KeyKind::Rsa2048);
    let bin = env!("CARGO_BIN_EXE_docflow");
    let input = d.path().join("hybrid.pdf");
    std::fs::write(&input, fixture("valid-hybrid-xref-30-pages.pdf")).unwrap();
    let out = d.path().join("out.pdf");
    let run = |input: &Path, out: &Path| {
        Command::new(bin)
            .args(["pdf", "sign"])
            .arg(input)
            .arg(out)
            .arg("--key")
            .arg(&id.key_pem)
            .arg("--cert")
            .arg(&id.cert_pem)
            .arg("--normalise")
            .output()
            .unwrap()
    };
    let o = run(&input, &out);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(said.contains("normalised first"), "{said}");
    pyhanko::validate_with(&out, &[&pki().ca_pem], true);
    pyhanko::qpdf_check(&out);
    assert_eq!(text_of(&input), text_of(&out));
    // Once signed, never rewritten: --normalise on the signed output is refused.
    let again = d.path().join("again.pdf");
    let o = run(&out, &again);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error [pdf_already_signed]"), "{err}");
    assert!(!again.exists());
}

/// Corpus files poppler's tools do not finish reading (a field tree of 2^25 paths: pdfinfo and
/// pdfsig spin until killed, per the corpus manifest), so the input cannot be rendered to compare.
const POPPLER_SPINS: &[&str] = &["malformed-field-tree-duplicate-kids.pdf"];

/// For [`POPPLER_SPINS`]: the rewrite lists each kid once, so poppler renders it (within 60 s)
/// and the signature over it validates strictly; the fields are qpdf's and the text field is kept.
fn rewrite_poppler_cannot_read(dir: &Path, name: &str, input: &[u8]) {
    let n = normalise::normalise(input).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_clean_bytes(name, &n.bytes);
    let after = dir.join(format!("{name}.clean.pdf"));
    std::fs::write(&after, &n.bytes).unwrap();
    let started = std::time::Instant::now();
    assert!(!renders_of(&after, &dir.join(format!("{name}.r-clean"))).is_empty());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{name}: poppler still spins"
    );
    let before = dir.join(format!("{name}.in.pdf"));
    std::fs::write(&before, input).unwrap();
    assert_eq!(
        fields_of(&before),
        fields_of(&after),
        "{name}: fields differ"
    );
    // The one text field is kept (it has no widget, so qpdf lists none); the strict reader
    // now reads the whole field tree (`assert_clean_bytes`).
    let tx = |b: &[u8]| b.windows(7).filter(|w| *w == b"/FT /Tx").count();
    assert_eq!(tx(&n.bytes), 1, "{name}: the text field");
    let (signed, _) = sign_bytes(&n.bytes, &signer(), &SignOptions::default()).unwrap();
    let path = dir.join(format!("{name}.signed.pdf"));
    std::fs::write(&path, signed).unwrap();
    pyhanko::validate_with(&path, &[&pki().ca_pem], true);
}

/// Every unsigned, unencrypted corpus file the upload check accepts: normalised, compared
/// (text, renders, fields) and signed strictly valid. Those the upload check marks as
/// "signable after normalising" must all be among them, and there must be some.
#[test]
fn corpus_unsigned_files_normalise_and_sign_strictly_valid() {
    let Some(entries) = crate::verify_corpus::corpus() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let mut normalised = Vec::new();
    let mut marked = 0;
    for e in entries.iter().filter(|e| e.signatures == 0) {
        let name = e.file.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&e.file).unwrap();
        let Ok(facts) = inspect::inspect(&bytes) else {
            continue;
        };
        if facts.normalise_reason.is_some() {
            assert!(facts.signable, "{name}: {facts:?}");
            marked += 1;
        }
        if !facts.signable {
            // Certified, encrypted, or damaged beyond what a rewrite cures.
            assert!(
                normalise::normalise(&bytes)
                    .map(|n| inspect::inspect(&n.bytes).map(|f| f.signable) != Ok(true))
                    .unwrap_or(true),
                "{name}: not signable, yet its rewrite would be"
            );
            continue;
        }
        eprintln!("{name}: normalising ({:?})", facts.normalise_reason);
        if POPPLER_SPINS.contains(&name.as_str()) {
            rewrite_poppler_cannot_read(d.path(), &name, &bytes);
        } else {
            normalise_sign_and_check(d.path(), &name, &bytes);
        }
        normalised.push(name);
    }
    eprintln!("normalised and signed: {normalised:?}");
    assert!(
        marked >= 4,
        "only {marked} corpus files marked for normalising"
    );
    assert!(
        normalised.len() >= 20,
        "only {} corpus files normalised",
        normalised.len()
    );
    for must in [
        "valid-hybrid-xref-30-pages.pdf",
        "valid-hybrid-xref-msword-style.pdf",
    ] {
        assert!(
            normalised.iter().any(|n| n == must),
            "{must} not normalised"
        );
    }
}
