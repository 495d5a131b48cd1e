//! Normalising a draft before its first signature: a file nobody has signed yet may be
//! rewritten, since no signature can break, and a clean file is one every validator reads
//! the same way (pyHanko's strict reader refuses every signature of a hybrid-reference file).
//!
//! The rewrite keeps every object reachable from the trailer's `/Root` and `/Info`, each as
//! written — numbers, names and strings copied token for token, streams copied still encoded
//! with a direct `/Length` — renumbered 1…N in the order a breadth-first walk meets them,
//! with one classic cross-reference table and no `/Prev`, `/XRefStm`, object stream,
//! linearization or earlier revision. A reference to a missing object becomes `null` (which
//! is what ISO 32000 reads it as); a dictionary entry that becomes null is left out. A page
//! given directly inside a `/Kids` array becomes an object of its own, and a form field (or
//! name tree) node listing the same kid twice lists it once. The output depends
//! only on the input bytes, so preparing a signature for a token and completing it later
//! rewrite to the same file.
//!
//! Where the objects are comes from the file's own cross-reference when the signer's strict
//! reader can follow it, else from lopdf's repair (priced first by [`cost::estimate`], as the
//! upload check does). Files with a signature or a certification are refused
//! (`pdf_already_signed`), encrypted ones as everywhere (`pdf_encrypted`).

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use lopdf::xref::XrefEntry as LoEntry;
use lopdf::{LoadOptions, Object};

use super::pdf::cost;
use super::pdf::document;
use super::pdf::lexer::{Kind, Lexer, Value};
use super::pdf::reader::{Node, Reader};
use super::pdf::source::{MemSource, Source};
use super::pdf::xref::{Entries, Xref, XrefEntry, XrefKind};
use super::SigningError;

/// Most memory lopdf's repair of a damaged file may be expected to take (the upload check's
/// budget).
pub const REPAIR_BUDGET: u64 = 128 << 20;
/// Largest size one stream may decompress to during lopdf's repair.
const REPAIR_MAX_DECOMPRESSED: usize = 64 << 20;
/// Most object-stream bytes decoded in one rewrite: bounds the work a small file of
/// decompression bombs read again and again can cause.
const MAX_DECODED_TOTAL: u64 = 1 << 30;

/// What a rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// The clean file.
    pub bytes: Vec<u8>,
    /// Objects written.
    pub objects: u32,
    /// How the objects were found: the file's own cross-reference, or a repair.
    pub repaired: bool,
}

/// Why a file should be normalised before its first signature; `None` from [`assess`] when
/// it need not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// A classic table with an `/XRefStm` (strict pyHanko refuses its signatures).
    Hybrid,
    /// The signer's strict reader cannot read it as written; the words say why.
    Damaged(String),
}

impl Need {
    /// In words a clerk understands.
    pub fn describe(&self) -> String {
        match self {
            Need::Hybrid => "hybrid cross-reference (a table and an /XRefStm stream)".into(),
            Need::Damaged(why) => format!("damaged structure ({why})"),
        }
    }
}

/// Whether `src` has any signature: a `/ByteRange` anywhere in its bytes (any revision,
/// whatever became of it later). Read in windows, never whole.
pub fn has_signature(src: &dyn Source) -> Result<bool, SigningError> {
    const CHUNK: usize = 1 << 20;
    const NEEDLE: &[u8] = b"/ByteRange";
    let mut at = 0u64;
    while at < src.len() {
        let w = src.window(at, CHUNK + NEEDLE.len())?;
        if w.windows(NEEDLE.len()).any(|x| x == NEEDLE) {
            return Ok(true);
        }
        at += CHUNK as u64;
    }
    Ok(false)
}

/// Whether the file should be rewritten before its first signature (it may be only when it
/// has no signature: see [`has_signature`]).
pub fn assess(src: &dyn Source) -> Option<Need> {
    match strict_reader(src) {
        Ok(r) if r.xref.hybrid => Some(Need::Hybrid),
        Ok(_) => None,
        Err(e) => Some(Need::Damaged(reason(&e))),
    }
}

/// The strict reader, with the catalog, the page tree and the form the signer needs read.
fn strict_reader(src: &dyn Source) -> Result<Reader<'_>, SigningError> {
    let mut r = Reader::open(src)?;
    document::check_not_encrypted(&mut r)?;
    let catalog = document::catalog(&mut r)?;
    document::pages(&mut r, &catalog)?;
    if let Some(form) = r.get_key(&catalog, b"AcroForm")? {
        document::fields(&mut r, &form)?;
    }
    Ok(r)
}

fn reason(e: &SigningError) -> String {
    match e {
        SigningError::Damaged(m) | SigningError::NotPdf(m) | SigningError::Unsupported(m) => {
            m.clone()
        }
        other => other.to_string(),
    }
}

/// Rewrites an unsigned PDF into a clean one (see the module's words). Refuses a signed or
/// certified file (`pdf_already_signed`) and an encrypted one (`pdf_encrypted`).
pub fn normalise(input: &[u8]) -> Result<Normalised, SigningError> {
    let src = MemSource(input);
    if !input.windows(5).take(1024).any(|w| w == b"%PDF-") {
        return Err(SigningError::NotPdf("no %PDF- header".into()));
    }
    if has_signature(&src)? {
        return Err(SigningError::AlreadySigned);
    }
    let own = Reader::open(&src)
        .ok()
        .and_then(|mut r| document::catalog(&mut r).is_ok().then_some(r));
    let (mut reader, repaired) = match own {
        Some(r) => (r, false),
        None => (repaired_reader(input, &src)?, true),
    };
    reader.lenient = true;
    document::check_not_encrypted(&mut reader)?;
    let version = header_version(input);
    let bytes = Rewrite::new(&mut reader).run(input, &version)?;
    let objects = bytes.1;
    Ok(Normalised {
        bytes: bytes.0,
        objects,
        repaired,
    })
}

/// Normalises `pdf` in place when it has no signature and [`assess`] says it should be;
/// answers whether it did. What the server calls before a document's first signature.
pub fn before_first_signature(pdf: &mut Vec<u8>) -> Result<bool, SigningError> {
    let src = MemSource(pdf);
    // The cheap question first: most files need no rewrite.
    if assess(&src).is_none() || has_signature(&src)? {
        return Ok(false);
    }
    *pdf = normalise(pdf)?.bytes;
    Ok(true)
}

/// The `d.d` of a `%PDF-d.d` header, else 1.7.
fn header_version(input: &[u8]) -> String {
    let head = &input[..input.len().min(1024)];
    head.windows(5)
        .position(|w| w == b"%PDF-")
        .and_then(|at| head.get(at + 5..at + 8))
        .filter(|v| v[0].is_ascii_digit() && v[1] == b'.' && v[2].is_ascii_digit())
        .map_or_else(
            || "1.7".to_string(),
            |v| String::from_utf8_lossy(v).into_owned(),
        )
}

/// A reader over the cross-reference lopdf rebuilt or corrected.
fn repaired_reader<'s>(input: &[u8], src: &'s dyn Source) -> Result<Reader<'s>, SigningError> {
    let estimate = cost::estimate(src)?;
    let needed = estimate.bytes().saturating_add(src.len());
    if needed > REPAIR_BUDGET {
        return Err(SigningError::TooComplex(format!(
            "repairing it would take about {} MB (at most {} MB)",
            needed >> 20,
            REPAIR_BUDGET >> 20
        )));
    }
    let options = LoadOptions {
        max_decompressed_size: Some(REPAIR_MAX_DECOMPRESSED),
        ..LoadOptions::default()
    };
    let doc = lopdf::Document::load_mem_with_options(input, options)
        .map_err(|e| SigningError::Damaged(format!("too damaged to repair ({e})")))?;
    if doc.trailer.get(b"Encrypt").is_ok() || doc.encryption_state.is_some() {
        return Err(SigningError::Encrypted(
            "the file is encrypted; it is not rewritten".into(),
        ));
    }
    // lopdf reads offsets from the `%PDF-` header on.
    let base = input.windows(5).position(|w| w == b"%PDF-").unwrap_or(0) as u64;
    let mut entries: Vec<(u32, XrefEntry)> = doc
        .reference_table
        .entries
        .iter()
        .filter_map(|(&num, e)| match *e {
            LoEntry::Normal { offset, generation } => Some((
                num,
                XrefEntry::InFile {
                    offset: u64::from(offset) + base,
                    gen: generation,
                },
            )),
            LoEntry::Compressed { container, index } => Some((
                num,
                XrefEntry::InStream {
                    stream: container,
                    index: u32::from(index),
                },
            )),
            LoEntry::Free | LoEntry::UnusableFree => None,
        })
        .collect();
    entries.sort_by_key(|(n, _)| *n);
    let trailer = trailer_node(&doc.trailer)?;
    let next_free = entries.last().map_or(1, |(n, _)| n.saturating_add(1));
    Ok(Reader::with_xref(
        src,
        Xref {
            entries: Entries::from_sorted(entries),
            trailer,
            startxref: 0,
            kind: XrefKind::Table,
            next_free,
            hybrid: false,
        },
    ))
}

/// The repaired trailer's `/Root`, `/Info`, `/ID` and `/Encrypt`, in our own parsed form.
fn trailer_node(t: &lopdf::Dictionary) -> Result<Node, SigningError> {
    let mut text = b"<<".to_vec();
    for key in [&b"Root"[..], b"Info", b"Encrypt"] {
        if let Ok(Object::Reference((n, g))) = t.get(key) {
            text.extend_from_slice(
                format!(" /{} {n} {g} R", String::from_utf8_lossy(key)).as_bytes(),
            );
        }
    }
    if let Ok(Object::Array(ids)) = t.get(b"ID") {
        let hex: Vec<String> = ids
            .iter()
            .filter_map(|o| match o {
                Object::String(s, _) => Some(s.iter().map(|b| format!("{b:02X}")).collect()),
                _ => None,
            })
            .collect();
        if hex.len() == 2 {
            text.extend_from_slice(format!(" /ID [<{}> <{}>]", hex[0], hex[1]).as_bytes());
        }
    }
    text.extend_from_slice(b" >> ");
    let value = Lexer::new(&text, 0)
        .value()
        .map_err(|_| SigningError::Internal("the repaired trailer does not parse".into()))?;
    Ok(Node::new(Rc::from(text), value, None))
}

/// Which `/Kids` array a value is, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kids {
    No,
    /// Of a page tree node: a direct page becomes an object.
    Pages,
    /// Of another tree (fields, name and number trees): a kid listed twice is listed once.
    Other,
}

/// An object waiting to be written under its new number.
enum Pending {
    /// Object `num gen` of the input.
    Old(u32, u16),
    /// A page given directly in a `/Kids` array, now an object of its own.
    Direct(Node),
}

/// One rewrite: the new numbers, the objects waiting, the output.
struct Rewrite<'r, 's> {
    reader: &'r mut Reader<'s>,
    numbers: HashMap<(u32, u16), u32>,
    queue: VecDeque<(u32, Pending)>,
    next: u32,
    out: Vec<u8>,
    offsets: Vec<u64>,
}

impl<'r, 's> Rewrite<'r, 's> {
    fn new(reader: &'r mut Reader<'s>) -> Self {
        Rewrite {
            reader,
            numbers: HashMap::new(),
            queue: VecDeque::new(),
            next: 1,
            out: Vec::new(),
            offsets: Vec::new(),
        }
    }

    fn run(mut self, input: &[u8], version: &str) -> Result<(Vec<u8>, u32), SigningError> {
        let trailer = self.reader.xref.trailer.clone();
        let root = trailer
            .get(b"Root")
            .and_then(|r| r.value.as_ref())
            .and_then(|(n, g)| self.number(n, g))
            .ok_or_else(|| SigningError::Damaged("the trailer has no usable /Root".into()))?;
        let info = trailer
            .get(b"Info")
            .and_then(|r| r.value.as_ref())
            .and_then(|(n, g)| self.number(n, g));
        self.out
            .extend_from_slice(format!("%PDF-{version}\n").as_bytes());
        // The binary comment: four bytes above 127 tell transfer programs the file is binary.
        self.out.extend_from_slice(b"%\xE2\xE3\xCF\xD3\n");
        while let Some((num, pending)) = self.queue.pop_front() {
            self.write_object(num, pending)?;
            if self.reader.decoded > MAX_DECODED_TOTAL {
                return Err(SigningError::TooComplex(format!(
                    "its object streams decode to more than {} MB",
                    MAX_DECODED_TOTAL >> 20
                )));
            }
        }
        let id = match trailer.get(b"ID") {
            Some(id) if id_is_two_strings(&id.value) => id.raw().to_vec(),
            // The same input always gets the same /ID.
            _ => {
                let h = openssl::sha::sha256(input);
                let hex: String = h[..16].iter().map(|b| format!("{b:02X}")).collect();
                format!("[<{hex}> <{hex}>]").into_bytes()
            }
        };
        let count = self.next - 1;
        let xref_at = self.out.len();
        let mut t = format!("xref\n0 {}\n0000000000 65535 f \n", count + 1).into_bytes();
        for off in &self.offsets {
            t.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        t.extend_from_slice(format!("trailer\n<< /Size {} /Root {root} 0 R", count + 1).as_bytes());
        if let Some(info) = info {
            t.extend_from_slice(format!(" /Info {info} 0 R").as_bytes());
        }
        t.extend_from_slice(b" /ID ");
        t.extend_from_slice(&id);
        t.extend_from_slice(format!(" >>\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
        self.out.extend_from_slice(&t);
        Ok((self.out, count))
    }

    /// The new number of object `num gen`, given (and the object queued) on first sight;
    /// `None` for an object the file does not have (a null reference).
    fn number(&mut self, num: u32, gen: u16) -> Option<u32> {
        if let Some(&n) = self.numbers.get(&(num, gen)) {
            return Some(n);
        }
        let exists = match self.reader.xref.entries.get(&num) {
            Some(XrefEntry::InFile { gen: g, .. }) => *g == gen,
            Some(XrefEntry::InStream { .. }) => gen == 0,
            _ => false,
        };
        if !exists {
            return None;
        }
        let n = self.fresh(Pending::Old(num, gen));
        self.numbers.insert((num, gen), n);
        Some(n)
    }

    fn fresh(&mut self, p: Pending) -> u32 {
        let n = self.next;
        self.next += 1;
        self.queue.push_back((n, p));
        n
    }

    fn write_object(&mut self, num: u32, pending: Pending) -> Result<(), SigningError> {
        let (node, stream) = match pending {
            Pending::Direct(node) => (node, None),
            Pending::Old(old, gen) => match self.reader.get_raw(old, gen)? {
                Some(x) => x,
                // Listed but not there: written as null, so references to it stay sound.
                None => (null_node(), None),
            },
        };
        if let Some(d) = node.dict() {
            if d.get(b"ByteRange").is_some()
                || matches!(
                    d.get(b"Type").and_then(Value::as_name),
                    Some(b"Sig" | b"DocTimeStamp")
                )
            {
                return Err(SigningError::AlreadySigned);
            }
        }
        debug_assert_eq!(self.offsets.len() as u32 + 1, num);
        self.offsets.push(self.out.len() as u64);
        let mut body = format!("{num} 0 obj\n").into_bytes();
        match &stream {
            Some(data) => {
                self.dict(&node, &node.value, &mut body, Some(data.len()))?;
                body.extend_from_slice(b"\nstream\n");
                body.extend_from_slice(data);
                body.extend_from_slice(b"\nendstream");
            }
            None => self.value(&node, &node.value, &mut body, Kids::No)?,
        }
        body.extend_from_slice(b"\nendobj\n");
        self.out.extend_from_slice(&body);
        Ok(())
    }

    /// Writes `v` (of `node`'s bytes) with references renumbered; `kids` says whether it is
    /// a `/Kids` array, and of which tree.
    fn value(
        &mut self,
        node: &Node,
        v: &Value,
        out: &mut Vec<u8>,
        kids: Kids,
    ) -> Result<(), SigningError> {
        match &v.kind {
            Kind::Ref(n, g) => match self.number(*n, *g) {
                Some(new) => out.extend_from_slice(format!("{new} 0 R").as_bytes()),
                None => out.extend_from_slice(b"null"),
            },
            Kind::Array(items) => {
                out.push(b'[');
                let mut listed = std::collections::HashSet::new();
                for item in items {
                    // A field (or name tree) node listing a kid twice: once is enough, and
                    // strict readers refuse the repeat (2^25 paths to one field, seen).
                    if let (Kids::Other, Some(r)) = (kids, item.as_ref()) {
                        if !listed.insert(r) {
                            continue;
                        }
                    }
                    if out.last() != Some(&b'[') {
                        out.push(b' ');
                    }
                    if kids == Kids::Pages && item.as_dict().is_some() {
                        let n = self.fresh(Pending::Direct(node.child(item)));
                        out.extend_from_slice(format!("{n} 0 R").as_bytes());
                    } else {
                        self.value(node, item, out, Kids::No)?;
                    }
                }
                out.push(b']');
            }
            Kind::Dict(_) => self.dict(node, v, out, None)?,
            _ => out.extend_from_slice(node.raw_of(v)),
        }
        Ok(())
    }

    /// Writes a dictionary; `length` replaces a stream's `/Length` with the direct count.
    fn dict(
        &mut self,
        node: &Node,
        v: &Value,
        out: &mut Vec<u8>,
        length: Option<usize>,
    ) -> Result<(), SigningError> {
        let Some(d) = v.as_dict() else {
            return Err(SigningError::Damaged(
                "a stream without a dictionary".into(),
            ));
        };
        let page_tree = d.get(b"Kids").is_some()
            && matches!(d.get(b"Type").and_then(Value::as_name), Some(b"Pages"));
        out.extend_from_slice(b"<<");
        for e in &d.entries {
            if length.is_some() && e.key == b"Length" {
                continue;
            }
            let dangling = match e.value.as_ref() {
                Some((n, g)) => self.number(n, g).is_none(),
                None => false,
            };
            if dangling {
                continue;
            }
            out.push(b' ');
            out.extend_from_slice(node.raw_of_span(&e.key_span));
            out.push(b' ');
            let kids = match (e.key.as_slice(), page_tree) {
                (b"Kids", true) => Kids::Pages,
                (b"Kids", false) => Kids::Other,
                _ => Kids::No,
            };
            self.value(node, &e.value, out, kids)?;
        }
        if let Some(len) = length {
            out.extend_from_slice(format!(" /Length {len}").as_bytes());
        }
        out.extend_from_slice(b" >>");
        Ok(())
    }
}

fn null_node() -> Node {
    let buf: Rc<[u8]> = Rc::from(&b"null"[..]);
    Node::new(
        buf,
        Value {
            kind: Kind::Null,
            span: 0..4,
        },
        None,
    )
}

fn id_is_two_strings(v: &Value) -> bool {
    v.as_array()
        .is_some_and(|a| a.len() == 2 && a.iter().all(|x| matches!(x.kind, Kind::Str(_))))
}
