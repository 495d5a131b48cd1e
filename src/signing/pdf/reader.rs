//! Reads single objects through the cross-reference, on demand: the file is never parsed whole.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::lexer::{Indirect, Kind, Lexer, ParseError};
pub use super::object::Node;
use super::object::{read_indirect_at, read_stream};
use super::source::Source;
use super::xref::{self, Xref, XrefEntry};
use crate::signing::SigningError;

/// Most decoded object-stream bytes kept at once: a file of many large object streams is read
/// in bounded memory (streams are decoded again when needed after the cache is emptied).
const MAX_CACHED: usize = 64 << 20;

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

struct ObjStm {
    data: Rc<[u8]>,
    /// (object number, start offset in data) by index.
    offsets: Vec<(u32, usize)>,
}

/// An object as written: its value, and a stream's still-encoded bytes.
pub type RawObject = (Node, Option<Vec<u8>>);

/// Object access for one input file.
pub struct Reader<'s> {
    src: &'s dyn Source,
    pub xref: Xref,
    objstms: HashMap<u32, Rc<ObjStm>>,
    /// Decoded bytes held by `objstms`.
    cached: usize,
    loading: HashSet<u32>,
    /// Object-stream bytes decoded so far, cache misses included: lets a caller that reads
    /// every object bound the work a file of decompression bombs can cause.
    pub decoded: u64,
    /// Finds an object stream's member by its number when the index is wrong (a repair);
    /// off for signing, which refuses such files.
    pub lenient: bool,
}

impl<'s> Reader<'s> {
    /// Checks the header and loads the cross-reference.
    pub fn open(src: &'s dyn Source) -> Result<Self, SigningError> {
        let head = src.window(0, 1024)?;
        let at = head
            .windows(5)
            .position(|w| w == b"%PDF-")
            .ok_or_else(|| SigningError::NotPdf("no %PDF- header".into()))?;
        let ver = head.get(at + 5..at + 8).unwrap_or(&[]);
        if ver.len() < 3 || !ver[0].is_ascii_digit() || ver[1] != b'.' || !ver[2].is_ascii_digit() {
            return Err(SigningError::NotPdf(
                "the %PDF- header has no version number".into(),
            ));
        }
        let xref = xref::load(src)?;
        Ok(Self::with_xref(src, xref))
    }

    /// Reads `src` through a cross-reference found some other way (a repair), without
    /// checking the header.
    pub fn with_xref(src: &'s dyn Source, xref: Xref) -> Self {
        Reader {
            src,
            xref,
            objstms: HashMap::new(),
            cached: 0,
            loading: HashSet::new(),
            decoded: 0,
            lenient: false,
        }
    }

    /// The source being read.
    pub fn source(&self) -> &'s dyn Source {
        self.src
    }

    /// The generation an update must use when it rewrites object `num`.
    pub fn generation(&self, num: u32) -> u16 {
        match self.xref.entries.get(&num) {
            Some(XrefEntry::InFile { gen, .. }) => *gen,
            _ => 0,
        }
    }

    /// Object `num gen`, or None when it is free or absent (a null reference).
    pub fn get(&mut self, num: u32, gen: u16) -> Result<Option<Node>, SigningError> {
        match self.xref.entries.get(&num).copied() {
            None | Some(XrefEntry::Free) => Ok(None),
            Some(XrefEntry::InFile { offset, gen: g }) => {
                if g != gen {
                    return Ok(None);
                }
                let (ind, buf, _) = self.read_at(offset, num, gen)?;
                Ok(Some(Node::new(buf, ind.value, Some((num, gen)))))
            }
            Some(XrefEntry::InStream { stream, index }) => {
                if gen != 0 {
                    return Ok(None);
                }
                let stm = self.objstm(stream)?;
                let at = stm.offsets.get(index as usize).copied();
                // Lenient: an index the stream does not have, or that holds another object,
                // is looked up by the object's number (as qpdf and poppler do).
                let at = match at {
                    Some((n, _)) if n != num && self.lenient => None,
                    other => other,
                }
                .or_else(|| {
                    self.lenient
                        .then(|| stm.offsets.iter().find(|(n, _)| *n == num).copied())
                        .flatten()
                });
                let (n, start) = at.ok_or_else(|| {
                    damaged(format!("object stream {stream} has no index {index}"))
                })?;
                if n != num {
                    return Err(damaged(format!(
                        "object stream {stream} holds object {n} where the xref expects {num}"
                    )));
                }
                let mut lx = Lexer::new(&stm.data, start);
                let value = match lx.value() {
                    Ok(v) => v,
                    Err(ParseError::Eof) => {
                        return Err(damaged(format!("object {num} is truncated in its stream")))
                    }
                    Err(ParseError::Syntax(m)) => {
                        return Err(damaged(format!("object {num} in stream {stream}: {m}")))
                    }
                };
                Ok(Some(Node::new(stm.data.clone(), value, Some((num, 0)))))
            }
        }
    }

    fn read_at(
        &mut self,
        offset: u64,
        num: u32,
        gen: u16,
    ) -> Result<(Indirect, Rc<[u8]>, u64), SigningError> {
        let (ind, buf, base) = read_indirect_at(self.src, offset)?;
        if (ind.num, ind.gen) != (num, gen) {
            return Err(damaged(format!(
                "the xref entry of object {num} {gen} points to object {} {}",
                ind.num, ind.gen
            )));
        }
        Ok((ind, buf, base))
    }

    /// The decoded data of stream object `num gen` (streams are never inside object streams);
    /// None when the object is free or absent.
    pub fn stream_data(&mut self, num: u32, gen: u16) -> Result<Option<Vec<u8>>, SigningError> {
        let Some(XrefEntry::InFile { offset, gen: g }) = self.xref.entries.get(&num).copied()
        else {
            return Ok(None);
        };
        if g != gen {
            return Ok(None);
        }
        let (ind, buf, base) = self.read_at(offset, num, gen)?;
        let node = Node::new(buf, ind.value.clone(), Some((num, gen)));
        let len = match self.get_key(&node, b"Length")? {
            Some(l) => l.value.as_int(),
            None => None,
        }
        .ok_or_else(|| damaged(format!("stream {num} has no /Length")))?;
        read_stream(self.src, &ind, base, len).map(Some)
    }

    /// Object `num gen` as written, for copying: its value and, for a stream, the stream's
    /// bytes still encoded. A stream whose `/Length` is wrong (a damaged file) ends at the
    /// first `endstream` after its data starts, as lenient readers take it.
    pub fn get_raw(&mut self, num: u32, gen: u16) -> Result<Option<RawObject>, SigningError> {
        let Some(XrefEntry::InFile { offset, gen: g }) = self.xref.entries.get(&num).copied()
        else {
            return Ok(self.get(num, gen)?.map(|n| (n, None)));
        };
        if g != gen {
            return Ok(None);
        }
        let (ind, buf, base) = self.read_at(offset, num, gen)?;
        let node = Node::new(buf, ind.value.clone(), Some((num, gen)));
        let Some(start) = ind.stream_start else {
            return Ok(Some((node, None)));
        };
        let len = match node.get(b"Length") {
            Some(l) => self.resolve(&l)?.and_then(|l| l.value.as_int()),
            None => None,
        };
        let data = raw_stream(self.src, base + start as u64, len)?;
        Ok(Some((node, Some(data))))
    }

    /// Follows a reference (if any) and treats null as absent.
    pub fn resolve(&mut self, node: &Node) -> Result<Option<Node>, SigningError> {
        match node.value.kind {
            Kind::Ref(n, g) => {
                let r = self.get(n, g)?;
                Ok(r.filter(|x| !x.value.is_null()))
            }
            Kind::Null => Ok(None),
            _ => Ok(Some(node.clone())),
        }
    }

    /// `dict[key]`, resolved.
    pub fn get_key(&mut self, node: &Node, key: &[u8]) -> Result<Option<Node>, SigningError> {
        match node.get(key) {
            Some(v) => self.resolve(&v),
            None => Ok(None),
        }
    }

    fn objstm(&mut self, num: u32) -> Result<Rc<ObjStm>, SigningError> {
        if let Some(s) = self.objstms.get(&num) {
            return Ok(s.clone());
        }
        let Some(XrefEntry::InFile { offset, gen }) = self.xref.entries.get(&num).copied() else {
            return Err(damaged(format!(
                "object stream {num} is itself compressed or missing"
            )));
        };
        if !self.loading.insert(num) {
            return Err(damaged(format!("object stream {num} depends on itself")));
        }
        let r = self.load_objstm(num, offset, gen);
        self.loading.remove(&num);
        let stm = Rc::new(r?);
        if self.cached + stm.data.len() > MAX_CACHED {
            self.objstms.clear();
            self.cached = 0;
        }
        self.cached += stm.data.len();
        self.objstms.insert(num, stm.clone());
        Ok(stm)
    }

    fn load_objstm(&mut self, num: u32, offset: u64, gen: u16) -> Result<ObjStm, SigningError> {
        let (ind, buf, base) = self.read_at(offset, num, gen)?;
        let node = Node::new(buf, ind.value.clone(), Some((num, gen)));
        if node
            .get(b"Type")
            .and_then(|t| t.value.as_name().map(<[u8]>::to_vec))
            != Some(b"ObjStm".to_vec())
        {
            return Err(damaged(format!("object {num} is not an object stream")));
        }
        let len = match self.get_key(&node, b"Length")? {
            Some(l) => l.value.as_int(),
            None => None,
        }
        .ok_or_else(|| damaged(format!("object stream {num} has no /Length")))?;
        let mut data = read_stream(self.src, &ind, base, len)?;
        self.decoded = self.decoded.saturating_add(data.len() as u64);
        // A trailing space ends a last token that touches the end of the data.
        data.push(b' ');
        let data: Rc<[u8]> = Rc::from(data);
        let int = |k: &[u8]| {
            node.get(k)
                .and_then(|v| v.value.as_int())
                .and_then(|i| usize::try_from(i).ok())
        };
        let (n, first) = match (int(b"N"), int(b"First")) {
            (Some(n), Some(f)) if f <= data.len() && n <= data.len() => (n, f),
            _ => {
                return Err(damaged(format!(
                    "object stream {num} has a bad /N or /First"
                )))
            }
        };
        let mut head = data[..first].to_vec();
        head.push(b' ');
        let mut lx = Lexer::new(&head, 0);
        let mut offsets = Vec::with_capacity(n);
        for _ in 0..n {
            let pair = (lx.uint(), lx.uint());
            let (Ok(o), Ok(off)) = pair else {
                return Err(damaged(format!("object stream {num} has a bad header")));
            };
            let start = usize::try_from(off)
                .ok()
                .and_then(|o| o.checked_add(first))
                .filter(|&s| s < data.len())
                .ok_or_else(|| damaged(format!("object stream {num} has a bad offset")))?;
            let o = u32::try_from(o)
                .map_err(|_| damaged(format!("object stream {num} has a bad number")))?;
            offsets.push((o, start));
        }
        Ok(ObjStm { data, offsets })
    }
}

/// Most bytes one copied stream may hold: the reader's own decode cap times four, for
/// images and fonts stored uncompressed.
const MAX_RAW_STREAM: u64 = 4 * super::filters::MAX_DECODED;

/// The encoded bytes of a stream starting at `data_at`: `len` of them when `endstream`
/// follows there, else up to the next `endstream` (its end-of-line not counted).
fn raw_stream(src: &dyn Source, data_at: u64, len: Option<i64>) -> Result<Vec<u8>, SigningError> {
    if let Some(len) = len.and_then(|l| u64::try_from(l).ok()) {
        if len <= MAX_RAW_STREAM && data_at.saturating_add(len) <= src.len() {
            let after = src.window(data_at + len, 32)?;
            let mut lx = Lexer::new(&after, 0);
            lx.skip_ws();
            if after[lx.pos..].starts_with(b"endstream") {
                let mut data = vec![0u8; len as usize];
                src.read_exact_at(data_at, &mut data)?;
                return Ok(data);
            }
        }
    }
    const CHUNK: usize = 1 << 20;
    let mut at = data_at;
    let mut data = Vec::new();
    loop {
        let chunk = src.window(at, CHUNK + 9)?;
        if let Some(i) = chunk.windows(9).position(|w| w == b"endstream") {
            data.extend_from_slice(&chunk[..i]);
            break;
        }
        if chunk.len() < CHUNK + 9 {
            return Err(damaged(format!(
                "the stream at offset {data_at} has no endstream"
            )));
        }
        data.extend_from_slice(&chunk[..CHUNK]);
        at += CHUNK as u64;
        if data.len() as u64 > MAX_RAW_STREAM {
            return Err(SigningError::TooComplex(format!(
                "the stream at offset {data_at} is larger than {} MB",
                MAX_RAW_STREAM >> 20
            )));
        }
    }
    // The end-of-line before `endstream` is not data (ISO 32000-1, 7.3.8.1).
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    } else if data.ends_with(b"\n") || data.ends_with(b"\r") {
        data.truncate(data.len() - 1);
    }
    Ok(data)
}
