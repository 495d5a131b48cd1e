//! What parsing a whole file eagerly would cost: an estimate made in one bounded pass, before a
//! file is handed to a reader that materialises every object (lopdf, used by verification and
//! for repairing damaged uploads).
//!
//! An eager parser keeps every stream's bytes and one tree node per token. A hostile file of
//! small tokens (one array of 52 million integers in 104 MB) costs such a parser about 110 bytes
//! a token, 58 times the file; a file of a few large images costs about its own size. The pass
//! counts tokens outside stream data, skips stream data to its `endstream`, and inflates object
//! streams (whose objects the eager parser does parse) to count their tokens too, within
//! [`MAX_INFLATED`] bytes in all. Memory: one window of the file at a time.

use std::io::Read;

use super::source::Source;

/// Bytes an eager parser spends per token, measured on lopdf 0.47 (peak, with its vectors'
/// growth): a safe over-estimate for dictionaries and arrays of small values.
pub const BYTES_PER_TOKEN: u64 = 120;
/// Most bytes inflated from object streams while estimating; beyond it the file is "too costly".
const MAX_INFLATED: u64 = 256 << 20;
/// Bytes read from the file at a time.
const WINDOW: usize = 1 << 20;

/// The estimate for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Tokens outside stream data, object streams' contents included.
    pub tokens: u64,
    /// Bytes of stream data (kept as they are by an eager parser).
    pub stream_bytes: u64,
    /// Whether the object streams held more than the pass inflates: the estimate is a floor.
    pub capped: bool,
}

impl Cost {
    /// Estimated peak memory of an eager parse, in bytes.
    pub fn bytes(&self) -> u64 {
        if self.capped {
            return u64::MAX;
        }
        self.tokens
            .saturating_mul(BYTES_PER_TOKEN)
            .saturating_add(self.stream_bytes)
    }
}

/// What the scanner is inside of.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Between,
    Comment,
    /// A literal string: its parenthesis depth, and whether the last byte was a backslash.
    Literal {
        depth: u32,
        escaped: bool,
    },
    Hex,
    /// A regular token (a number, keyword or name); its first bytes are kept.
    Token,
}

/// Tokenises as the bytes go by (strings and comments understood, so a `stream` inside a
/// string is not taken for the keyword); a token may span two windows.
#[derive(Default)]
struct Scanner {
    tokens: u64,
    state: State,
    /// The first bytes of the current regular token (enough to tell `stream` and `obj`).
    word: Vec<u8>,
    /// A name `/ObjStm` was seen since the last `obj`.
    objstm: bool,
}

/// What one call to [`Scanner::feed`] found.
enum Fed {
    /// All bytes consumed.
    All,
    /// The keyword `stream` ended just before this index; `bool` is whether the object is an
    /// object stream.
    Stream(usize, bool),
}

/// The state after byte `b` inside a literal string nested `depth` deep.
fn literal_step(depth: u32, escaped: bool, b: u8) -> State {
    match (escaped, b) {
        (true, _) => State::Literal {
            depth,
            escaped: false,
        },
        (false, b'\\') => State::Literal {
            depth,
            escaped: true,
        },
        (false, b'(') => State::Literal {
            depth: depth + 1,
            escaped: false,
        },
        (false, b')') if depth == 0 => State::Between,
        (false, b')') => State::Literal {
            depth: depth - 1,
            escaped: false,
        },
        _ => State::Literal {
            depth,
            escaped: false,
        },
    }
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) -> Fed {
        for (i, &b) in bytes.iter().enumerate() {
            match self.state {
                State::Comment => {
                    if b == b'\n' || b == b'\r' {
                        self.state = State::Between;
                    }
                    continue;
                }
                State::Literal { depth, escaped } => {
                    self.state = literal_step(depth, escaped, b);
                    continue;
                }
                State::Hex => {
                    if b == b'>' {
                        self.state = State::Between;
                    }
                    continue;
                }
                State::Token if is_regular(b) => {
                    if self.word.len() < 16 {
                        self.word.push(b);
                    }
                    continue;
                }
                State::Token => {
                    if let Some(found) = self.end_word() {
                        self.state = State::Between;
                        if found {
                            let objstm = std::mem::take(&mut self.objstm);
                            return Fed::Stream(i, objstm);
                        }
                    }
                }
                State::Between => {}
            }
            self.state = State::Between;
            self.start_token(bytes, i, b);
        }
        Fed::All
    }

    /// Between tokens: counts the token `b` (at `bytes[i]`) starts and enters its state.
    fn start_token(&mut self, bytes: &[u8], i: usize, b: u8) {
        match b {
            b'%' => self.state = State::Comment,
            b'(' => {
                self.tokens += 1;
                self.state = State::Literal {
                    depth: 0,
                    escaped: false,
                };
            }
            b'<' => {
                // `<<` counts once per `<`: an over-estimate by design.
                self.tokens += 1;
                if bytes.get(i + 1).is_some_and(|&n| n != b'<') && i > 0 && bytes[i - 1] != b'<' {
                    self.state = State::Hex;
                }
            }
            b'[' | b']' | b'>' | b')' | b'{' | b'}' => self.tokens += 1,
            b'/' => {
                self.tokens += 1;
                self.word.clear();
                self.word.push(b'/');
                self.state = State::Token;
            }
            _ if is_regular(b) => {
                self.tokens += 1;
                self.word.clear();
                self.word.push(b);
                self.state = State::Token;
            }
            _ => {}
        }
    }

    /// Ends the current regular token; Some(true) when it was the keyword `stream`.
    fn end_word(&mut self) -> Option<bool> {
        let w = std::mem::take(&mut self.word);
        match w.as_slice() {
            b"stream" => Some(true),
            b"obj" | b"endobj" => {
                self.objstm = false;
                Some(false)
            }
            b"/ObjStm" => {
                self.objstm = true;
                Some(false)
            }
            _ => Some(false),
        }
    }
}

fn is_regular(b: u8) -> bool {
    !matches!(
        b,
        b' ' | b'\n'
            | b'\r'
            | b'\t'
            | b'\x0c'
            | b'\0'
            | b'('
            | b')'
            | b'<'
            | b'>'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'/'
            | b'%'
    )
}

/// Estimates the cost of parsing `src` eagerly.
pub fn estimate(src: &dyn Source) -> std::io::Result<Cost> {
    let len = src.len();
    let mut scanner = Scanner::default();
    let mut cost = Cost {
        tokens: 0,
        stream_bytes: 0,
        capped: false,
    };
    let mut inflated = 0u64;
    let mut pos = 0u64;
    while pos < len {
        let buf = src.window(pos, WINDOW)?;
        if buf.is_empty() {
            break;
        }
        match scanner.feed(&buf) {
            Fed::All => pos += buf.len() as u64,
            Fed::Stream(at, objstm) => {
                // Stream data runs to the next `endstream`.
                let data_start = pos + at as u64;
                let end = find_from(src, data_start, b"endstream")?.unwrap_or(len);
                cost.stream_bytes += end - data_start;
                if objstm {
                    match inflate_count(src, data_start, end, MAX_INFLATED - inflated)? {
                        Some((tokens, n)) => {
                            cost.tokens += tokens;
                            inflated += n;
                        }
                        None => cost.capped = true,
                    }
                }
                pos = end + b"endstream".len() as u64;
                scanner.tokens += 1;
            }
        }
    }
    // A token cut off by the end of the file still counts once (it was counted at its start).
    cost.tokens += scanner.tokens;
    Ok(cost)
}

/// Inflates `start..end` (an object stream's data) and counts its tokens; None when it holds
/// more than `budget` bytes. Data that does not inflate is counted as far as it inflated.
fn inflate_count(
    src: &dyn Source,
    start: u64,
    end: u64,
    budget: u64,
) -> std::io::Result<Option<(u64, u64)>> {
    // Skip the end of line after `stream`.
    let mut start = start;
    let eol = src.window(start, 2)?;
    if eol.first() == Some(&b'\r') {
        start += 1;
    }
    if src.window(start, 1)?.first() == Some(&b'\n') {
        start += 1;
    }
    let reader = SourceReader {
        src,
        pos: start,
        end,
    };
    let mut dec = flate2::read::ZlibDecoder::new(reader).take(budget.saturating_add(1));
    let mut scanner = Scanner::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                total += n as u64;
                if total > budget {
                    return Ok(None);
                }
                // Object streams hold no streams; a `stream` token is just counted.
                let mut rest = &buf[..n];
                while let Fed::Stream(at, _) = scanner.feed(rest) {
                    rest = &rest[at..];
                }
            }
            // Not flate data (or damaged): what inflated so far is what the parser would see.
            Err(_) => break,
        }
    }
    Ok(Some((scanner.tokens, total)))
}

/// A range of a [`Source`] as a reader.
struct SourceReader<'a> {
    src: &'a dyn Source,
    pos: u64,
    end: u64,
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from(self.end.saturating_sub(self.pos))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        self.src.read_exact_at(self.pos, &mut buf[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// Offset of the first `needle` at or after `from`, reading window by window.
fn find_from(src: &dyn Source, from: u64, needle: &[u8]) -> std::io::Result<Option<u64>> {
    let mut pos = from;
    let len = src.len();
    while pos < len {
        let buf = src.window(pos, WINDOW)?;
        if let Some(i) = find(&buf, needle) {
            return Ok(Some(pos + i as u64));
        }
        if buf.len() < needle.len() || pos + buf.len() as u64 >= len {
            return Ok(None);
        }
        pos += (buf.len() - needle.len() + 1) as u64;
    }
    Ok(None)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::super::source::MemSource;
    use super::*;
    use std::io::Write;

    #[test]
    fn small_tokens_cost_more_than_stream_data() {
        let mut ints = b"%PDF-1.7\n1 0 obj\n[".to_vec();
        ints.extend(b"1 ".repeat(100_000));
        ints.extend(b"]\nendobj\n");
        let c = estimate(&MemSource(&ints)).unwrap();
        assert!(c.tokens >= 100_000 && c.tokens < 100_020, "{c:?}");
        assert_eq!(c.stream_bytes, 0);

        let mut image = b"%PDF-1.7\n1 0 obj\n<< /Length 200000 >>\nstream\n".to_vec();
        image.extend(std::iter::repeat_n(b'1', 100_000));
        image.extend(std::iter::repeat_n(b' ', 100_000));
        image.extend(b"\nendstream\nendobj\n");
        let c = estimate(&MemSource(&image)).unwrap();
        assert!(c.tokens < 20, "stream data is not tokens: {c:?}");
        assert!(
            c.stream_bytes >= 200_000 && c.stream_bytes < 200_010,
            "{c:?}"
        );
    }

    #[test]
    fn a_stream_keyword_inside_a_string_or_comment_skips_nothing() {
        let mut pdf = b"%PDF-1.7\n1 0 obj\n[(a \\) stream) % stream\n".to_vec();
        pdf.extend(b"1 ".repeat(10_000));
        pdf.extend(b"]\nendobj\n% endstream\n");
        let c = estimate(&MemSource(&pdf)).unwrap();
        assert!(c.tokens >= 10_000, "{c:?}");
        assert_eq!(c.stream_bytes, 0, "{c:?}");
    }

    #[test]
    fn object_streams_are_inflated_and_counted() {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&b"1 ".repeat(500_000)).unwrap();
        let data = enc.finish().unwrap();
        let mut pdf = format!(
            "%PDF-1.7\n1 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length {} >>\nstream\n",
            data.len()
        )
        .into_bytes();
        pdf.extend(&data);
        pdf.extend(b"\nendstream\nendobj\n");
        let c = estimate(&MemSource(&pdf)).unwrap();
        assert!(c.tokens >= 500_000, "{c:?}");
        assert!(!c.capped);
        assert!(c.bytes() > 500_000 * BYTES_PER_TOKEN);
    }
}
