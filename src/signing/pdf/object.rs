//! One indirect object read from the file: a parsed value with the bytes its spans point into,
//! and the reading of an object or a stream at an offset. Shared by the cross-reference reader
//! (`xref.rs`) and the object reader (`reader.rs`), which build on it and not on each other.

use std::rc::Rc;

use super::filters;
use super::lexer::{parse_indirect, Dict, Indirect, Lexer, ParseError, Value};
use super::source::Source;
use crate::signing::SigningError;

/// Largest single object (dictionary part) read from the file.
const MAX_OBJECT: usize = 32 << 20;

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

/// A value together with the bytes its spans point into.
#[derive(Debug, Clone)]
pub struct Node {
    pub buf: Rc<[u8]>,
    pub value: Value,
    /// Set when this node is a whole indirect object.
    pub id: Option<(u32, u16)>,
}

impl Node {
    /// Wraps a parsed value.
    pub fn new(buf: Rc<[u8]>, value: Value, id: Option<(u32, u16)>) -> Self {
        Node { buf, value, id }
    }
    /// The original bytes of this value.
    pub fn raw(&self) -> &[u8] {
        self.raw_of(&self.value)
    }
    /// The original bytes of a value inside this node.
    pub fn raw_of(&self, v: &Value) -> &[u8] {
        self.buf.get(v.span.clone()).unwrap_or(&[])
    }
    /// The original bytes of a span inside this node.
    pub fn raw_of_span(&self, span: &std::ops::Range<usize>) -> &[u8] {
        self.buf.get(span.clone()).unwrap_or(&[])
    }
    /// A child value sharing this node's bytes.
    pub fn child(&self, v: &Value) -> Node {
        Node::new(self.buf.clone(), v.clone(), None)
    }
    pub fn dict(&self) -> Option<&Dict> {
        self.value.as_dict()
    }
    /// The value of `key` when this node is a dictionary.
    pub fn get(&self, key: &[u8]) -> Option<Node> {
        self.dict()?.get(key).map(|v| self.child(v))
    }
}

/// Parses the indirect object at `offset`, reading a larger window until it fits.
/// Returns the object, its bytes, and the file offset of those bytes.
pub fn read_indirect_at(
    src: &dyn Source,
    offset: u64,
) -> Result<(Indirect, Rc<[u8]>, u64), SigningError> {
    let mut size = 4096usize;
    loop {
        let buf = src.window(offset, size)?;
        let complete = buf.len() as u64 >= src.len().saturating_sub(offset);
        match parse_indirect(&buf, 0) {
            Ok(ind) => return Ok((ind, Rc::from(buf), offset)),
            Err(ParseError::Eof) if !complete && size < MAX_OBJECT => size *= 8,
            Err(ParseError::Eof) => {
                return Err(damaged(format!("object at offset {offset} is truncated")))
            }
            Err(ParseError::Syntax(m)) => {
                return Err(damaged(format!("object at offset {offset}: {m}")))
            }
        }
    }
}

/// Reads and decodes a stream whose /Length is a direct integer.
pub fn read_stream_direct(
    src: &dyn Source,
    ind: &Indirect,
    base: u64,
) -> Result<Vec<u8>, SigningError> {
    let dict = ind
        .value
        .as_dict()
        .ok_or_else(|| damaged("stream without a dictionary"))?;
    let len = dict
        .get(b"Length")
        .and_then(Value::as_int)
        .ok_or_else(|| damaged("stream /Length is not a direct integer"))?;
    read_stream(src, ind, base, len)
}

pub(super) fn read_stream(
    src: &dyn Source,
    ind: &Indirect,
    base: u64,
    len: i64,
) -> Result<Vec<u8>, SigningError> {
    let dict = ind
        .value
        .as_dict()
        .ok_or_else(|| damaged("stream without a dictionary"))?;
    let start = ind
        .stream_start
        .ok_or_else(|| damaged(format!("object {} is not a stream", ind.num)))?;
    let len = u64::try_from(len).map_err(|_| damaged("negative stream /Length"))?;
    let data_at = base + start as u64;
    if len > filters::MAX_DECODED || data_at.saturating_add(len) > src.len() {
        return Err(damaged(format!("stream {} has a bad /Length", ind.num)));
    }
    let mut data = vec![0u8; len as usize];
    src.read_exact_at(data_at, &mut data)?;
    // The stream must end where /Length says: a wrong length means a damaged file.
    let after = src.window(data_at + len, 32)?;
    let mut lx = Lexer::new(&after, 0);
    lx.skip_ws();
    if !after[lx.pos..].starts_with(b"endstream") {
        return Err(damaged(format!(
            "stream {} does not end where its /Length says",
            ind.num
        )));
    }
    filters::decode(dict, data)
}
