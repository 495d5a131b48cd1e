//! Text preparation (NFC, glyph lookup), word wrapping and font-size fitting.
//!
//! Widths are measured in thousandths of an em with the same rounded widths the PDF's `/W`
//! array declares, so what fits here fits in the viewer. No kerning or ligatures: Vietnamese is
//! written with precomposed letters after NFC, one glyph per character.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::super::SigningError;
use super::font::{Glyph, StampFont, VMetrics};

/// Largest size `font_size: 0` picks, in points.
pub const MAX_AUTO_SIZE: f64 = 12.0;
/// Smallest size that stays legible on paper, in points; text that does not fit at it is refused.
pub const MIN_SIZE: f64 = 4.0;
/// Largest size accepted when given explicitly.
pub const MAX_SIZE: f64 = 72.0;
/// Step of the automatic size search, in points.
const SIZE_STEP: f64 = 0.25;
/// Baseline-to-baseline distance, in ems.
pub(crate) const LEADING: f64 = 1.15;

/// A rectangle in PDF user space (y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A source line split into words of glyphs.
pub(crate) type Paragraph = Vec<Vec<Glyph>>;

/// Text laid out at one size: visual lines, top to bottom.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextBlock {
    pub size: f64,
    pub lines: Vec<Vec<Glyph>>,
}

/// Turns the caller's lines into paragraphs of glyphs.
///
/// Input is normalised to NFC, so decomposed Vietnamese (base letter + combining marks) finds
/// the precomposed glyphs. A line break inside a line starts a new paragraph; runs of white space
/// collapse to one space; blank lines are dropped, so an empty optional field leaves no gap;
/// invisible format characters (zero-width space/joiners, BOM, soft hyphen) are dropped.
/// A character the font cannot show is an error naming it: a signature stamp must not silently
/// show empty boxes.
pub(crate) fn prepare(
    lines: &[String],
    font: &StampFont,
    fallback: Option<char>,
) -> Result<Vec<Paragraph>, SigningError> {
    let mut paragraphs = Vec::new();
    for (number, line) in lines.iter().enumerate() {
        let normalised: String = line.nfc().collect();
        for piece in normalised.split(['\n', '\r']) {
            let mut words: Paragraph = Vec::new();
            let mut word: Vec<Glyph> = Vec::new();
            for ch in piece.chars() {
                // Invisible format characters pasted from word processors (zero-width space and
                // joiners, word joiner, byte order mark, soft hyphen) have nothing to draw.
                if matches!(
                    ch,
                    '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{AD}'
                ) {
                    continue;
                }
                // No-break spaces are drawn as spaces but keep the words together.
                let shown = if matches!(ch, '\u{A0}' | '\u{202F}') {
                    ' '
                } else {
                    ch
                };
                if shown == ch && ch.is_whitespace() {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    continue;
                }
                if ch.is_control() {
                    return Err(SigningError::Appearance(format!(
                        "stamp line {} has a control character U+{:04X}",
                        number + 1,
                        u32::from(ch)
                    )));
                }
                let glyph = font
                    .glyph(shown)
                    .or_else(|| fallback.and_then(|f| font.glyph(f)));
                let glyph = glyph.ok_or_else(|| {
                    SigningError::Appearance(format!(
                        "the stamp font (Liberation Serif) has no glyph for '{ch}' (U+{:04X}) in line {}",
                        u32::from(ch),
                        number + 1
                    ))
                })?;
                word.push(glyph);
            }
            if !word.is_empty() {
                words.push(word);
            }
            if !words.is_empty() {
                paragraphs.push(words);
            }
        }
    }
    Ok(paragraphs)
}

fn width_of(glyphs: &[Glyph]) -> u64 {
    glyphs.iter().map(|g| u64::from(g.width)).sum()
}

/// Greedy word wrap to `max` thousandths of an em. A word wider than a line is cut between
/// characters when `allow_break`, otherwise the text does not fit (`None`).
fn wrap(
    paragraphs: &[Paragraph],
    space: Glyph,
    max: f64,
    allow_break: bool,
) -> Option<Vec<Vec<Glyph>>> {
    let mut lines = Vec::new();
    for words in paragraphs {
        let mut line: Vec<Glyph> = Vec::new();
        for word in words {
            let pieces = if (width_of(word) as f64) <= max {
                vec![word.clone()]
            } else if allow_break {
                split_word(word, max)?
            } else {
                return None;
            };
            for piece in pieces {
                let joined = width_of(&line) + u64::from(space.width) + width_of(&piece);
                if line.is_empty() {
                    line = piece;
                } else if (joined as f64) <= max {
                    line.push(space);
                    line.extend(piece);
                } else {
                    lines.push(std::mem::replace(&mut line, piece));
                }
            }
        }
        lines.push(line);
    }
    Some(lines)
}

/// Cuts a word into pieces no wider than `max`, never before a combining mark.
fn split_word(word: &[Glyph], max: f64) -> Option<Vec<Vec<Glyph>>> {
    let mut pieces = Vec::new();
    let mut piece: Vec<Glyph> = Vec::new();
    for glyph in word {
        let fits = ((width_of(&piece) + u64::from(glyph.width)) as f64) <= max;
        if !fits && !piece.is_empty() && !is_combining_mark(glyph.ch) {
            pieces.push(std::mem::take(&mut piece));
        }
        piece.push(*glyph);
        if width_of(&piece) as f64 > max && piece.len() == 1 {
            // A single character wider than the line.
            return None;
        }
    }
    if !piece.is_empty() {
        pieces.push(piece);
    }
    Some(pieces)
}

/// Height in points of `lines` lines at `size`, from the top of the first line's ascent to the
/// bottom of the last line's descent.
pub(crate) fn block_height(lines: usize, size: f64, metrics: VMetrics) -> f64 {
    let extra = lines.saturating_sub(1) as f64;
    size * ((metrics.ascent + metrics.descent) / 1000.0 + extra * LEADING)
}

/// Wraps `paragraphs` at `size` points to `width` points, cutting over-long words.
pub(crate) fn wrap_at(
    paragraphs: &[Paragraph],
    space: Glyph,
    width: f64,
    size: f64,
) -> Option<Vec<Vec<Glyph>>> {
    wrap(paragraphs, space, width / size * 1000.0, true)
}

/// Width of a laid-out line in points at `size`.
pub(crate) fn line_width(line: &[Glyph], size: f64) -> f64 {
    width_of(line) as f64 * size / 1000.0
}

fn try_size(
    paragraphs: &[Paragraph],
    space: Glyph,
    area: Rect,
    size: f64,
    metrics: VMetrics,
    allow_break: bool,
) -> Option<TextBlock> {
    let lines = wrap(paragraphs, space, area.w / size * 1000.0, allow_break)?;
    (block_height(lines.len(), size, metrics) <= area.h).then_some(TextBlock { size, lines })
}

/// Lays the paragraphs out in `area`: at `requested` points, or for 0 the largest size up to
/// `MAX_AUTO_SIZE` that fits, preferring sizes that need no word cut in the middle.
pub(crate) fn fit(
    paragraphs: &[Paragraph],
    space: Glyph,
    area: Rect,
    requested: f64,
    metrics: VMetrics,
) -> Result<TextBlock, SigningError> {
    if requested > 0.0 {
        return try_size(paragraphs, space, area, requested, metrics, true).ok_or_else(|| {
            SigningError::Appearance(format!(
                "the stamp text does not fit in {} × {} pt at {requested} pt; use font_size 0 to fit it",
                area.w.round(),
                area.h.round()
            ))
        });
    }
    let steps = ((MAX_AUTO_SIZE - MIN_SIZE) / SIZE_STEP).round() as u32;
    for allow_break in [false, true] {
        for step in 0..=steps {
            let size = MAX_AUTO_SIZE - f64::from(step) * SIZE_STEP;
            if let Some(block) = try_size(paragraphs, space, area, size, metrics, allow_break) {
                return Ok(block);
            }
        }
    }
    Err(SigningError::Appearance(format!(
        "the stamp box leaves {} × {} pt for text: too small for it even at {MIN_SIZE} pt",
        (area.w * 10.0).round() / 10.0,
        (area.h * 10.0).round() / 10.0
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: &[&str]) -> (StampFont, Vec<Paragraph>, Glyph) {
        let font = StampFont::load().unwrap();
        let owned: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        let paragraphs = prepare(&owned, &font, None).unwrap();
        let space = font.glyph(' ').unwrap();
        (font, paragraphs, space)
    }

    fn line_text(line: &[Glyph]) -> String {
        line.iter().map(|g| g.ch).collect()
    }

    #[test]
    fn decomposed_input_is_normalised() {
        // "Nguyễn" written as e + circumflex + tilde (NFD).
        let (font, paragraphs, _) = text(&["Nguye\u{302}\u{303}n"]);
        let word: String = paragraphs[0][0].iter().map(|g| g.ch).collect();
        assert_eq!(word, "Nguyễn");
        assert_eq!(paragraphs[0][0][4].gid, font.glyph('ễ').unwrap().gid);
    }

    #[test]
    fn blank_lines_are_dropped_and_spaces_collapse() {
        let (_, paragraphs, _) = text(&["", "   ", "Phó  Giám\tđốc", "a\nb"]);
        assert_eq!(paragraphs.len(), 3);
        assert_eq!(paragraphs[0].len(), 3);
    }

    #[test]
    fn invisible_format_characters_are_dropped_and_nbsp_binds() {
        let (_, paragraphs, _) = text(&["\u{FEFF}Nguy\u{200B}ễn\u{A0}Văn\u{AD} Đức"]);
        let words: Vec<String> = paragraphs[0].iter().map(|w| line_text(w)).collect();
        assert_eq!(words, ["Nguyễn Văn", "Đức"]);
    }

    #[test]
    fn missing_glyph_is_named() {
        let font = StampFont::load().unwrap();
        let err = prepare(&["Ký: 中".to_string()], &font, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("no glyph for '中' (U+4E2D) in line 1"),
            "{err}"
        );
        let err = prepare(&["ok".into(), "bell\u{7}".into()], &font, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 2 has a control character U+0007"),
            "{err}"
        );
    }

    #[test]
    fn long_lines_wrap_at_spaces() {
        let (font, paragraphs, space) =
            text(&["Nguyễn Văn Đức Phó Giám đốc Sở Thông tin và Truyền thông"]);
        let area = Rect {
            x: 0.0,
            y: 0.0,
            w: 100.0,
            h: 100.0,
        };
        let block = fit(&paragraphs, space, area, 10.0, font.vmetrics()).unwrap();
        assert!(block.lines.len() >= 3, "{:?}", block.lines.len());
        for line in &block.lines {
            assert!(width_of(line) as f64 * 10.0 / 1000.0 <= 100.0);
            assert!(!line_text(line).starts_with(' ') && !line_text(line).ends_with(' '));
        }
        let joined: Vec<String> = block.lines.iter().map(|l| line_text(l)).collect();
        assert_eq!(
            joined.join(" "),
            "Nguyễn Văn Đức Phó Giám đốc Sở Thông tin và Truyền thông"
        );
    }

    #[test]
    fn auto_size_prefers_whole_words_and_stays_within_bounds() {
        let (font, paragraphs, space) = text(&["Đức", "Phó Giám đốc"]);
        let big = Rect {
            x: 0.0,
            y: 0.0,
            w: 500.0,
            h: 500.0,
        };
        assert_eq!(
            fit(&paragraphs, space, big, 0.0, font.vmetrics())
                .unwrap()
                .size,
            MAX_AUTO_SIZE
        );
        let narrow = Rect {
            x: 0.0,
            y: 0.0,
            w: 40.0,
            h: 200.0,
        };
        let block = fit(&paragraphs, space, narrow, 0.0, font.vmetrics()).unwrap();
        // "Giám" must stay whole: the size shrinks until every word fits on a line.
        assert!(
            block.lines.iter().any(|l| line_text(l).contains("Giám")),
            "{block:?}"
        );
    }

    #[test]
    fn one_very_long_word_is_cut_when_nothing_else_fits() {
        let (font, paragraphs, space) = text(&["Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]);
        let area = Rect {
            x: 0.0,
            y: 0.0,
            w: 30.0,
            h: 60.0,
        };
        let block = fit(&paragraphs, space, area, 0.0, font.vmetrics()).unwrap();
        assert!(block.lines.len() > 1);
        let joined: String = block.lines.iter().map(|l| line_text(l)).collect();
        assert_eq!(joined.chars().count(), 40);
    }

    #[test]
    fn too_small_boxes_are_refused() {
        let (font, paragraphs, space) = text(&["Nguyễn Văn Đức", "Phó Giám đốc"]);
        let tiny = Rect {
            x: 0.0,
            y: 0.0,
            w: 20.0,
            h: 5.0,
        };
        let err = fit(&paragraphs, space, tiny, 0.0, font.vmetrics())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("too small"), "{err}");
        let small = Rect {
            x: 0.0,
            y: 0.0,
            w: 200.0,
            h: 20.0,
        };
        let err = fit(&paragraphs, space, small, 12.0, font.vmetrics())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("does not fit") && err.contains("at 12 pt"),
            "{err}"
        );
    }
}
