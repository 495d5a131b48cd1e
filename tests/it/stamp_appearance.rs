//! The visible signature stamp, checked the way a user would: the appearance objects are put in
//! a complete one-page PDF written here, then poppler (`pdftotext`, `pdffonts`, `pdftoppm`) and
//! `qpdf --check` read it. The tools are required: install with
//! `apt-get install -y poppler-utils qpdf`. Rendered pages stay in
//! `$CARGO_TARGET_TMPDIR/stamp_appearance/` for a person to look at.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use docflow::signing::appearance::{build, Appearance, StampSpec};

const PAGE_W: f64 = 320.0;
const PAGE_H: f64 = 220.0;
/// Where the stamp sits on the test page.
const STAMP_X: f64 = 40.0;
const STAMP_Y: f64 = 60.0;

const VIETNAMESE_LINES: [&str; 4] = [
    "Nguyễn Văn Đức",
    "Phó Giám đốc",
    "Sở Thông tin và Truyền thông",
    "2026-11-27T14:05:09+07:00",
];

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("stamp_appearance");
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

/// Runs an outside tool; a missing tool fails the test with the install command.
fn run(tool: &str, args: &[&str]) -> Output {
    Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("`{tool}` could not be run ({e}): these tests need it; apt-get install -y poppler-utils qpdf")
    })
}

fn stdout(tool: &str, args: &[&str]) -> String {
    let output = run(tool, args);
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("tool output is UTF-8")
}

/// How the test page uses the appearance.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// The page content draws the form XObject with `/X1 Do`.
    PageContent,
    /// A signature widget annotation whose `/AP /N` is the form (what the signing writer does).
    Widget,
}

/// Writes a complete one-page PDF (classic xref table) holding the stamp at (STAMP_X, STAMP_Y),
/// over a pale yellow backdrop so transparency shows, with a grey frame around the box.
fn write_pdf(name: &str, spec: &StampSpec, placement: Placement) -> PathBuf {
    let first = 6;
    let appearance: Appearance = build(spec, first).expect("build the stamp");
    let root = first + appearance.root as u32;
    let (w, h) = (spec.width, spec.height);

    let mut content = format!(
        "q 1 1 0.75 rg {STAMP_X} {STAMP_Y} {w} {h} re f Q\nq 0.6 G 0.5 w {} {} {} {} re S Q\n",
        STAMP_X - 1.0,
        STAMP_Y - 1.0,
        w + 2.0,
        h + 2.0
    );
    let mut page_extra = String::new();
    let mut catalog_extra = String::new();
    match placement {
        Placement::PageContent => {
            content.push_str(&format!("q 1 0 0 1 {STAMP_X} {STAMP_Y} cm /X1 Do Q\n"));
        }
        Placement::Widget => {
            page_extra = " /Annots [5 0 R]".into();
            catalog_extra = " /AcroForm << /Fields [5 0 R] /SigFlags 1 >>".into();
        }
    }

    let mut objects: Vec<Vec<u8>> = vec![
        format!("<< /Type /Catalog /Pages 2 0 R{catalog_extra} >>").into_bytes(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
             /Resources << /XObject << /X1 {root} 0 R >> >> /Contents 4 0 R{page_extra} >>"
        )
        .into_bytes(),
        format!(
            "<< /Length {} >>\nstream\r\n{content}\r\nendstream",
            content.len()
        )
        .into_bytes(),
        format!(
            "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /F 4 /P 3 0 R \
             /Rect [{STAMP_X} {STAMP_Y} {} {}] /AP << /N {root} 0 R >> >>",
            STAMP_X + w,
            STAMP_Y + h
        )
        .into_bytes(),
    ];
    objects.extend(appearance.objects);

    let mut pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        pdf.extend_from_slice(body);
        pdf.extend_from_slice(b"\nendobj\n");
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    let path = out_dir().join(format!("{name}.pdf"));
    std::fs::write(&path, pdf).expect("write the test PDF");
    path
}

/// `qpdf --check` must pass without errors or warnings (exit 0).
fn assert_qpdf_ok(pdf: &Path) {
    let output = run("qpdf", &["--check", pdf.to_str().expect("utf-8 path")]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "qpdf --check {}:\n{}{}",
        pdf.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn text_of(pdf: &Path) -> String {
    stdout("pdftotext", &[pdf.to_str().expect("utf-8 path"), "-"])
}

/// The font line of `pdffonts`: name, type, encoding, emb, sub, uni.
fn assert_font_embedded_subset_unicode(pdf: &Path) {
    let fonts = stdout("pdffonts", &[pdf.to_str().expect("utf-8 path")]);
    let line = fonts
        .lines()
        .find(|l| l.contains("+LiberationSerif"))
        .unwrap_or_else(|| panic!("no subset Liberation Serif in:\n{fonts}"));
    let tag = &line[..line.find('+').expect("tag")];
    assert!(
        tag.len() == 6 && tag.chars().all(|c| c.is_ascii_uppercase()),
        "{line}"
    );
    assert!(
        line.contains("CID TrueType") && line.contains("Identity-H"),
        "{line}"
    );
    let flags: Vec<&str> = line.split_whitespace().rev().take(5).collect();
    // Columns from the right: object id, generation... so read "emb sub uni" before them.
    assert_eq!(&flags[2..5], ["yes", "yes", "yes"], "emb/sub/uni: {line}");
}

/// A rendered page: RGB pixels.
struct Render {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
    dpi: f64,
}

impl Render {
    fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixels of the page rectangle (PDF points, y up) that satisfy `pred`, and the total.
    fn count(
        &self,
        x0: f64,
        y0: f64,
        w: f64,
        h: f64,
        pred: impl Fn([u8; 3]) -> bool,
    ) -> (usize, usize) {
        let k = self.dpi / 72.0;
        let px0 = (x0 * k).round() as usize;
        let px1 = (((x0 + w) * k).round() as usize).min(self.width);
        let py0 = ((PAGE_H - y0 - h) * k).round() as usize;
        let py1 = (((PAGE_H - y0) * k).round() as usize).min(self.height);
        let mut hits = 0;
        let mut total = 0;
        for y in py0..py1 {
            for x in px0..px1 {
                total += 1;
                if pred(self.pixel(x, y)) {
                    hits += 1;
                }
            }
        }
        (hits, total)
    }
}

/// Renders page 1 at `dpi` with `pdftoppm -png` and decodes it.
fn render(pdf: &Path, dpi: u32) -> Render {
    let prefix = pdf.with_extension("");
    let prefix = format!("{}-{dpi}dpi", prefix.display());
    let dpi_text = dpi.to_string();
    stdout(
        "pdftoppm",
        &[
            "-png",
            "-r",
            &dpi_text,
            "-singlefile",
            pdf.to_str().expect("utf-8 path"),
            &prefix,
        ],
    );
    let file = std::fs::read(format!("{prefix}.png")).expect("pdftoppm wrote a PNG");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("rendered PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("size")];
    let frame = reader.next_frame(&mut buffer).expect("rendered frame");
    assert_eq!(frame.color_type, png::ColorType::Rgb, "pdftoppm writes RGB");
    buffer.truncate(frame.buffer_size());
    Render {
        width: frame.width as usize,
        height: frame.height as usize,
        rgb: buffer,
        dpi: f64::from(dpi),
    }
}

fn is_dark(p: [u8; 3]) -> bool {
    p.iter().all(|c| *c < 90)
}

fn is_blue(p: [u8; 3]) -> bool {
    p[2] > 120 && p[0] < 90 && p[1] < 120
}

fn is_red(p: [u8; 3]) -> bool {
    p[0] > 150 && p[1] < 90 && p[2] < 90
}

fn is_backdrop(p: [u8; 3]) -> bool {
    p[0] > 230 && p[1] > 230 && (150..=215).contains(&p[2])
}

fn encode_rgba(width: u32, height: u32, rgba: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("png header");
        writer.write_image_data(rgba).expect("png data");
    }
    out
}

/// A blue handwritten-looking signature on a transparent background, 300×120.
fn signature_png() -> Vec<u8> {
    let (w, h) = (300usize, 120usize);
    let mut rgba = vec![0u8; w * h * 4];
    let mut dab = |cx: f64, cy: f64, r: f64| {
        for y in (cy - r).floor().max(0.0) as usize..((cy + r).ceil() as usize).min(h) {
            for x in (cx - r).floor().max(0.0) as usize..((cx + r).ceil() as usize).min(w) {
                let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
                if d <= r {
                    let i = (y * w + x) * 4;
                    rgba[i..i + 4].copy_from_slice(&[20, 40, 180, 255]);
                }
            }
        }
    };
    for step in 0..=2000 {
        let t = f64::from(step) / 2000.0;
        // Loops drifting right, then an underline flourish.
        let x = 25.0 + 230.0 * t + 18.0 * (10.0 * PI * t).cos();
        let y = 55.0 - 30.0 * (10.0 * PI * t).sin() * (1.0 - 0.4 * t);
        dab(x, y, 2.6);
        dab(30.0 + 250.0 * t, 98.0 - 8.0 * (PI * t).sin(), 1.8);
    }
    encode_rgba(w as u32, h as u32, &rgba)
}

/// The seal with a `pHYs` chunk saying it is `mm` millimetres across.
fn seal_png_mm(mm: f64) -> Vec<u8> {
    let plain = seal_png();
    let mut decoder = png::Decoder::new(std::io::Cursor::new(plain));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().expect("seal");
    let mut rgba = vec![0; reader.output_buffer_size().expect("size")];
    reader.next_frame(&mut rgba).expect("frame");
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 200, 200);
        encoder.set_color(png::ColorType::Rgba);
        let per_metre = (200.0 / (mm / 1000.0)).round() as u32;
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: per_metre,
            yppu: per_metre,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header().expect("header");
        writer.write_image_data(&rgba).expect("data");
    }
    out
}

/// A red round seal (two rings and a star) on a transparent background, 200×200.
fn seal_png() -> Vec<u8> {
    let n = 200usize;
    let mut rgba = vec![0u8; n * n * 4];
    let c = 99.5;
    for y in 0..n {
        for x in 0..n {
            let (dx, dy) = (x as f64 - c, y as f64 - c);
            let r = (dx * dx + dy * dy).sqrt();
            let angle = dy.atan2(dx) + PI / 2.0;
            // Five-pointed star: the radius limit swings between 18 and 45 with the angle.
            let star = 18.0 + 27.0 * ((angle * 5.0 / 2.0).cos().abs()).powi(6);
            if (88.0..=97.0).contains(&r) || (62.0..=66.0).contains(&r) || r <= star {
                let i = (y * n + x) * 4;
                rgba[i..i + 4].copy_from_slice(&[215, 25, 30, 255]);
            }
        }
    }
    encode_rgba(n as u32, n as u32, &rgba)
}

fn lines(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|s| s.to_string()).collect()
}

#[test]
fn text_stamp_is_copyable_embedded_subset_and_renders() {
    let spec = StampSpec {
        width: 240.0,
        height: 70.0,
        lines: lines(&VIETNAMESE_LINES),
        ..StampSpec::default()
    };
    let pdf = write_pdf("text_only", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    let text = text_of(&pdf);
    for line in VIETNAMESE_LINES {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "pdftotext lacks {line:?}:\n{text}"
        );
    }
    assert_font_embedded_subset_unicode(&pdf);

    let page = render(&pdf, 100);
    // 320×220 pt at 100 dpi is 444.4×305.6 px; poppler rounds one way or the other.
    let size = (page.width, page.height);
    assert!(
        (444..=445).contains(&size.0) && (305..=306).contains(&size.1),
        "{size:?}"
    );
    let (dark, total) = page.count(STAMP_X, STAMP_Y, spec.width, spec.height, is_dark);
    assert!(
        dark > total / 50,
        "text is drawn in the box: {dark} dark of {total}"
    );
    let (outside, _) = page.count(0.0, 0.0, PAGE_W, STAMP_Y - 2.0, is_dark);
    assert_eq!(outside, 0, "nothing is drawn below the box");
}

#[test]
fn name_and_title_on_one_line_copy_exactly() {
    let spec = StampSpec {
        width: 260.0,
        height: 24.0,
        lines: lines(&["Nguyễn Văn Đức — Phó Giám đốc"]),
        font_size: 10.0,
        ..StampSpec::default()
    };
    let pdf = write_pdf("one_line", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    let text = text_of(&pdf);
    assert!(
        text.lines()
            .any(|l| l.trim() == "Nguyễn Văn Đức — Phó Giám đốc"),
        "{text}"
    );
}

#[test]
fn decomposed_input_copies_as_precomposed_text() {
    // NFD: "Đức" as D-stroke + u + horn + acute, as some keyboards and browsers send it.
    let spec = StampSpec {
        width: 200.0,
        height: 40.0,
        lines: lines(&["Nguye\u{302}\u{303}n Va\u{306}n \u{110}u\u{31B}\u{301}c"]),
        ..StampSpec::default()
    };
    let pdf = write_pdf("decomposed", &spec, Placement::PageContent);
    let text = text_of(&pdf);
    assert!(
        text.lines().any(|l| l.trim() == "Nguyễn Văn Đức"),
        "{text:?}"
    );
}

#[test]
fn stamp_with_transparent_signature_image() {
    let spec = StampSpec {
        width: 240.0,
        height: 70.0,
        lines: lines(&VIETNAMESE_LINES),
        image: Some(signature_png()),
        ..StampSpec::default()
    };
    let pdf = write_pdf("with_image", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    let text = text_of(&pdf);
    assert!(
        text.contains("Nguyễn Văn Đức") && text.contains("Phó Giám đốc"),
        "{text}"
    );
    assert_font_embedded_subset_unicode(&pdf);

    let page = render(&pdf, 100);
    // Wide box: the picture takes the left 40 % of the box, the text the rest.
    let left_w = spec.width * 0.4;
    let (blue, total) = page.count(STAMP_X, STAMP_Y, left_w, spec.height, is_blue);
    assert!(
        blue > total / 30,
        "the blue signature is drawn on the left: {blue} of {total}"
    );
    let (backdrop, _) = page.count(STAMP_X, STAMP_Y, left_w, spec.height, is_backdrop);
    assert!(
        backdrop > total / 2,
        "its transparent background shows the page through: {backdrop} of {total}"
    );
    let (blue_right, _) = page.count(
        STAMP_X + left_w + 4.0,
        STAMP_Y,
        spec.width - left_w - 4.0,
        spec.height,
        is_blue,
    );
    assert_eq!(blue_right, 0, "the image stays out of the text");
    let (dark_right, _) = page.count(
        STAMP_X + left_w,
        STAMP_Y,
        spec.width - left_w,
        spec.height,
        is_dark,
    );
    assert!(dark_right > 200, "text on the right: {dark_right}");
}

#[test]
fn square_box_puts_image_on_top_and_seal_over_its_left_third() {
    let spec = StampSpec {
        width: 170.0,
        height: 130.0,
        lines: lines(&["Sở Thông tin và Truyền thông", "2026-11-27T14:05:09+07:00"]),
        image: Some(signature_png()),
        seal: Some(seal_png()),
        ..StampSpec::default()
    };
    let pdf = write_pdf("seal_on_top", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    assert!(text_of(&pdf).contains("Sở Thông tin và Truyền thông"));
    let page = render(&pdf, 100);
    let top = STAMP_Y + spec.height * 0.5;
    let (red, _) = page.count(STAMP_X, top, spec.width, spec.height * 0.5, is_red);
    let (blue, _) = page.count(STAMP_X, top, spec.width, spec.height * 0.5, is_blue);
    assert!(
        red > 300 && blue > 100,
        "seal ({red} red px) and signature ({blue} blue px) on top"
    );
    let (red_below, _) = page.count(STAMP_X, STAMP_Y, spec.width, spec.height * 0.4, is_red);
    assert_eq!(red_below, 0, "the text part has no image");
}

#[test]
fn widget_annotation_appearance_renders() {
    let spec = StampSpec {
        width: 240.0,
        height: 70.0,
        lines: lines(&VIETNAMESE_LINES),
        image: Some(signature_png()),
        ..StampSpec::default()
    };
    let pdf = write_pdf("widget", &spec, Placement::Widget);
    assert_qpdf_ok(&pdf);
    let page = render(&pdf, 100);
    let (blue, _) = page.count(STAMP_X, STAMP_Y, spec.width, spec.height, is_blue);
    let (dark, _) = page.count(STAMP_X, STAMP_Y, spec.width, spec.height, is_dark);
    assert!(
        blue > 100 && dark > 200,
        "the widget's /AP /N is drawn: {blue} blue, {dark} dark"
    );
}

#[test]
fn very_long_name_wraps_inside_the_box() {
    let long = "Tôn Nữ Thị Hoàng Phương Thảo Nguyễn Lê Ngọc Diễm Quỳnh";
    let spec = StampSpec {
        width: 120.0,
        height: 80.0,
        lines: lines(&[long, "Chánh Văn phòng"]),
        ..StampSpec::default()
    };
    let pdf = write_pdf("long_name", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    let text = text_of(&pdf);
    let rows: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert!(
        rows.len() >= 3,
        "the name wraps onto several lines: {rows:?}"
    );
    let words: Vec<&str> = rows.iter().flat_map(|r| r.split_whitespace()).collect();
    let expected: Vec<&str> = long
        .split_whitespace()
        .chain(["Chánh", "Văn", "phòng"])
        .collect();
    assert_eq!(words, expected, "every word is kept, in order");
    let page = render(&pdf, 100);
    let (outside, _) = page.count(
        STAMP_X + spec.width + 2.0,
        0.0,
        PAGE_W - STAMP_X - spec.width - 2.0,
        PAGE_H,
        is_dark,
    );
    assert_eq!(outside, 0, "nothing spills to the right of the box");
}

#[test]
fn empty_lines_are_skipped_and_an_empty_stamp_is_valid() {
    let spec = StampSpec {
        width: 200.0,
        height: 60.0,
        lines: lines(&["", "Nguyễn Văn Đức", "   ", "Phó Giám đốc"]),
        ..StampSpec::default()
    };
    let pdf = write_pdf("empty_lines", &spec, Placement::PageContent);
    let rows: Vec<String> = text_of(&pdf)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rows, ["Nguyễn Văn Đức", "Phó Giám đốc"]);

    let empty = StampSpec {
        width: 200.0,
        height: 60.0,
        lines: lines(&[""]),
        ..StampSpec::default()
    };
    let pdf = write_pdf("empty", &empty, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    assert_eq!(text_of(&pdf).trim_matches(['\n', '\u{c}', ' ']), "");
}

#[test]
fn unsupported_characters_are_refused_by_name() {
    let spec = StampSpec {
        width: 200.0,
        height: 60.0,
        lines: lines(&["Nguyễn Văn Đức", "签名"]),
        ..StampSpec::default()
    };
    let err = build(&spec, 1).expect_err("CJK is not in the font");
    assert_eq!(err.code(), "signature_appearance_invalid");
    assert!(
        err.to_string()
            .contains("no glyph for '签' (U+7B7E) in line 2"),
        "{err}"
    );
}

#[test]
fn corrupt_png_is_refused() {
    let mut broken = signature_png();
    broken.truncate(broken.len() / 2);
    for (bytes, what) in [(broken, "truncated"), (b"GIF89a....".to_vec(), "not a PNG")] {
        let spec = StampSpec {
            width: 200.0,
            height: 60.0,
            image: Some(bytes),
            ..StampSpec::default()
        };
        let err = build(&spec, 1).expect_err(what);
        assert!(
            err.to_string()
                .contains("signature image is not a readable PNG"),
            "{what}: {err}"
        );
    }
}

#[test]
fn tiny_box_is_refused_rather_than_illegible() {
    let spec = StampSpec {
        width: 30.0,
        height: 6.0,
        lines: lines(&VIETNAMESE_LINES),
        ..StampSpec::default()
    };
    let err = build(&spec, 1).expect_err("four lines cannot fit in 30×6 pt");
    assert!(err.to_string().contains("too small"), "{err}");
    // An image alone shrinks to any box.
    let spec = StampSpec {
        width: 6.0,
        height: 3.0,
        image: Some(signature_png()),
        ..StampSpec::default()
    };
    let pdf = write_pdf("tiny_image", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
}

#[test]
fn every_vietnamese_letter_and_pdf_delimiter_copies_back() {
    let lower = "aàáảãạăằắẳẵặâầấẩẫậ eèéẻẽẹêềếểễệ iìíỉĩị oòóỏõọôồốổỗộơờớởỡợ uùúủũụưừứửữự yỳýỷỹỵ đ";
    let upper = lower.to_uppercase();
    // Characters with a meaning in PDF syntax must come out as plain text.
    let delimiters = "Ký bởi: (ĐT) \\ 100% <a> [b] {c} /d #e";
    let spec = StampSpec {
        width: 270.0,
        height: 140.0,
        lines: lines(&[lower, &upper, delimiters]),
        font_size: 9.0,
        ..StampSpec::default()
    };
    let pdf = write_pdf("alphabet", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    assert_font_embedded_subset_unicode(&pdf);
    let text = text_of(&pdf);
    // The long lines wrap; every word comes back, in order.
    let words: Vec<&str> = text.split_whitespace().collect();
    let expected: Vec<&str> = [lower, upper.as_str(), delimiters]
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect();
    assert_eq!(words, expected);
}

#[test]
fn decree_30_signer_layout_puts_the_image_between_title_and_name() {
    let spec = StampSpec {
        width: 170.0,
        height: 110.0,
        lines: lines(&["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "Nguyễn Văn Đức"]),
        image: Some(signature_png()),
        image_after_lines: Some(2),
        ..StampSpec::default()
    };
    let pdf = write_pdf("decree30_signer", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    assert_font_embedded_subset_unicode(&pdf);
    let text = text_of(&pdf);
    let rows: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rows, ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC", "Nguyễn Văn Đức"]);

    let page = render(&pdf, 100);
    let (x, y, w, h) = (STAMP_X, STAMP_Y, spec.width, spec.height);
    let band = h / 5.0;
    let (dark_top, _) = page.count(x, y + h - band, w, band, is_dark);
    let (blue_middle, _) = page.count(x, y + band, w, h - 2.0 * band, is_blue);
    let (dark_bottom, _) = page.count(x, y, w, band, is_dark);
    let (blue_edges, _) = page.count(x, y + h - band * 0.6, w, band * 0.6, is_blue);
    assert!(dark_top > 100, "title on top: {dark_top}");
    assert!(blue_middle > 300, "signature in the middle: {blue_middle}");
    assert!(dark_bottom > 100, "name at the bottom: {dark_bottom}");
    assert_eq!(blue_edges, 0, "the signature stays clear of the title");
    // Centred: as much ink left of the middle as right of it, give or take.
    let (left, _) = page.count(x, y, w / 2.0, band, is_dark);
    let (right, _) = page.count(x + w / 2.0, y, w / 2.0, band, is_dark);
    let balance = left as f64 / right.max(1) as f64;
    assert!(
        (0.6..1.6).contains(&balance),
        "name centred: {left} left, {right} right"
    );

    // The organisation variant: the seal over the signature's left third, same layout.
    let with_seal = StampSpec {
        seal: Some(seal_png()),
        ..spec
    };
    let pdf = write_pdf("decree30_seal", &with_seal, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    let page = render(&pdf, 100);
    let (red, _) = page.count(x, y + band, w, h - 2.0 * band, is_red);
    assert!(red > 200, "seal drawn: {red}");
}

#[test]
fn seal_with_a_resolution_prints_at_actual_size() {
    // A 20 mm seal in a box with room for a much larger one.
    let spec = StampSpec {
        width: 260.0,
        height: 150.0,
        lines: lines(&["Sở Thông tin và Truyền thông", "2026-11-27T14:05:09+07:00"]),
        seal: Some(seal_png_mm(20.0)),
        ..StampSpec::default()
    };
    let pdf = write_pdf("seal_actual_size", &spec, Placement::PageContent);
    assert_qpdf_ok(&pdf);
    let page = render(&pdf, 100);
    let rows: Vec<usize> = (0..page.height)
        .filter(|y| (0..page.width).any(|x| is_red(page.pixel(x, *y))))
        .collect();
    let extent_px = rows.last().expect("red rows") - rows.first().expect("red rows") + 1;
    // The drawn ring is 194 of the 200 pixels: 19.4 mm = 76.4 px at 100 dpi.
    let expected = 19.4 / 25.4 * 100.0;
    assert!(
        (extent_px as f64 - expected).abs() <= 2.0,
        "seal is {extent_px} px high, expected {expected:.1}"
    );
}
