//! Checks done on the raw bytes of the file, never on a parsed or repaired view of it:
//! revision boundaries, the /ByteRange layout and the /Contents hex string.

/// Where a revision of the file ends: just after `%%EOF`, or after the end-of-line that follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RevisionEnd {
    pub eof: usize,
    pub eol: usize,
}

/// Every `%%EOF` marker in the file, in order.
pub(crate) fn revision_ends(data: &[u8]) -> Vec<RevisionEnd> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = find(&data[from..], b"%%EOF") {
        let eof = from + pos + 5;
        let eol = match &data[eof..] {
            [b'\r', b'\n', ..] => eof + 2,
            [b'\r', ..] | [b'\n', ..] => eof + 1,
            _ => eof,
        };
        out.push(RevisionEnd { eof, eol });
        from = eof;
    }
    out
}

/// Index of the revision ending exactly at `end`, if any (0-based): just after `%%EOF`, after
/// its end-of-line, or between the CR and LF of a CR LF (a revision written ending in CR, to
/// which a later update added a LF; pyHanko accepts that range too).
pub(crate) fn revision_at(ends: &[RevisionEnd], end: usize) -> Option<usize> {
    ends.iter()
        .position(|r| r.eof == end || r.eol == end || (r.eol == r.eof + 2 && end == r.eof + 1))
}

/// First occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    // Scanning for the first byte keeps this fast on 100 MB files even in debug builds.
    while let Some(p) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + p;
        if hay.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The validated layout of one signature's /ByteRange.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// End of the first signed range (= start of the /Contents hex string).
    pub gap_start: usize,
    /// Start of the second signed range (just after the /Contents hex string).
    pub gap_end: usize,
    /// End of the second signed range: where the signed revision ends.
    pub end: usize,
    /// The decoded /Contents bytes (the CMS, usually followed by zero padding).
    pub contents: Vec<u8>,
}

impl Layout {
    /// The two signed byte ranges.
    pub fn ranges<'a>(&self, data: &'a [u8]) -> [&'a [u8]; 2] {
        [&data[..self.gap_start], &data[self.gap_end..self.end]]
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

/// Checks a /ByteRange against the raw file: it starts at 0, has two ordered, non-overlapping
/// ranges inside the file, and its gap is exactly a `/Contents <hex>` string that lies inside
/// the signature dictionary's object (`container`, a byte span).
pub(crate) fn check_layout(
    data: &[u8],
    byte_range: &[i64],
    container: Option<(usize, usize)>,
) -> Result<Layout, String> {
    let [start, len1, start2, len2] = match byte_range {
        [a, b, c, d] => [*a, *b, *c, *d],
        _ => {
            return Err(format!(
                "/ByteRange has {} numbers, not 4",
                byte_range.len()
            ))
        }
    };
    if [start, len1, start2, len2].iter().any(|v| *v < 0) {
        return Err("/ByteRange has a negative number".into());
    }
    if start != 0 {
        return Err(format!("/ByteRange starts at {start}, not 0"));
    }
    let to_usize =
        |v: i64| usize::try_from(v).map_err(|_| "/ByteRange number too large".to_string());
    let (gap_start, gap_end, len2) = (to_usize(len1)?, to_usize(start2)?, to_usize(len2)?);
    if gap_end <= gap_start {
        return Err(format!(
            "/ByteRange ranges overlap or are out of order ({gap_start} >= {gap_end})"
        ));
    }
    let end = gap_end
        .checked_add(len2)
        .filter(|e| *e <= data.len())
        .ok_or_else(|| "/ByteRange extends beyond the end of the file".to_string())?;
    let gap = &data[gap_start..gap_end];
    let hex_ok = gap.len() >= 2
        && gap[0] == b'<'
        && gap[gap.len() - 1] == b'>'
        && gap[1..gap.len() - 1]
            .iter()
            .all(|b| b.is_ascii_hexdigit() || is_ws(*b));
    if !hex_ok {
        return Err("the gap in /ByteRange is not exactly the /Contents hex string".into());
    }
    let key_end = data[..gap_start]
        .iter()
        .rposition(|b| !is_ws(*b))
        .map(|p| p + 1)
        .unwrap_or(0);
    if !data[..key_end].ends_with(b"/Contents") {
        return Err("the gap in /ByteRange is not preceded by the /Contents key".into());
    }
    match container {
        Some((from, to)) if from <= key_end && gap_end <= to => {}
        Some(_) => {
            return Err(
                "the gap in /ByteRange lies outside the signature dictionary's object".into(),
            )
        }
        None => {
            return Err(
                "the signature dictionary is not a plain object in the file (object stream?)"
                    .into(),
            )
        }
    }
    Ok(Layout {
        gap_start,
        gap_end,
        end,
        contents: decode_hex(&gap[1..gap.len() - 1]),
    })
}

/// Decodes hex digits, skipping whitespace; an odd final digit is padded with 0 (ISO 32000).
pub(crate) fn decode_hex(hex: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = hex
        .iter()
        .filter_map(|b| char::from(*b).to_digit(16))
        .filter_map(|d| u8::try_from(d).ok())
        .collect();
    digits
        .chunks(2)
        .map(|c| (c[0] << 4) | c.get(1).copied().unwrap_or(0))
        .collect()
}

/// Every `/ByteRange [a b c d]` written in plain (uncompressed) bytes, with its position: a
/// safety net for signature dictionaries the object parser could not reach.
pub(crate) fn plain_byte_ranges(data: &[u8]) -> Vec<(usize, Vec<i64>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = find(&data[from..], b"/ByteRange") {
        let at = from + p;
        from = at + 10;
        let rest = &data[from..data.len().min(from + 120)];
        let Some(open) = rest.iter().position(|b| !is_ws(*b)) else {
            continue;
        };
        if rest[open] != b'[' {
            continue;
        }
        let Some(close) = rest.iter().position(|b| *b == b']') else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(&rest[open + 1..close.max(open + 1)]) else {
            continue;
        };
        let nums: Vec<i64> = text
            .split_ascii_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        if nums.len() == 4 && text.split_ascii_whitespace().count() == 4 {
            out.push((at, nums));
        }
    }
    out
}

/// The byte span of the indirect object starting at `offset` (up to and including `endobj`).
pub(crate) fn object_span(data: &[u8], offset: usize) -> Option<(usize, usize)> {
    let rest = data.get(offset..)?;
    let head = &rest[..rest.len().min(40)];
    find(head, b"obj")?;
    let end = find(rest, b"endobj")?;
    Some((offset, offset + end + 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"1 0 obj <</ByteRange [0 30 36 12] /Contents <0aff> >> endobj %%EOF\n";

    #[test]
    fn layout_accepts_exact_gap_and_names_errors() {
        let gap_start = find(FILE, b"<0aff>").unwrap();
        let gap_end = gap_start + 6;
        let len2 = (FILE.len() - gap_end) as i64;
        let br = [0, gap_start as i64, gap_end as i64, len2];
        let span = object_span(FILE, 0);
        let l = check_layout(FILE, &br, span).unwrap();
        assert_eq!(l.contents, vec![0x0a, 0xff]);
        assert_eq!(l.end, FILE.len());
        let mut bad = br;
        bad[0] = 1;
        assert!(check_layout(FILE, &bad, span)
            .unwrap_err()
            .contains("not 0"));
        let mut bad = br;
        bad[1] -= 1;
        assert!(check_layout(FILE, &bad, span)
            .unwrap_err()
            .contains("not exactly"));
        let mut bad = br;
        bad[2] = bad[1] - 1;
        assert!(check_layout(FILE, &bad, span)
            .unwrap_err()
            .contains("overlap"));
        let mut bad = br;
        bad[3] += 100;
        assert!(check_layout(FILE, &bad, span)
            .unwrap_err()
            .contains("beyond"));
        assert!(check_layout(FILE, &br, None).is_err());
    }

    #[test]
    fn revision_ends_accept_eol_variants() {
        let ends = revision_ends(b"a%%EOF\r\nb%%EOF");
        assert_eq!(ends.len(), 2);
        assert_eq!(ends[0], RevisionEnd { eof: 6, eol: 8 });
        assert_eq!(revision_at(&ends, 14), Some(1));
        // A range that ends after the CR of the first revision's CR LF ends that revision…
        assert_eq!(revision_at(&ends, 7), Some(0));
        // …but not one that ends inside the next revision or before %%EOF ends.
        assert_eq!(revision_at(&ends, 9), None);
        assert_eq!(revision_at(&ends, 5), None);
        // With a LF alone there is no byte between: eof + 1 is the eol itself.
        let lf = revision_ends(b"a%%EOF\nb");
        assert_eq!(lf[0], RevisionEnd { eof: 6, eol: 7 });
        assert_eq!(revision_at(&lf, 8), None);
        assert_eq!(decode_hex(b"a b1 c"), vec![0xab, 0x1c]);
        assert_eq!(decode_hex(b"abc"), vec![0xab, 0xc0]);
    }
}
