//! Writes an incremental update: new and rewritten objects, then an xref of the file's own kind.
//!
//! Rewritten dictionaries copy every untouched entry token for token from the original bytes.

use std::fmt::Write as _;

use super::lexer::Value;
use super::reader::Node;
use super::xref::XrefKind;

/// The bytes appended after the original file.
pub struct Update {
    /// File offset of `buf[0]`.
    base: u64,
    pub buf: Vec<u8>,
    offsets: Vec<(u32, u16, u64)>,
}

impl Update {
    /// Starts an update after `orig_len` bytes; adds a newline when the file does not end in an
    /// end-of-line. A lone CR is one: a LF after it would turn the earlier revision's
    /// `%%EOF CR` into `%%EOF CR LF`, and a signature whose range ends after that CR would no
    /// longer seem to end at the revision's end (pyHanko's signed-twice files end so).
    pub fn new(orig_len: u64, last_byte: Option<u8>) -> Self {
        let mut buf = Vec::with_capacity(8192);
        if !matches!(last_byte, Some(b'\n') | Some(b'\r') | None) {
            buf.push(b'\n');
        }
        Update {
            base: orig_len,
            buf,
            offsets: Vec::new(),
        }
    }

    /// Appends `num gen obj body endobj`; returns the position of `body` in `buf`.
    pub fn object(&mut self, num: u32, gen: u16, body: &[u8]) -> usize {
        self.offsets
            .push((num, gen, self.base + self.buf.len() as u64));
        self.buf
            .extend_from_slice(format!("{num} {gen} obj\n").as_bytes());
        let at = self.buf.len();
        self.buf.extend_from_slice(body);
        self.buf.extend_from_slice(b"\nendobj\n");
        at
    }

    /// Writes the cross-reference section and trailer. `xref_stream_num` must be set for streams.
    pub fn finish(
        mut self,
        kind: XrefKind,
        trailer: &Node,
        prev: u64,
        size: u32,
        xref_stream_num: u32,
    ) -> Vec<u8> {
        let mut keep = String::new();
        for key in [&b"Root"[..], b"Info", b"ID"] {
            if let Some(v) = trailer.get(key) {
                keep.push_str(&format!(
                    " /{} {}",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(v.raw())
                ));
            }
        }
        let xref_at = self.base + self.buf.len() as u64;
        match kind {
            XrefKind::Table => {
                self.offsets.sort_by_key(|e| e.0);
                let mut s = String::from("xref\n");
                for run in runs(&self.offsets) {
                    let _ = writeln!(s, "{} {}", run[0].0, run.len());
                    for (_, gen, off) in run {
                        let _ = writeln!(s, "{off:010} {gen:05} n ");
                    }
                }
                let _ = write!(
                    s,
                    "trailer\n<< /Size {size}{keep} /Prev {prev} >>\nstartxref\n{xref_at}\n%%EOF\n"
                );
                self.buf.extend_from_slice(s.as_bytes());
            }
            XrefKind::Stream => {
                self.offsets.push((xref_stream_num, 0, xref_at));
                self.offsets.sort_by_key(|e| e.0);
                let max_off = self.offsets.iter().map(|e| e.2).max().unwrap_or(0);
                let w2 = (1..=8).find(|&w| max_off < 1u64 << (8 * w)).unwrap_or(8);
                let mut data = Vec::new();
                let mut index = String::new();
                for run in runs(&self.offsets) {
                    let _ = write!(index, "{} {} ", run[0].0, run.len());
                    for (_, gen, off) in run {
                        data.push(1u8);
                        data.extend_from_slice(&off.to_be_bytes()[8 - w2..]);
                        data.extend_from_slice(&gen.to_be_bytes());
                    }
                }
                let dict = format!(
                    "<< /Type /XRef /Size {size} /W [1 {w2} 2] /Index [{}]{keep} /Prev {prev} /Length {} >>\nstream\n",
                    index.trim_end(),
                    data.len()
                );
                self.buf
                    .extend_from_slice(format!("{xref_stream_num} 0 obj\n").as_bytes());
                self.buf.extend_from_slice(dict.as_bytes());
                self.buf.extend_from_slice(&data);
                self.buf.extend_from_slice(
                    format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes(),
                );
            }
        }
        self.buf
    }
}

/// Splits sorted entries into runs of consecutive object numbers.
fn runs(entries: &[(u32, u16, u64)]) -> Vec<&[(u32, u16, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=entries.len() {
        if i == entries.len() || entries[i].0 != entries[i - 1].0 + 1 {
            if start < i {
                out.push(&entries[start..i]);
            }
            start = i;
        }
    }
    out
}

/// A dictionary's bytes with some entries replaced or added; the others copied as they were.
pub fn rewrite_dict(node: &Node, dict: &Value, changes: &[(&[u8], Vec<u8>)]) -> Vec<u8> {
    let mut out = b"<<".to_vec();
    let mut used = vec![false; changes.len()];
    if let Some(d) = dict.as_dict() {
        for e in &d.entries {
            out.push(b' ');
            out.extend_from_slice(node.raw_of_span(&e.key_span));
            out.push(b' ');
            match changes.iter().position(|(k, _)| *k == e.key.as_slice()) {
                Some(i) => {
                    out.extend_from_slice(&changes[i].1);
                    used[i] = true;
                }
                None => out.extend_from_slice(node.raw_of(&e.value)),
            }
        }
    }
    for (i, (k, v)) in changes.iter().enumerate() {
        if !used[i] {
            out.push(b' ');
            out.push(b'/');
            out.extend_from_slice(k);
            out.push(b' ');
            out.extend_from_slice(v);
        }
    }
    out.extend_from_slice(b" >>");
    out
}

/// An array's bytes with `item` appended before the closing bracket.
pub fn append_to_array(raw: &[u8], item: &[u8]) -> Vec<u8> {
    let body = raw.strip_suffix(b"]").unwrap_or(raw);
    let mut out = body.to_vec();
    out.push(b' ');
    out.extend_from_slice(item);
    out.push(b']');
    out
}

/// A PDF text string: a literal for printable ASCII, else UTF-16BE hex with a byte order mark.
pub fn text_string(s: &str) -> Vec<u8> {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out = b"(".to_vec();
        for b in s.bytes() {
            if matches!(b, b'(' | b')' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b')');
        out
    } else {
        let mut out = String::from("<FEFF");
        for u in s.encode_utf16() {
            let _ = write!(out, "{u:04X}");
        }
        out.push('>');
        out.into_bytes()
    }
}

/// A real number for a PDF rectangle: no exponent, trailing zeros trimmed.
pub fn real(v: f64) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::pdf::lexer::Lexer;
    use std::rc::Rc;

    #[test]
    fn rewrite_keeps_other_tokens_exactly() {
        let src = b"<< /MediaBox [0 0 595.303937007874 841.889763779528] /Annots [1 0 R] /X 1 >> ";
        let v = Lexer::new(src, 0).value().unwrap();
        let node = Node::new(Rc::from(&src[..]), v.clone(), None);
        let annots = node.get(b"Annots").unwrap();
        let new = append_to_array(annots.raw(), b"9 0 R");
        let out = rewrite_dict(&node, &v, &[(b"Annots", new), (b"New", b"true".to_vec())]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<< /MediaBox [0 0 595.303937007874 841.889763779528] /Annots [1 0 R 9 0 R] /X 1 /New true >>"
        );
    }

    #[test]
    fn text_strings() {
        assert_eq!(text_string("a(b)"), b"(a\\(b\\))");
        assert_eq!(text_string("Đ"), b"<FEFF0110>");
        assert_eq!(real(12.5), "12.5");
        assert_eq!(real(3.0), "3");
    }

    #[test]
    fn an_update_keeps_the_end_of_line_it_follows() {
        // After CR, LF or nothing, nothing is added; after anything else, one LF.
        for (last, added) in [
            (Some(b'\r'), 0),
            (Some(b'\n'), 0),
            (None, 0),
            (Some(b'F'), 1),
            (Some(b' '), 1),
        ] {
            let u = Update::new(10, last);
            assert_eq!(u.buf.len(), added, "after {last:?}");
        }
    }

    #[test]
    fn runs_split_on_gaps() {
        let e = [(1, 0, 0), (2, 0, 0), (5, 0, 0)];
        let r = runs(&e);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1][0].0, 5);
    }
}
