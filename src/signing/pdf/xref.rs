//! Cross-reference sections: classic tables, xref streams and hybrid files, newest first along /Prev.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::lexer::{parse_uint, Dict, Lexer, ParseError};
use super::object::{read_indirect_at, read_stream_direct, Node};
use super::source::Source;
use crate::signing::SigningError;

/// Most xref sections followed along /Prev (a longer chain is treated as damage).
const MAX_SECTIONS: usize = 4096;
/// Highest object number accepted.
pub const MAX_OBJECTS: u64 = 8_000_000;

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefEntry {
    Free,
    /// Uncompressed, at a byte offset.
    InFile {
        offset: u64,
        gen: u16,
    },
    /// Inside an object stream.
    InStream {
        stream: u32,
        index: u32,
    },
}

/// Kind of the newest cross-reference section, which the update must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XrefKind {
    Table,
    Stream,
}

/// Every object's entry, merged over all sections (the newest wins), sorted by object number:
/// 24 bytes an object (a hash map took about twice that: 50 MB for a file of a million objects).
#[derive(Default)]
pub struct Entries(Vec<(u32, XrefEntry)>);

impl Entries {
    /// Entries already sorted by object number, one per object (a repair's table).
    pub fn from_sorted(mut entries: Vec<(u32, XrefEntry)>) -> Self {
        entries.dedup_by_key(|(n, _)| *n);
        Entries(entries)
    }
    /// The entry of object `num`, if any section lists it.
    pub fn get(&self, num: &u32) -> Option<&XrefEntry> {
        self.0
            .binary_search_by_key(num, |(n, _)| *n)
            .ok()
            .map(|i| &self.0[i].1)
    }
    /// Object numbers listed, ascending.
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.0.iter().map(|(n, _)| n)
    }
    /// How many objects are listed.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether no object is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The merged cross-reference of all revisions.
pub struct Xref {
    pub entries: Entries,
    /// Trailer dictionary of the newest section (the xref stream dictionary for streams).
    pub trailer: Node,
    /// Offset given by the last `startxref`: the update's /Prev.
    pub startxref: u64,
    pub kind: XrefKind,
    /// One past the highest object number in use or declared by /Size.
    pub next_free: u32,
    /// Some table section names an `/XRefStm` (a hybrid-reference file).
    pub hybrid: bool,
}

/// Finds `startxref` in the last 1024 bytes and reads every section.
pub fn load(src: &dyn Source) -> Result<Xref, SigningError> {
    let startxref = find_startxref(src)?;
    let mut walk = Walk::default();
    let mut next = Some(startxref);
    while let Some(offset) = next {
        next = walk.section(src, offset)?;
    }
    walk.finish(startxref)
}

/// The offset the last `startxref` gives.
fn find_startxref(src: &dyn Source) -> Result<u64, SigningError> {
    let len = src.len();
    let tail_start = len.saturating_sub(1024);
    let tail = src.window(tail_start, 1024)?;
    let pos = rfind(&tail, b"startxref")
        .ok_or_else(|| damaged("no `startxref` in the last 1024 bytes"))?;
    let mut lx = Lexer::new(&tail, pos + 9);
    lx.skip_ws();
    let start = lx.pos;
    while lx.pos < tail.len() && tail[lx.pos].is_ascii_digit() {
        lx.pos += 1;
    }
    parse_uint(&tail[start..lx.pos])
        .filter(|&o| o < len)
        .ok_or_else(|| damaged("`startxref` is not an offset inside the file"))
}

/// The sections read so far, newest first; merged (newest wins) once all are read.
#[derive(Default)]
struct Walk {
    entries: Vec<(u32, XrefEntry)>,
    seen: HashSet<u64>,
    newest: Option<(Node, XrefKind)>,
    max_size: u64,
    newer_size: Option<u64>,
    hybrid: bool,
}

impl Walk {
    /// Reads the section at `offset`; returns its /Prev.
    fn section(&mut self, src: &dyn Source, offset: u64) -> Result<Option<u64>, SigningError> {
        let len = src.len();
        if !self.seen.insert(offset) {
            return Err(damaged("the /Prev chain of cross-reference sections loops"));
        }
        if self.seen.len() > MAX_SECTIONS {
            return Err(damaged("too many cross-reference sections"));
        }
        let (trailer, kind, mut section) = read_section(src, offset)?;
        let dict = trailer
            .value
            .as_dict()
            .ok_or_else(|| damaged("trailer is not a dictionary"))?;
        self.check_size(dict)?;
        if kind == XrefKind::Table {
            self.add_xref_stm(src, dict, &mut section)?;
        }
        if section.iter().any(|(num, _)| *num >= MAX_OBJECTS) {
            return Err(damaged(
                "object number out of range in a cross-reference section",
            ));
        }
        if self.entries.is_empty() {
            self.entries = section.into_iter().map(|(n, e)| (n as u32, e)).collect();
        } else {
            self.entries
                .extend(section.into_iter().map(|(n, e)| (n as u32, e)));
        }
        let prev = match dict.get(b"Prev") {
            None => None,
            Some(v) => Some(
                v.as_int()
                    .and_then(|o| u64::try_from(o).ok())
                    .filter(|&o| o < len)
                    .ok_or_else(|| damaged("/Prev is not an offset inside the file"))?,
            ),
        };
        if self.newest.is_none() {
            self.newest = Some((trailer, kind));
        }
        Ok(prev)
    }

    /// Takes the trailer's /Size into account; walking newest to oldest, it may only shrink.
    fn check_size(&mut self, dict: &Dict) -> Result<(), SigningError> {
        if let Some(size) = dict.get(b"Size").and_then(|v| v.as_int()) {
            let size = u64::try_from(size).map_err(|_| damaged("negative trailer /Size"))?;
            // A revision that lowers it contradicts the objects an earlier one declared
            // (ISO 32000-1, 7.5.6).
            if let Some(newer) = self.newer_size {
                if size > newer {
                    return Err(damaged(format!(
                        "trailer /Size decreases from {size} to {newer} in a later revision"
                    )));
                }
            }
            self.newer_size = Some(size);
            self.max_size = self.max_size.max(size);
        }
        Ok(())
    }

    /// Hybrid file: the table's /XRefStm stream adds entries the table leaves out or marks free.
    fn add_xref_stm(
        &mut self,
        src: &dyn Source,
        dict: &Dict,
        section: &mut Section,
    ) -> Result<(), SigningError> {
        let Some(v) = dict.get(b"XRefStm") else {
            return Ok(());
        };
        self.hybrid = true;
        let stm = v
            .as_int()
            .and_then(|o| u64::try_from(o).ok())
            .filter(|&o| o < src.len())
            .ok_or_else(|| damaged("/XRefStm is not an offset inside the file"))?;
        if self.seen.contains(&stm) {
            return Ok(());
        }
        let (_, extra) = read_xref_stream(src, stm)?;
        let in_table: HashMap<u64, XrefEntry> = section.iter().copied().collect();
        for (num, e) in extra {
            if matches!(in_table.get(&num), None | Some(XrefEntry::Free)) {
                section.push((num, e));
            }
        }
        section.sort_by_key(|(_, e)| matches!(e, XrefEntry::Free));
        Ok(())
    }

    /// The merged cross-reference.
    fn finish(self, startxref: u64) -> Result<Xref, SigningError> {
        let (trailer, kind) = self
            .newest
            .ok_or_else(|| damaged("no cross-reference section"))?;
        let mut entries = self.entries;
        // Stable: among entries of one object, the newest section's stays first and is kept.
        entries.sort_by_key(|(n, _)| *n);
        entries.dedup_by_key(|(n, _)| *n);
        entries.shrink_to_fit();
        let entries = Entries(entries);
        let max_num = entries.keys().last().map_or(0, |&n| u64::from(n) + 1);
        let next_free = self.max_size.max(max_num).max(1);
        if next_free > MAX_OBJECTS {
            return Err(damaged("object numbers out of range"));
        }
        Ok(Xref {
            entries,
            trailer,
            startxref,
            kind,
            next_free: next_free as u32,
            hybrid: self.hybrid,
        })
    }
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

type Section = Vec<(u64, XrefEntry)>;

fn read_section(src: &dyn Source, offset: u64) -> Result<(Node, XrefKind, Section), SigningError> {
    let head = src.window(offset, 16)?;
    let mut lx = Lexer::new(&head, 0);
    lx.skip_ws();
    if head[lx.pos..].starts_with(b"xref") {
        let (t, s) = read_table(src, offset)?;
        Ok((t, XrefKind::Table, s))
    } else {
        let (t, s) = read_xref_stream(src, offset)?;
        Ok((t, XrefKind::Stream, s))
    }
}

/// A classic `xref` table and its `trailer`; the window grows until the whole section fits.
fn read_table(src: &dyn Source, offset: u64) -> Result<(Node, Section), SigningError> {
    let mut size = 64 * 1024usize;
    loop {
        let buf = src.window(offset, size)?;
        let complete = buf.len() as u64 >= src.len() - offset;
        let mut local = Vec::new();
        match parse_table(&buf, &mut local) {
            Ok(trailer) => return Ok((trailer, local)),
            // Doubling: the window is at most twice the table (a million entries: 20 MB).
            Err(ParseError::Eof) if !complete && size < (256 << 20) => size *= 2,
            Err(ParseError::Eof) => return Err(damaged("cross-reference table is truncated")),
            Err(ParseError::Syntax(m)) => {
                return Err(damaged(format!("cross-reference table: {m}")))
            }
        }
    }
}

fn parse_table(buf: &[u8], out: &mut Vec<(u64, XrefEntry)>) -> Result<Node, ParseError> {
    let mut lx = Lexer::new(buf, 0);
    lx.expect_keyword(b"xref")?;
    loop {
        lx.skip_ws();
        if buf[lx.pos..].starts_with(b"trailer") {
            lx.pos += 7;
            break;
        }
        let start = lx.uint()?;
        let count = lx.uint()?;
        if start.saturating_add(count) > MAX_OBJECTS {
            return Err(ParseError::Syntax("subsection out of range".into()));
        }
        for i in 0..count {
            let off = lx.uint()?;
            let gen = lx.uint()?;
            let t = lx.token()?;
            let gen = u16::try_from(gen)
                .map_err(|_| ParseError::Syntax("generation out of range".into()))?;
            let e = match t {
                b"n" => XrefEntry::InFile { offset: off, gen },
                b"f" => XrefEntry::Free,
                _ => return Err(ParseError::Syntax("entry type is neither n nor f".into())),
            };
            out.push((start + i, e));
        }
    }
    let value = lx.value()?;
    if value.as_dict().is_none() {
        return Err(ParseError::Syntax("trailer is not a dictionary".into()));
    }
    // The trailer keeps its own bytes, not the window that held the whole table (megabytes for
    // a file of a million objects), for as long as the file is read.
    let mut own = buf[value.span.clone()].to_vec();
    own.push(b' ');
    let value = Lexer::new(&own, 0).value()?;
    Ok(Node::new(Rc::from(own), value, None))
}

/// An xref stream section (also the /XRefStm of a hybrid file).
fn read_xref_stream(src: &dyn Source, offset: u64) -> Result<(Node, Section), SigningError> {
    let (ind, buf, base) = read_indirect_at(src, offset)?;
    let dict: &Dict = ind
        .value
        .as_dict()
        .ok_or_else(|| damaged("cross-reference stream is not a dictionary"))?;
    if dict.get(b"Type").and_then(|v| v.as_name()) != Some(b"XRef") {
        return Err(damaged(
            "`startxref` or /Prev does not point to a cross-reference section",
        ));
    }
    let data = read_stream_direct(src, &ind, base)?;
    let ws = stream_widths(dict)?;
    let index = stream_index(dict)?;
    let out = stream_entries(&data, &ws, &index)?;
    Ok((Node::new(buf, ind.value, Some((ind.num, ind.gen))), out))
}

/// The stream's /W: three field widths of at most 8 bytes, not all 0.
fn stream_widths(dict: &Dict) -> Result<Vec<usize>, SigningError> {
    let ws: Vec<usize> = dict
        .get(b"W")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_int()
                        .and_then(|i| usize::try_from(i).ok())
                        .unwrap_or(99)
                })
                .collect()
        })
        .unwrap_or_default();
    if ws.len() != 3 || ws.iter().any(|&w| w > 8) || ws.iter().sum::<usize>() == 0 {
        return Err(damaged("cross-reference stream has a bad /W"));
    }
    Ok(ws)
}

/// The stream's /Index (pairs of first object and count), by default `[0 /Size]`.
fn stream_index(dict: &Dict) -> Result<Vec<u64>, SigningError> {
    let size = dict
        .get(b"Size")
        .and_then(|v| v.as_int())
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| damaged("cross-reference stream has no /Size"))?;
    match dict.get(b"Index").and_then(|v| v.as_array()) {
        Some(a) => a
            .iter()
            .map(|x| x.as_int().and_then(|i| u64::try_from(i).ok()))
            .collect::<Option<Vec<_>>>()
            .filter(|v| v.len() % 2 == 0)
            .ok_or_else(|| damaged("cross-reference stream has a bad /Index")),
        None => Ok(vec![0, size]),
    }
}

/// Decodes the stream's rows, `ws` bytes per field, for the objects `index` lists.
fn stream_entries(data: &[u8], ws: &[usize], index: &[u64]) -> Result<Section, SigningError> {
    let row = ws.iter().sum::<usize>();
    let field = |r: &[u8], from: usize, w: usize| -> u64 {
        r[from..from + w]
            .iter()
            .fold(0u64, |a, &b| a << 8 | u64::from(b))
    };
    let mut rows = data.chunks_exact(row);
    let mut out = Vec::new();
    for pair in index.chunks(2) {
        let (start, count) = (pair[0], pair[1]);
        if start.saturating_add(count) > MAX_OBJECTS {
            return Err(damaged("cross-reference stream /Index out of range"));
        }
        for i in 0..count {
            let r = rows
                .next()
                .ok_or_else(|| damaged("cross-reference stream is shorter than its /Index"))?;
            let t = if ws[0] == 0 { 1 } else { field(r, 0, ws[0]) };
            let f2 = field(r, ws[0], ws[1]);
            let f3 = field(r, ws[0] + ws[1], ws[2]);
            let e = match t {
                0 => XrefEntry::Free,
                1 => XrefEntry::InFile {
                    offset: f2,
                    gen: u16::try_from(f3).map_err(|_| damaged("generation out of range"))?,
                },
                2 => XrefEntry::InStream {
                    stream: u32::try_from(f2)
                        .map_err(|_| damaged("object stream number out of range"))?,
                    index: u32::try_from(f3).map_err(|_| damaged("index out of range"))?,
                },
                // Unknown types are to be read as null references.
                _ => XrefEntry::Free,
            };
            out.push((start + i, e));
        }
    }
    Ok(out)
}
