//! The visible signature stamp (Decree 30): signer image and Vietnamese text, as PDF objects.
//!
//! Seam between the appearance builder and the incremental writer: `build` returns the bodies of
//! new indirect objects numbered `first_obj`, `first_obj + 1`, ...; the writer emits each as
//! `N 0 obj\n<body>\nendobj\n` and points the widget's `/AP << /N root 0 R >>` at `objects[root]`.
//!
//! Text is drawn with an embedded subset of Liberation Serif (Type0 / CIDFontType2, Identity-H,
//! ToUnicode), so Vietnamese renders everywhere and copies as text. Pure code: no I/O.

mod font;
mod image;
mod layout;
mod pdf;

use std::fmt::Write as _;

use self::font::Glyph;
use self::font::{FontRefs, FontSubset, StampFont};
use self::image::{decode_png, image_object, smask_object, DecodedImage};

/// Width and height of a PNG as the stamp would decode it (the whole image is decoded, with the
/// stamp's own limits): an upload that passes can be drawn later.
pub(crate) fn png_size(what: &str, png: &[u8]) -> Result<(u32, u32), SigningError> {
    decode_png(what, png).map(|d| (d.width, d.height))
}
use self::layout::{block_height, fit, line_width, prepare, wrap_at, Paragraph, Rect, LEADING};
use self::pdf::{num, stream, ObjectTable};
use super::SigningError;

pub use self::image::MAX_SIDE as MAX_IMAGE_SIDE;
pub use self::layout::{MAX_AUTO_SIZE, MAX_SIZE as MAX_FONT_SIZE, MIN_SIZE as MIN_FONT_SIZE};

/// Largest box side in points (ISO 32000 Annex C: 14,400 units).
pub const MAX_BOX_SIDE: f64 = 14_400.0;

/// What the stamp shows, in the widget's box.
#[derive(Debug, Clone, Default)]
pub struct StampSpec {
    /// Box width in points (the widget `/Rect` width).
    pub width: f64,
    /// Box height in points.
    pub height: f64,
    /// Lines of text, top to bottom (name, position, organisation, signing time); any Unicode
    /// the font covers (Latin, Vietnamese). Blank lines are dropped; long lines wrap at spaces.
    pub lines: Vec<String>,
    /// PNG of the handwritten signature (transparency kept).
    pub image: Option<Vec<u8>>,
    /// Font size in points, `MIN_FONT_SIZE..=MAX_FONT_SIZE`; 0 picks the largest size that
    /// fits, up to `MAX_AUTO_SIZE` (12 pt). A given size that does not fit is an error rather
    /// than silently shrunk, and so is text that does not fit even at `MIN_FONT_SIZE` (4 pt).
    pub font_size: f64,
    /// PNG of the organisation's seal (transparency kept), drawn over the left third of the
    /// signer image as Decree 30 shows for organisation signatures; alone if there is no image.
    /// When the PNG's `pHYs` chunk gives its resolution, the seal is drawn at its actual size
    /// if the box has room for it, and never larger.
    pub seal: Option<Vec<u8>>,
    /// Decree 30 signer layout: the picture goes below the first `n` lines and above the rest,
    /// everything centred, e.g. `Some(1)` for `[position title, full name]`. `None` (default):
    /// picture beside or above the text, see [`build`]. Ignored when there is no picture.
    pub image_after_lines: Option<usize>,
    /// A character the font lacks is shown as this one (which it must have) instead of
    /// refusing the text: for printouts of what others typed (the register report), never for
    /// a signer's stamp, which refuses what it cannot show.
    pub fallback: Option<char>,
}

/// New indirect objects that make up an appearance stream.
#[derive(Debug, Clone)]
pub struct Appearance {
    /// Object bodies (a dictionary, or a dictionary followed by `stream ... endstream`).
    pub objects: Vec<Vec<u8>>,
    /// Index in `objects` of the form XObject to use as the normal appearance.
    pub root: usize,
}

/// Builds the appearance objects, numbering them from `first_obj`.
///
/// Layout: with a picture and text, a wide box (at least 1.5 times as wide as high) puts the
/// picture on the left and the text on the right; other boxes put the picture on top and the
/// text below; there text is left-aligned and centred vertically in its area. With
/// `image_after_lines` the picture sits between two centred text blocks. Text is black.
pub fn build(spec: &StampSpec, first_obj: u32) -> Result<Appearance, SigningError> {
    check_box(spec)?;
    check_font_size(spec)?;
    let mut table = ObjectTable::new(first_obj)?;
    let (root, _) = table.reserve()?;

    let font = StampFont::load()?;
    let space = font
        .glyph(' ')
        .ok_or_else(|| SigningError::Appearance("the stamp font has no space glyph".into()))?;
    let signature = decode_optional("signature image", spec.image.as_deref())?;
    let seal = decode_optional("seal image", spec.seal.as_deref())?;
    let picture = Picture::new(signature.as_ref(), seal.as_ref());
    let text = TextInput {
        font: &font,
        space,
        requested: spec.font_size,
    };
    let layout = lay_out(spec, picture.as_ref(), &text)?;

    let mut form = FormParts {
        content: String::from("q\n"),
        resources: String::from(" /ProcSet [/PDF /Text /ImageB /ImageC]"),
    };
    if let Some(picture) = &picture {
        draw_picture(&mut table, picture, layout.picture, &mut form)?;
    }
    draw_texts(&mut table, &layout.texts, &font, &mut form)?;
    form.content.push_str("Q\n");

    let dict = format!(
        " /Type /XObject /Subtype /Form /FormType 1 /BBox [0 0 {} {}] /Matrix [1 0 0 1 0 0] /Resources <<{} >>",
        num(spec.width),
        num(spec.height),
        form.resources
    );
    table.set(root, stream(&dict, form.content.as_bytes()));
    Ok(Appearance {
        objects: table.into_bodies(),
        root,
    })
}

fn check_font_size(spec: &StampSpec) -> Result<(), SigningError> {
    if !(spec.font_size == 0.0 || (MIN_FONT_SIZE..=MAX_FONT_SIZE).contains(&spec.font_size)) {
        return Err(SigningError::Appearance(format!(
            "font size {} pt is outside {MIN_FONT_SIZE}..={MAX_FONT_SIZE} (or 0 to fit)",
            spec.font_size
        )));
    }
    Ok(())
}

fn decode_optional(what: &str, png: Option<&[u8]>) -> Result<Option<DecodedImage>, SigningError> {
    png.map(|png| decode_png(what, png)).transpose()
}

/// Places the picture and the text in the box, inside a thin margin.
fn lay_out(
    spec: &StampSpec,
    picture: Option<&Picture>,
    text: &TextInput,
) -> Result<Layout, SigningError> {
    let short_side = spec.width.min(spec.height);
    // A thin margin, never more than a quarter of the box, so tiny boxes keep a positive inside.
    let pad = (short_side * 0.05).clamp(0.5, 4.0).min(short_side * 0.25);
    let inner = Rect {
        x: pad,
        y: pad,
        w: spec.width - 2.0 * pad,
        h: spec.height - 2.0 * pad,
    };
    match (picture, spec.image_after_lines) {
        (Some(picture), Some(after)) => {
            let split = after.min(spec.lines.len());
            let above = prepare(&spec.lines[..split], text.font, spec.fallback)?;
            let below = prepare(&spec.lines[split..], text.font, spec.fallback)?;
            layout_between(inner, picture.aspect(), &above, &below, text, pad)
        }
        _ => {
            let paragraphs = prepare(&spec.lines, text.font, spec.fallback)?;
            layout_plain(inner, picture.map(Picture::aspect), &paragraphs, text, pad)
        }
    }
}

/// The form XObject being written: its content stream and its resource entries.
struct FormParts {
    content: String,
    resources: String,
}

/// Adds the picture's image objects (and soft masks) and draws them in `rect`.
fn draw_picture(
    table: &mut ObjectTable,
    picture: &Picture,
    rect: Option<Rect>,
    form: &mut FormParts,
) -> Result<(), SigningError> {
    // A picture squeezed to nothing is left out: a zero scale is a singular matrix.
    let rect = rect
        .map(|r| match picture.max_height() {
            Some(max) if r.h > max => shrink(r, max / r.h),
            _ => r,
        })
        .filter(|r| r.w > 0.0 && r.h > 0.0);
    let Some(rect) = rect else {
        return Ok(());
    };
    let mut xobjects = String::new();
    for (name, image, place) in picture.placements(rect) {
        let smask = match smask_object(image)? {
            Some(body) => {
                let (index, number) = table.reserve()?;
                table.set(index, body);
                Some(number)
            }
            None => None,
        };
        let (index, number) = table.reserve()?;
        table.set(index, image_object(image, smask)?);
        let _ = write!(xobjects, " /{name} {number} 0 R");
        let _ = writeln!(
            form.content,
            "q {} 0 0 {} {} {} cm /{name} Do Q",
            num(place.w),
            num(place.h),
            num(place.x),
            num(place.y)
        );
    }
    let _ = write!(form.resources, " /XObject <<{xobjects} >>");
    Ok(())
}

/// Draws the text blocks and adds the font subset's five objects, if there is any text.
fn draw_texts(
    table: &mut ObjectTable,
    texts: &[PlacedText],
    font: &StampFont,
    form: &mut FormParts,
) -> Result<(), SigningError> {
    if texts.iter().all(|t| t.lines.is_empty()) {
        return Ok(());
    }
    let mut subset = FontSubset::new();
    for placed in texts {
        write_text(&mut form.content, placed, font, &mut subset);
    }
    let mut numbers = [0u32; 5];
    let mut indices = [0usize; 5];
    for (slot, index) in numbers.iter_mut().zip(indices.iter_mut()) {
        (*index, *slot) = table.reserve()?;
    }
    let refs = FontRefs {
        type0: numbers[0],
        cid_font: numbers[1],
        descriptor: numbers[2],
        font_file: numbers[3],
        to_unicode: numbers[4],
    };
    for (index, body) in indices.into_iter().zip(subset.objects(font, &refs)?) {
        table.set(index, body);
    }
    let _ = write!(form.resources, " /Font << /F1 {} 0 R >>", refs.type0);
    Ok(())
}

fn check_box(spec: &StampSpec) -> Result<(), SigningError> {
    for (what, side) in [("width", spec.width), ("height", spec.height)] {
        if !side.is_finite() || side <= 0.0 || side > MAX_BOX_SIDE {
            return Err(SigningError::Appearance(format!(
                "stamp {what} {side} pt is not in (0, {MAX_BOX_SIDE}]"
            )));
        }
    }
    Ok(())
}

/// What text layout needs besides the paragraphs.
struct TextInput<'a> {
    font: &'a StampFont,
    space: Glyph,
    /// Requested size, 0 for automatic.
    requested: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Align {
    Left,
    Center,
}

/// Lines placed in the box: `top` is the top of the first line's ascent.
#[derive(Debug)]
struct PlacedText {
    lines: Vec<Vec<Glyph>>,
    size: f64,
    x: f64,
    w: f64,
    top: f64,
    align: Align,
}

/// Where the picture and the text blocks go.
#[derive(Debug)]
struct Layout {
    picture: Option<Rect>,
    texts: Vec<PlacedText>,
}

/// Picture beside (wide box) or above (other boxes) left-aligned text centred vertically.
fn layout_plain(
    inner: Rect,
    aspect: Option<f64>,
    paragraphs: &[Paragraph],
    text: &TextInput,
    gap: f64,
) -> Result<Layout, SigningError> {
    let (picture, area) = plan(inner, aspect, !paragraphs.is_empty(), gap);
    let mut texts = Vec::new();
    if !paragraphs.is_empty() {
        let block = fit(
            paragraphs,
            text.space,
            area,
            text.requested,
            text.font.vmetrics(),
        )?;
        let height = block_height(block.lines.len(), block.size, text.font.vmetrics());
        texts.push(PlacedText {
            top: area.y + area.h - (area.h - height) / 2.0,
            lines: block.lines,
            size: block.size,
            x: area.x,
            w: area.w,
            align: Align::Left,
        });
    }
    Ok(Layout { picture, texts })
}

/// Smallest share of the inner height left to the picture in the Decree 30 signer layout.
const BETWEEN_PICTURE_SHARE: f64 = 0.4;

/// Decree 30 signer layout: centred text above, the picture, centred text below. Both text
/// blocks share one size, fitted so the picture keeps at least `BETWEEN_PICTURE_SHARE` of the
/// height; the picture then takes all the height the text leaves.
fn layout_between(
    inner: Rect,
    aspect: f64,
    above: &[Paragraph],
    below: &[Paragraph],
    text: &TextInput,
    gap: f64,
) -> Result<Layout, SigningError> {
    let metrics = text.font.vmetrics();
    let all: Vec<Paragraph> = above.iter().chain(below).cloned().collect();
    if all.is_empty() {
        return layout_plain(inner, Some(aspect), &[], text, gap);
    }
    // One block of all lines is a little taller than two blocks of the same lines, so whatever
    // fits here fits split in two.
    let budget = Rect {
        h: inner.h * (1.0 - BETWEEN_PICTURE_SHARE) - 2.0 * gap,
        ..inner
    };
    let size = fit(&all, text.space, budget, text.requested, metrics)?.size;
    let wrap = |paragraphs: &[Paragraph]| {
        wrap_at(paragraphs, text.space, inner.w, size)
            .ok_or_else(|| SigningError::Appearance("the stamp text does not fit its box".into()))
    };
    let (above, below) = (wrap(above)?, wrap(below)?);
    let height = |lines: &[Vec<Glyph>]| {
        if lines.is_empty() {
            0.0
        } else {
            block_height(lines.len(), size, metrics) + gap
        }
    };
    let (above_h, below_h) = (height(&above), height(&below));
    let slot = Rect {
        y: inner.y + below_h,
        h: (inner.h - above_h - below_h).max(0.0),
        ..inner
    };
    let placed = |lines: Vec<Vec<Glyph>>, top: f64| PlacedText {
        lines,
        size,
        x: inner.x,
        w: inner.w,
        top,
        align: Align::Center,
    };
    let below_top = inner.y + below_h - gap;
    Ok(Layout {
        picture: Some(fit_image(slot, aspect)),
        texts: vec![placed(above, inner.y + inner.h), placed(below, below_top)],
    })
}

/// The images of the stamp: the signature, the seal over its left third, or either alone.
struct Picture<'a> {
    signature: Option<&'a DecodedImage>,
    seal: Option<&'a DecodedImage>,
}

/// How much of the signature's width the seal covers (Decree 30: about one third).
const SEAL_OVERLAP: f64 = 1.0 / 3.0;

impl<'a> Picture<'a> {
    fn new(signature: Option<&'a DecodedImage>, seal: Option<&'a DecodedImage>) -> Option<Self> {
        (signature.is_some() || seal.is_some()).then_some(Self { signature, seal })
    }

    /// Tallest the picture may be drawn: the seal's actual size, when its PNG says it.
    fn max_height(&self) -> Option<f64> {
        self.seal.and_then(|seal| seal.physical_height)
    }

    /// Width over height of the whole picture, both images at the same height.
    fn aspect(&self) -> f64 {
        match (self.signature, self.seal) {
            (Some(sig), Some(seal)) => seal.aspect() + sig.aspect() * (1.0 - SEAL_OVERLAP),
            (Some(one), None) | (None, Some(one)) => one.aspect(),
            (None, None) => 1.0,
        }
    }

    /// Resource name, image and place of each image, in drawing order (seal on top).
    fn placements(&self, rect: Rect) -> Vec<(&'static str, &'a DecodedImage, Rect)> {
        let mut out = Vec::new();
        let seal_w = self.seal.map(|s| s.aspect() * rect.h).unwrap_or(0.0);
        if let Some(sig) = self.signature {
            let sig_w = sig.aspect() * rect.h;
            let x = if self.seal.is_some() {
                rect.x + seal_w - sig_w * SEAL_OVERLAP
            } else {
                rect.x
            };
            out.push((
                "Im1",
                sig,
                Rect {
                    x,
                    y: rect.y,
                    w: sig_w,
                    h: rect.h,
                },
            ));
        }
        if let Some(seal) = self.seal {
            out.push((
                "Im2",
                seal,
                Rect {
                    x: rect.x,
                    y: rect.y,
                    w: seal_w,
                    h: rect.h,
                },
            ));
        }
        out
    }
}

/// Splits the inner box between the picture and the text.
fn plan(inner: Rect, aspect: Option<f64>, has_text: bool, gap: f64) -> (Option<Rect>, Rect) {
    let Some(aspect) = aspect else {
        return (None, inner);
    };
    if !has_text {
        return (Some(fit_image(inner, aspect)), inner);
    }
    if inner.w >= 1.5 * inner.h {
        let slot_w = (inner.w * 0.4).min(inner.h * aspect);
        let slot = Rect { w: slot_w, ..inner };
        let text = Rect {
            x: inner.x + slot_w + gap,
            w: (inner.w - slot_w - gap).max(0.0),
            ..inner
        };
        (Some(fit_image(slot, aspect)), text)
    } else {
        let slot_h = (inner.h * 0.45).min(inner.w / aspect);
        let slot = Rect {
            y: inner.y + inner.h - slot_h,
            h: slot_h,
            ..inner
        };
        let text = Rect {
            h: (inner.h - slot_h - gap).max(0.0),
            ..inner
        };
        (Some(fit_image(slot, aspect)), text)
    }
}

/// `rect` scaled by `factor` about its centre.
fn shrink(rect: Rect, factor: f64) -> Rect {
    let (w, h) = (rect.w * factor, rect.h * factor);
    Rect {
        x: rect.x + (rect.w - w) / 2.0,
        y: rect.y + (rect.h - h) / 2.0,
        w,
        h,
    }
}

/// The largest rectangle of `aspect` inside `slot`, centred.
fn fit_image(slot: Rect, aspect: f64) -> Rect {
    let (w, h) = if slot.w / slot.h.max(f64::MIN_POSITIVE) > aspect {
        (slot.h * aspect, slot.h)
    } else {
        (slot.w, slot.w / aspect)
    };
    Rect {
        x: slot.x + (slot.w - w) / 2.0,
        y: slot.y + (slot.h - h) / 2.0,
        w,
        h,
    }
}

/// Text operators for one block, one `Tm` per line.
fn write_text(
    content: &mut String,
    placed: &PlacedText,
    font: &StampFont,
    subset: &mut FontSubset,
) {
    if placed.lines.is_empty() {
        return;
    }
    let ascent = font.vmetrics().ascent;
    let _ = writeln!(content, "BT\n/F1 {} Tf\n0 g", num(placed.size));
    let mut baseline = placed.top - placed.size * ascent / 1000.0;
    for line in &placed.lines {
        let x = match placed.align {
            Align::Left => placed.x,
            Align::Center => placed.x + (placed.w - line_width(line, placed.size)) / 2.0,
        };
        let shown = subset.show(line);
        let _ = writeln!(
            content,
            "1 0 0 1 {} {} Tm {shown} Tj",
            num(x),
            num(baseline)
        );
        baseline -= placed.size * LEADING;
    }
    content.push_str("ET\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(lines: &[&str]) -> StampSpec {
        StampSpec {
            width: 200.0,
            height: 60.0,
            lines: lines.iter().map(|s| s.to_string()).collect(),
            ..StampSpec::default()
        }
    }

    fn text(body: &[u8]) -> String {
        String::from_utf8_lossy(body).into_owned()
    }

    #[test]
    fn text_stamp_has_form_and_five_font_objects() {
        let appearance = build(&spec(&["Nguyễn Văn Đức", "Phó Giám đốc"]), 20).unwrap();
        assert_eq!(appearance.root, 0);
        assert_eq!(appearance.objects.len(), 6);
        let form = text(&appearance.objects[0]);
        assert!(
            form.starts_with("<< /Type /XObject /Subtype /Form /FormType 1 /BBox [0 0 200 60]"),
            "{form}"
        );
        assert!(form.contains("/Font << /F1 21 0 R >>"), "{form}");
        assert!(
            form.contains("/F1 12 Tf"),
            "auto size is the maximum in a roomy box: {form}"
        );
        assert!(
            text(&appearance.objects[1]).contains("/DescendantFonts [22 0 R] /ToUnicode 25 0 R")
        );
    }

    #[test]
    fn form_stream_length_matches() {
        let appearance = build(&spec(&["Đức"]), 1).unwrap();
        let form = &appearance.objects[0];
        let text = text(form);
        let length: usize = text
            .split("/Length ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let start = text.find("stream\r\n").unwrap() + 8;
        let end = text.rfind("\r\nendstream").unwrap();
        assert_eq!(end - start, length);
    }

    #[test]
    fn no_text_and_no_image_is_an_empty_form() {
        let appearance = build(&spec(&["", "  "]), 5).unwrap();
        assert_eq!(appearance.objects.len(), 1);
        assert!(!text(&appearance.objects[0]).contains("/Font"));
    }

    #[test]
    fn image_gets_smask_and_is_placed_left_in_a_wide_box() {
        let mut px = Vec::new();
        for i in 0..(40 * 20) {
            px.extend_from_slice(&[0, 0, 200, if i % 2 == 0 { 255 } else { 0 }]);
        }
        let png = image::tests::encode(40, 20, png::ColorType::Rgba, &px, None);
        let appearance = build(
            &StampSpec {
                image: Some(png),
                ..spec(&["Đức"])
            },
            10,
        )
        .unwrap();
        // form, smask, image, five font objects
        assert_eq!(appearance.objects.len(), 8);
        let form = text(&appearance.objects[0]);
        assert!(form.contains("/XObject << /Im1 12 0 R >>"), "{form}");
        assert!(text(&appearance.objects[2]).contains("/SMask 11 0 R"));
        // 200×60 box, pad 3: the slot is 40% of 194 wide, the 2:1 picture 77.6 × 38.8, centred.
        assert!(
            form.contains("q 77.6 0 0 38.8 3 10.6 cm /Im1 Do Q"),
            "{form}"
        );
    }

    #[test]
    fn bad_boxes_and_sizes_are_refused() {
        for (w, h) in [
            (0.0, 10.0),
            (10.0, -1.0),
            (f64::NAN, 10.0),
            (20_000.0, 10.0),
        ] {
            let err = build(
                &StampSpec {
                    width: w,
                    height: h,
                    ..spec(&["a"])
                },
                1,
            )
            .err()
            .unwrap();
            assert_eq!(err.code(), "signature_appearance_invalid");
        }
        assert!(build(
            &StampSpec {
                font_size: 2.0,
                ..spec(&["a"])
            },
            1
        )
        .is_err());
        assert!(build(
            &StampSpec {
                font_size: f64::NAN,
                ..spec(&["a"])
            },
            1
        )
        .is_err());
        assert!(build(&spec(&["a"]), 0).is_err());
    }

    fn blue_png(width: u32, height: u32) -> Vec<u8> {
        let px: Vec<u8> = (0..width * height).flat_map(|_| [0, 0, 200, 128]).collect();
        image::tests::encode(width, height, png::ColorType::Rgba, &px, None)
    }

    #[test]
    fn signer_layout_centres_text_around_the_picture() {
        let spec = StampSpec {
            width: 160.0,
            height: 100.0,
            lines: vec!["PHÓ GIÁM ĐỐC".into(), "Nguyễn Văn Đức".into()],
            image: Some(blue_png(30, 10)),
            image_after_lines: Some(1),
            ..StampSpec::default()
        };
        let appearance = build(&spec, 1).unwrap();
        let form = text(&appearance.objects[0]);
        let tms: Vec<(f64, f64)> = form
            .lines()
            .filter(|l| l.contains(" Tm "))
            .map(|l| {
                let v: Vec<f64> = l
                    .split(' ')
                    .skip(4)
                    .take(2)
                    .map(|n| n.parse().unwrap())
                    .collect();
                (v[0], v[1])
            })
            .collect();
        assert_eq!(tms.len(), 2, "{form}");
        let (title, name) = (tms[0], tms[1]);
        assert!(
            title.0 > 4.0 && name.0 > 4.0,
            "centred, not at the left margin: {form}"
        );
        let image_line = form.lines().find(|l| l.ends_with("/Im1 Do Q")).unwrap();
        let v: Vec<f64> = image_line
            .split(' ')
            .skip(1)
            .take(6)
            .map(|n| n.parse().unwrap())
            .collect();
        let (image_bottom, image_top) = (v[5], v[5] + v[3]);
        assert!(
            title.1 > image_top && name.1 < image_bottom,
            "title above, name below the picture: {form}"
        );

        for after in [0, 2, 9] {
            let spec = StampSpec {
                image_after_lines: Some(after),
                ..spec.clone()
            };
            assert!(build(&spec, 1).is_ok(), "image_after_lines {after}");
        }
        // Without a picture the setting is ignored: plain left-aligned text.
        let plain = StampSpec {
            image: None,
            ..spec
        };
        let form = text(&build(&plain, 1).unwrap().objects[0]);
        assert!(form.contains("1 0 0 1 4 "), "{form}");
    }

    #[test]
    fn random_text_and_boxes_never_panic() {
        let alphabet: Vec<char> = "aăâbcdđeêghiklmnoôơpqrstuưvxyàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ  \n\t—-:+0123456789ĐÂƯ()\\<>%"
            .chars()
            .collect();
        let mut seed: u64 = 0x5eed;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let image = blue_png(5, 3);
        let mut built = 0;
        for _ in 0..300 {
            let lines = (0..next(6))
                .map(|_| {
                    (0..next(60))
                        .map(|_| alphabet[next(alphabet.len() as u64) as usize])
                        .collect()
                })
                .collect();
            let spec = StampSpec {
                width: 1.0 + next(400) as f64,
                height: 1.0 + next(200) as f64,
                lines,
                image: (next(2) == 0).then(|| image.clone()),
                font_size: [0.0, 4.0, 10.0][next(3) as usize],
                image_after_lines: (next(2) == 0).then(|| next(4) as usize),
                ..StampSpec::default()
            };
            match build(&spec, 1) {
                Ok(appearance) => {
                    let form = text(&appearance.objects[appearance.root]);
                    assert!(form.contains("/Subtype /Form"), "{form}");
                    assert!(!form.contains("NaN") && !form.contains("inf"), "{form}");
                    built += 1;
                }
                Err(err) => assert_eq!(err.code(), "signature_appearance_invalid", "{err}"),
            }
        }
        assert!(built > 100, "most random stamps fit: {built} of 300");
    }

    #[test]
    fn tiny_boxes_keep_a_positive_inside() {
        let spec = StampSpec {
            width: 0.8,
            height: 0.8,
            image: Some(blue_png(3, 2)),
            ..StampSpec::default()
        };
        let form = text(&build(&spec, 1).unwrap().objects[0]);
        assert!(form.contains("/Im1 Do"), "{form}");
        assert!(!form.contains(" -"), "no negative sizes: {form}");
    }

    #[test]
    fn plan_puts_image_left_or_on_top() {
        let wide = Rect {
            x: 0.0,
            y: 0.0,
            w: 200.0,
            h: 50.0,
        };
        let (image, text) = plan(wide, Some(1.0), true, 2.0);
        let image = image.unwrap();
        assert!(image.x + image.w <= text.x);
        let tall = Rect {
            x: 0.0,
            y: 0.0,
            w: 100.0,
            h: 100.0,
        };
        let (image, text) = plan(tall, Some(2.0), true, 2.0);
        assert!(image.unwrap().y >= text.y + text.h);
    }

    #[test]
    fn seal_overlaps_the_left_third_of_the_signature() {
        let sig = DecodedImage {
            width: 30,
            height: 10,
            gray: true,
            color: vec![0; 300],
            alpha: None,
            physical_height: None,
        };
        let seal = DecodedImage {
            width: 10,
            height: 10,
            gray: true,
            color: vec![0; 100],
            alpha: None,
            physical_height: None,
        };
        let picture = Picture::new(Some(&sig), Some(&seal)).unwrap();
        assert!((picture.aspect() - 3.0).abs() < 1e-9);
        let placed = picture.placements(Rect {
            x: 0.0,
            y: 0.0,
            w: 30.0,
            h: 10.0,
        });
        assert_eq!(placed[0].0, "Im1");
        assert!(
            (placed[0].2.x - 0.0).abs() < 1e-9,
            "the seal (10 wide) covers 10 of the signature's 30"
        );
        assert_eq!(placed[1].2.w, 10.0);
    }
}
