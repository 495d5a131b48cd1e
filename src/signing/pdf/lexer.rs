//! A small PDF object parser for the few objects the signer reads.
//!
//! Every value keeps the byte span it was parsed from, so a dictionary that is rewritten in the
//! incremental update copies its other entries token for token (no float round trips). Nesting is
//! bounded by [`MAX_DEPTH`], so hostile inputs cannot overflow the stack.

use std::ops::Range;

/// Deepest array/dictionary nesting accepted; real documents stay far below it.
pub const MAX_DEPTH: usize = 64;

/// Most values one lexer parses (each costs about 56 bytes, ~28 MB in all): bounds the memory a
/// single hostile object (an array of millions of integers) can take, whatever the file's size.
/// Real objects stay far below it (a 10,000-page tree's /Kids, a font's /Widths).
pub const MAX_VALUES: usize = 500_000;

/// Why bytes could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The buffer ended inside a token: a longer window may succeed.
    Eof,
    /// Not valid PDF syntax.
    Syntax(String),
}

pub type ParseResult<T> = Result<T, ParseError>;

fn syntax<T>(what: impl Into<String>) -> ParseResult<T> {
    Err(ParseError::Syntax(what.into()))
}

/// A parsed value and the bytes it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub kind: Kind,
    pub span: Range<usize>,
}

/// The kinds of PDF objects.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    /// A real number; its text stays in the span.
    Real,
    /// A name, `#xx` escapes decoded, without the slash.
    Name(Vec<u8>),
    /// A string, escapes decoded.
    Str(Vec<u8>),
    Array(Vec<Value>),
    Dict(Dict),
    Ref(u32, u16),
}

/// A dictionary, entries in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dict {
    pub entries: Vec<Entry>,
}

/// One dictionary entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Vec<u8>,
    pub key_span: Range<usize>,
    pub value: Value,
}

impl Dict {
    /// The value of `key` (first occurrence).
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }
}

impl Value {
    pub fn as_dict(&self) -> Option<&Dict> {
        match &self.kind {
            Kind::Dict(d) => Some(d),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match &self.kind {
            Kind::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self.kind {
            Kind::Int(i) => Some(i),
            _ => None,
        }
    }
    pub fn as_name(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Name(n) => Some(n),
            _ => None,
        }
    }
    pub fn as_ref(&self) -> Option<(u32, u16)> {
        match self.kind {
            Kind::Ref(n, g) => Some((n, g)),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
}

pub fn is_whitespace(b: u8) -> bool {
    matches!(b, b'\0' | b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

pub fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

/// A cursor over a byte buffer.
pub struct Lexer<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
    /// Values this lexer may still parse (see [`MAX_VALUES`]).
    values_left: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Lexer {
            buf,
            pos,
            values_left: MAX_VALUES,
        }
    }

    fn peek(&self) -> ParseResult<u8> {
        self.buf.get(self.pos).copied().ok_or(ParseError::Eof)
    }

    /// Skips whitespace and comments.
    pub fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if is_whitespace(b) {
                self.pos += 1;
            } else if b == b'%' {
                while let Some(&c) = self.buf.get(self.pos) {
                    if c == b'\r' || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Reads a run of regular characters (a keyword or number), after skipping whitespace.
    pub fn token(&mut self) -> ParseResult<&'a [u8]> {
        self.skip_ws();
        let start = self.pos;
        while let Some(&b) = self.buf.get(self.pos) {
            if !is_regular(b) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            // A token touching the end of the window may continue past it.
            return Err(ParseError::Eof);
        }
        Ok(&self.buf[start..self.pos])
    }

    /// Consumes `kw` as a whole token, or fails.
    pub fn expect_keyword(&mut self, kw: &[u8]) -> ParseResult<()> {
        let t = self.token()?;
        if t == kw {
            Ok(())
        } else {
            syntax(format!(
                "expected `{}`, found `{}`",
                String::from_utf8_lossy(kw),
                String::from_utf8_lossy(&t[..t.len().min(20)])
            ))
        }
    }

    /// Reads an unsigned integer token.
    pub fn uint(&mut self) -> ParseResult<u64> {
        let t = self.token()?;
        parse_uint(t).ok_or_else(|| {
            ParseError::Syntax(format!(
                "expected an integer, found `{}`",
                String::from_utf8_lossy(&t[..t.len().min(20)])
            ))
        })
    }

    /// Reads `N G obj`.
    pub fn indirect_header(&mut self) -> ParseResult<(u32, u16)> {
        let n = self.uint()?;
        let g = self.uint()?;
        self.expect_keyword(b"obj")?;
        match (u32::try_from(n), u16::try_from(g)) {
            (Ok(n), Ok(g)) => Ok((n, g)),
            _ => syntax("object number out of range"),
        }
    }

    /// Parses one value.
    pub fn value(&mut self) -> ParseResult<Value> {
        self.value_at_depth(0)
    }

    fn value_at_depth(&mut self, depth: usize) -> ParseResult<Value> {
        if depth > MAX_DEPTH {
            return syntax("objects nested too deeply");
        }
        self.values_left = match self.values_left.checked_sub(1) {
            Some(n) => n,
            None => return syntax(format!("an object holds more than {MAX_VALUES} values")),
        };
        self.skip_ws();
        let start = self.pos;
        let b = self.peek()?;
        let kind = match b {
            b'/' => {
                self.pos += 1;
                Kind::Name(self.name_body()?)
            }
            b'(' => Kind::Str(self.literal_string()?),
            b'<' => {
                if self.buf.get(self.pos + 1) == Some(&b'<') {
                    self.pos += 2;
                    Kind::Dict(self.dict_body(depth)?)
                } else if self.pos + 1 >= self.buf.len() {
                    return Err(ParseError::Eof);
                } else {
                    Kind::Str(self.hex_string()?)
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    if self.peek()? == b']' {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.value_at_depth(depth + 1)?);
                }
                Kind::Array(items)
            }
            b'+' | b'-' | b'.' | b'0'..=b'9' => self.number_or_ref()?,
            _ if is_regular(b) => {
                let t = self.token()?;
                match t {
                    b"true" => Kind::Bool(true),
                    b"false" => Kind::Bool(false),
                    b"null" => Kind::Null,
                    _ => {
                        return syntax(format!(
                            "unexpected token `{}`",
                            String::from_utf8_lossy(&t[..t.len().min(20)])
                        ))
                    }
                }
            }
            _ => return syntax(format!("unexpected byte 0x{b:02x}")),
        };
        Ok(Value {
            kind,
            span: start..self.pos,
        })
    }

    fn dict_body(&mut self, depth: usize) -> ParseResult<Dict> {
        let mut dict = Dict::default();
        loop {
            self.skip_ws();
            let b = self.peek()?;
            if b == b'>' {
                if self.buf.get(self.pos + 1) == Some(&b'>') {
                    self.pos += 2;
                    return Ok(dict);
                }
                if self.pos + 1 >= self.buf.len() {
                    return Err(ParseError::Eof);
                }
                return syntax("single `>` in a dictionary");
            }
            if b != b'/' {
                return syntax("dictionary key is not a name");
            }
            let key_start = self.pos;
            self.pos += 1;
            let key = self.name_body()?;
            let key_span = key_start..self.pos;
            let value = self.value_at_depth(depth + 1)?;
            dict.entries.push(Entry {
                key,
                key_span,
                value,
            });
        }
    }

    fn name_body(&mut self) -> ParseResult<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(ParseError::Eof);
            };
            if !is_regular(b) {
                return Ok(out);
            }
            if b == b'#' {
                let hex = self
                    .buf
                    .get(self.pos + 1..self.pos + 3)
                    .ok_or(ParseError::Eof)?;
                match (hex_val(hex[0]), hex_val(hex[1])) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        self.pos += 3;
                        continue;
                    }
                    _ => out.push(b),
                }
            } else {
                out.push(b);
            }
            self.pos += 1;
        }
    }

    fn literal_string(&mut self) -> ParseResult<Vec<u8>> {
        // Caller saw '('.
        self.pos += 1;
        let mut out = Vec::new();
        let mut level = 1usize;
        loop {
            let b = self.peek()?;
            self.pos += 1;
            match b {
                b'(' => {
                    level += 1;
                    out.push(b);
                }
                b')' => {
                    level -= 1;
                    if level == 0 {
                        return Ok(out);
                    }
                    out.push(b);
                }
                b'\\' => {
                    let e = self.peek()?;
                    self.pos += 1;
                    match e {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'0'..=b'7' => {
                            let mut v = u32::from(e - b'0');
                            for _ in 0..2 {
                                match self.buf.get(self.pos) {
                                    Some(&d @ b'0'..=b'7') => {
                                        v = v * 8 + u32::from(d - b'0');
                                        self.pos += 1;
                                    }
                                    _ => break,
                                }
                            }
                            out.push((v & 0xff) as u8);
                        }
                        b'\r' => {
                            if self.buf.get(self.pos) == Some(&b'\n') {
                                self.pos += 1;
                            }
                        }
                        b'\n' => {}
                        other => out.push(other),
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn hex_string(&mut self) -> ParseResult<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        let mut high: Option<u8> = None;
        loop {
            let b = self.peek()?;
            self.pos += 1;
            if b == b'>' {
                if let Some(h) = high {
                    out.push(h << 4);
                }
                return Ok(out);
            }
            if is_whitespace(b) {
                continue;
            }
            let Some(v) = hex_val(b) else {
                return syntax("bad character in a hex string");
            };
            match high.take() {
                Some(h) => out.push(h << 4 | v),
                None => high = Some(v),
            }
        }
    }

    fn number_or_ref(&mut self) -> ParseResult<Kind> {
        let t = self.token()?;
        if let Some(n) = parse_uint(t) {
            // `N G R` is a reference; look ahead without committing.
            let save = self.pos;
            if let Ok(g_tok) = self.token() {
                if let Some(g) = parse_uint(g_tok) {
                    if let Ok(r) = self.token() {
                        if r == b"R" {
                            return match (u32::try_from(n), u16::try_from(g)) {
                                (Ok(n), Ok(g)) => Ok(Kind::Ref(n, g)),
                                _ => syntax("reference out of range"),
                            };
                        }
                    }
                }
            } else if self.pos >= self.buf.len() {
                return Err(ParseError::Eof);
            }
            self.pos = save;
            return Ok(i64::try_from(n).map(Kind::Int).unwrap_or(Kind::Real));
        }
        if let Some(rest) = t.strip_prefix(b"-") {
            if let Some(n) = parse_uint(rest) {
                return Ok(i64::try_from(n)
                    .map(|v| Kind::Int(-v))
                    .unwrap_or(Kind::Real));
            }
        }
        if let Some(rest) = t.strip_prefix(b"+") {
            if let Some(n) = parse_uint(rest) {
                return Ok(i64::try_from(n).map(Kind::Int).unwrap_or(Kind::Real));
            }
        }
        let body = t
            .strip_prefix(b"-")
            .or_else(|| t.strip_prefix(b"+"))
            .unwrap_or(t);
        let dots = body.iter().filter(|&&c| c == b'.').count();
        let digits = body.iter().filter(|c| c.is_ascii_digit()).count();
        if dots <= 1 && digits >= 1 && digits + dots == body.len() {
            Ok(Kind::Real)
        } else {
            syntax(format!(
                "bad number `{}`",
                String::from_utf8_lossy(&t[..t.len().min(20)])
            ))
        }
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Parses ASCII digits as an unsigned integer (None on overflow or other bytes).
pub fn parse_uint(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in t {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

/// A parsed indirect object: header, value, and where its stream data starts (if a stream).
#[derive(Debug, Clone)]
pub struct Indirect {
    pub num: u32,
    pub gen: u16,
    pub value: Value,
    /// Offset in the buffer of the first stream byte, after `stream` and its end of line.
    pub stream_start: Option<usize>,
}

/// Parses `N G obj value [stream]` starting at `pos`.
pub fn parse_indirect(buf: &[u8], pos: usize) -> ParseResult<Indirect> {
    let mut lx = Lexer::new(buf, pos);
    let (num, gen) = lx.indirect_header()?;
    let value = lx.value()?;
    lx.skip_ws();
    let mut stream_start = None;
    if value.as_dict().is_some() {
        let rest = buf.get(lx.pos..).unwrap_or(&[]);
        if rest.len() < 8 {
            // Could be "stream\r\n" or "endobj" cut short.
            if b"stream".starts_with(&rest[..rest.len().min(6)]) {
                return Err(ParseError::Eof);
            }
        }
        if rest.starts_with(b"stream") {
            let mut p = lx.pos + 6;
            match buf.get(p) {
                Some(b'\r') => {
                    p += 1;
                    if buf.get(p) == Some(&b'\n') {
                        p += 1;
                    }
                }
                Some(b'\n') => p += 1,
                Some(_) => return syntax("`stream` not followed by an end of line"),
                None => return Err(ParseError::Eof),
            }
            stream_start = Some(p);
        }
    }
    if stream_start.is_none() {
        let t = lx.token();
        match t {
            Ok(b"endobj") => {}
            // Some writers omit endobj before the next object; accept the value as parsed.
            Ok(_) => {}
            Err(ParseError::Eof) if lx.pos >= buf.len() => {
                // `endobj` right at the end of the window may be complete; the value is.
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Indirect {
        num,
        gen,
        value,
        stream_start,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Value {
        let mut buf = s.to_vec();
        buf.push(b' ');
        Lexer::new(&buf, 0).value().unwrap()
    }

    #[test]
    fn parses_nested_values_with_spans() {
        let src = b"<< /A [1 2.5 -3 (a\\)b) <41 4> /N#20x 7 0 R] /B << /C true >> /D null >>";
        let v = parse(src);
        let d = v.as_dict().unwrap();
        let a = d.get(b"A").unwrap().as_array().unwrap();
        assert_eq!(a[0].kind, Kind::Int(1));
        assert_eq!(a[1].kind, Kind::Real);
        assert_eq!(&src[a[1].span.clone()], b"2.5");
        assert_eq!(a[2].kind, Kind::Int(-3));
        assert_eq!(a[3].kind, Kind::Str(b"a)b".to_vec()));
        assert_eq!(a[4].kind, Kind::Str(vec![0x41, 0x40]));
        assert_eq!(a[5].kind, Kind::Name(b"N x".to_vec()));
        assert_eq!(a[6].kind, Kind::Ref(7, 0));
        assert!(d.get(b"D").unwrap().is_null());
        assert_eq!(&src[v.span.clone()], &src[..]);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut s = vec![b'['; 20_000];
        s.push(b' ');
        let r = Lexer::new(&s, 0).value();
        assert!(matches!(r, Err(ParseError::Syntax(_))));
    }

    #[test]
    fn an_object_of_too_many_values_is_an_error() {
        let mut s = b"[".to_vec();
        s.extend(b"1 ".repeat(MAX_VALUES));
        s.extend(b"]  ");
        let r = Lexer::new(&s, 0).value();
        assert!(
            matches!(&r, Err(ParseError::Syntax(m)) if m.contains("more than")),
            "{r:?}"
        );
        // One value fewer (the array itself counts) parses.
        let mut s = b"[".to_vec();
        s.extend(b"1 ".repeat(MAX_VALUES - 1));
        s.extend(b"]  ");
        assert!(Lexer::new(&s, 0).value().is_ok());
    }

    #[test]
    fn truncation_reports_eof() {
        assert_eq!(Lexer::new(b"<< /A 1", 0).value(), Err(ParseError::Eof));
        assert_eq!(Lexer::new(b"(abc", 0).value(), Err(ParseError::Eof));
    }

    #[test]
    fn indirect_with_stream() {
        let s = b"12 0 obj\n<< /Length 3 >>\nstream\r\nabc\nendstream\nendobj\n";
        let o = parse_indirect(s, 0).unwrap();
        assert_eq!((o.num, o.gen), (12, 0));
        assert_eq!(&s[o.stream_start.unwrap()..][..3], b"abc");
    }
}
