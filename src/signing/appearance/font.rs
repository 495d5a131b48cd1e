//! The stamp's embedded font: Liberation Serif (metric twin of Times New Roman, as Decree 30 asks),
//! written as a subsetted Type0 / CIDFontType2 font with Identity-H encoding and a ToUnicode CMap.
//!
//! CIDs are the glyph ids of the subset (`CIDToGIDMap /Identity`), so the content stream shows
//! two-byte glyph ids and the ToUnicode CMap maps them back to text for copy and search.

use std::collections::HashMap;

use subsetter::GlyphRemapper;
use ttf_parser::{Face, GlyphId};

use super::super::SigningError;
use super::pdf::{flate, hex, num, stream};

/// Liberation Serif 2.1.5 Regular, SIL OFL 1.1: see `fonts/LICENSE`.
const FONT_BYTES: &[u8] = include_bytes!("fonts/LiberationSerif-Regular.ttf");
/// PostScript name of `FONT_BYTES` (name id 6), used after the subset tag.
const FONT_PS_NAME: &str = "LiberationSerif";

/// One character of text and the glyph that shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Glyph {
    pub ch: char,
    /// Glyph id in the full font.
    pub gid: u16,
    /// Advance width in thousandths of an em, as written in `/W`.
    pub width: u32,
}

/// Vertical metrics in thousandths of an em.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VMetrics {
    pub ascent: f64,
    pub descent: f64,
}

/// The parsed embedded font.
pub(crate) struct StampFont {
    face: Face<'static>,
    per_em: f64,
}

impl StampFont {
    pub(crate) fn load() -> Result<Self, SigningError> {
        let face = Face::parse(FONT_BYTES, 0).map_err(|e| {
            SigningError::Appearance(format!("the embedded stamp font is unreadable: {e}"))
        })?;
        let per_em = f64::from(face.units_per_em());
        Ok(Self { face, per_em })
    }

    fn scale(&self, units: f64) -> f64 {
        units * 1000.0 / self.per_em
    }

    /// Ascent and descent (positive, below the baseline) from the `hhea` table.
    pub(crate) fn vmetrics(&self) -> VMetrics {
        VMetrics {
            ascent: self.scale(f64::from(self.face.ascender())),
            descent: self.scale(-f64::from(self.face.descender())),
        }
    }

    /// The glyph for `ch`, or `None` when the font has no glyph for it (glyph 0 is `.notdef`).
    pub(crate) fn glyph(&self, ch: char) -> Option<Glyph> {
        let gid = self.face.glyph_index(ch).filter(|g| g.0 != 0)?;
        let advance = self.face.glyph_hor_advance(gid).unwrap_or(0);
        // Rounded once here, so layout measures exactly what the viewer will draw from /W.
        let width = self.scale(f64::from(advance)).round().max(0.0) as u32;
        Some(Glyph {
            ch,
            gid: gid.0,
            width,
        })
    }
}

/// The glyphs a stamp uses, in the order first seen; builds the font objects.
pub(crate) struct FontSubset {
    remapper: GlyphRemapper,
    /// Per new glyph id (index): the character it shows and its width. Index 0 is `.notdef`.
    used: Vec<(char, u32)>,
    by_gid: HashMap<u16, u16>,
}

/// Object numbers of the five font objects.
pub(crate) struct FontRefs {
    pub type0: u32,
    pub cid_font: u32,
    pub descriptor: u32,
    pub font_file: u32,
    pub to_unicode: u32,
}

impl FontSubset {
    pub(crate) fn new() -> Self {
        Self {
            remapper: GlyphRemapper::new(),
            used: vec![('\u{0}', 0)],
            by_gid: HashMap::new(),
        }
    }

    /// The CID (subset glyph id) that shows `glyph`, adding it to the subset if new.
    pub(crate) fn cid(&mut self, glyph: Glyph) -> u16 {
        if let Some(cid) = self.by_gid.get(&glyph.gid) {
            return *cid;
        }
        let cid = self.remapper.remap(glyph.gid);
        self.by_gid.insert(glyph.gid, cid);
        // The remapper hands out consecutive ids from 1, in step with `used`.
        if usize::from(cid) == self.used.len() {
            self.used.push((glyph.ch, glyph.width));
        }
        cid
    }

    /// Hex string operand (`<...>`) for a run of glyphs, adding them to the subset.
    pub(crate) fn show(&mut self, glyphs: &[Glyph]) -> String {
        let mut bytes = Vec::with_capacity(glyphs.len() * 2);
        for glyph in glyphs {
            bytes.extend_from_slice(&self.cid(*glyph).to_be_bytes());
        }
        format!("<{}>", hex(&bytes))
    }

    /// Six capital letters derived from the subset, so the same text gives the same file.
    fn tag(&self) -> String {
        // FNV-1a over the glyph list.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for gid in self.remapper.remapped_gids() {
            for byte in gid.to_be_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        (0..6)
            .map(|_| {
                let letter = char::from(b'A' + (hash % 26) as u8);
                hash /= 26;
                letter
            })
            .collect()
    }

    /// The bodies of the Type0 font, its CIDFont, descriptor, font file and ToUnicode CMap.
    pub(crate) fn objects(
        &self,
        font: &StampFont,
        refs: &FontRefs,
    ) -> Result<[Vec<u8>; 5], SigningError> {
        let name = format!("{}+{}", self.tag(), FONT_PS_NAME);
        let face = &font.face;

        let type0 = format!(
            "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
             /DescendantFonts [{} 0 R] /ToUnicode {} 0 R >>",
            refs.cid_font, refs.to_unicode
        );

        let notdef_width = face
            .glyph_hor_advance(GlyphId(0))
            .map(|w| font.scale(f64::from(w)).round() as u32)
            .unwrap_or(0);
        let widths: Vec<String> = self
            .used
            .iter()
            .enumerate()
            .map(|(i, (_, w))| {
                if i == 0 {
                    notdef_width.to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        let cid_font = format!(
            "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
             /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
             /FontDescriptor {} 0 R /DW 1000 /W [0 [{}]] /CIDToGIDMap /Identity >>",
            refs.descriptor,
            widths.join(" ")
        );

        let bbox = face.global_bounding_box();
        let metrics = font.vmetrics();
        let cap_height = face
            .capital_height()
            .map(f64::from)
            .map(|h| font.scale(h))
            .unwrap_or(metrics.ascent);
        let descriptor = format!(
            "<< /Type /FontDescriptor /FontName /{name} /Flags 6 /FontBBox [{} {} {} {}] \
             /ItalicAngle {} /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontFile2 {} 0 R >>",
            num(font.scale(f64::from(bbox.x_min)).round()),
            num(font.scale(f64::from(bbox.y_min)).round()),
            num(font.scale(f64::from(bbox.x_max)).round()),
            num(font.scale(f64::from(bbox.y_max)).round()),
            num(f64::from(face.italic_angle())),
            num(metrics.ascent.round()),
            num(-metrics.descent.round()),
            num(cap_height.round()),
            refs.font_file
        );

        let subset = subsetter::subset(FONT_BYTES, 0, &self.remapper).map_err(|e| {
            SigningError::Appearance(format!("subsetting the stamp font failed: {e}"))
        })?;
        let font_file = stream(
            &format!(" /Length1 {} /Filter /FlateDecode", subset.len()),
            &flate(&subset)?,
        );

        let to_unicode = stream(
            " /Filter /FlateDecode",
            &flate(self.to_unicode_cmap().as_bytes())?,
        );

        Ok([
            type0.into_bytes(),
            cid_font.into_bytes(),
            descriptor.into_bytes(),
            font_file,
            to_unicode,
        ])
    }

    /// A ToUnicode CMap mapping each CID to the character it was chosen for.
    fn to_unicode_cmap(&self) -> String {
        let mut cmap = String::from(
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
             /CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n\
             /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
             1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
        );
        let entries: Vec<(usize, char)> = self
            .used
            .iter()
            .enumerate()
            .skip(1)
            .map(|(cid, (ch, _))| (cid, *ch))
            .collect();
        // A bfchar block holds at most 100 entries.
        for chunk in entries.chunks(100) {
            cmap.push_str(&format!("{} beginbfchar\n", chunk.len()));
            for (cid, ch) in chunk {
                let mut units = [0u16; 2];
                let utf16: Vec<u8> = ch
                    .encode_utf16(&mut units)
                    .iter()
                    .flat_map(|u| u.to_be_bytes())
                    .collect();
                cmap.push_str(&format!("<{:04X}> <{}>\n", cid, hex(&utf16)));
            }
            cmap.push_str("endbfchar\n");
        }
        cmap.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
        cmap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_precomposed_letters_have_glyphs() {
        let font = StampFont::load().unwrap();
        for ch in "Nguyễn Văn Đức — Phó Giám đốc ẮẰẲẴẶắằẳẵặỨỪỬỮỰứừửữựỹỷỵ".chars()
        {
            assert!(font.glyph(ch).is_some(), "no glyph for {ch:?}");
        }
        assert!(
            font.glyph('\u{4E2D}').is_none(),
            "CJK is not in Liberation Serif"
        );
    }

    #[test]
    fn cids_are_consecutive_and_reused() {
        let font = StampFont::load().unwrap();
        let mut subset = FontSubset::new();
        let a = font.glyph('a').unwrap();
        let d = font.glyph('đ').unwrap();
        assert_eq!(subset.cid(a), 1);
        assert_eq!(subset.cid(d), 2);
        assert_eq!(subset.cid(a), 1);
        assert_eq!(subset.show(&[d, a]), "<00020001>");
    }

    #[test]
    fn to_unicode_maps_cids_to_utf16() {
        let font = StampFont::load().unwrap();
        let mut subset = FontSubset::new();
        subset.cid(font.glyph('ễ').unwrap());
        let cmap = subset.to_unicode_cmap();
        assert!(cmap.contains("1 beginbfchar\n<0001> <1EC5>\n"), "{cmap}");
    }

    #[test]
    fn to_unicode_splits_blocks_at_100_entries() {
        let font = StampFont::load().unwrap();
        let mut subset = FontSubset::new();
        let letters = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ";
        for ch in letters.chars().chain(letters.to_uppercase().chars()) {
            subset.cid(font.glyph(ch).unwrap());
        }
        assert_eq!(
            subset.used.len(),
            147,
            "73 letters in each case, and .notdef"
        );
        let cmap = subset.to_unicode_cmap();
        assert!(
            cmap.contains("100 beginbfchar\n") && cmap.contains("46 beginbfchar\n"),
            "{cmap}"
        );
        assert_eq!(cmap.matches("endbfchar").count(), 2);
    }

    #[test]
    fn font_objects_are_subset_and_tagged() {
        let font = StampFont::load().unwrap();
        let mut subset = FontSubset::new();
        for ch in "Đức".chars() {
            subset.cid(font.glyph(ch).unwrap());
        }
        let refs = FontRefs {
            type0: 10,
            cid_font: 11,
            descriptor: 12,
            font_file: 13,
            to_unicode: 14,
        };
        let [type0, cid_font, descriptor, font_file, _] = subset.objects(&font, &refs).unwrap();
        let type0 = String::from_utf8(type0).unwrap();
        let tag = &type0[type0.find("/BaseFont /").unwrap() + 11..][..6];
        assert!(tag.chars().all(|c| c.is_ascii_uppercase()), "{type0}");
        assert!(type0.contains(
            "+LiberationSerif /Encoding /Identity-H /DescendantFonts [11 0 R] /ToUnicode 14 0 R"
        ));
        assert!(String::from_utf8(cid_font)
            .unwrap()
            .contains("/CIDToGIDMap /Identity"));
        assert!(String::from_utf8(descriptor)
            .unwrap()
            .contains("/FontFile2 13 0 R"));
        assert!(
            font_file.len() < FONT_BYTES.len() / 10,
            "the font file is a subset: {} bytes",
            font_file.len()
        );
    }
}
