//! The PDF object structure (via lopdf): loading a revision, finding signature fields and
//! reading the DSS. Every walk is bounded and remembers what it visited, so cyclic or
//! exponentially shared structures cannot make it hang.
//!
//! A revision is loaded *slim*: a stream longer than [`SLIM_ABOVE`] keeps its dictionary but
//! holds, instead of its data, a digest of it ([`slim`]). The verifier never reads page
//! content or images; it only compares streams between revisions, which the digest does as
//! well. So a 50 MB scan costs its objects' dictionaries, not a second copy of its images for
//! the final file and each signed revision. The one set of streams read for their data, the
//! DSS's certificates, OCSP responses and CRLs, is read again from the file when it was
//! slimmed ([`dss`]).

use crate::signing::pdf::lexer::Lexer;
use crate::signing::pdf::reader::Reader;
use crate::signing::pdf::source::MemSource;
use crate::signing::SigningError;
use lopdf::xref::{XrefEntry, XrefRecovery};
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId, Stream};
use std::collections::HashSet;

/// Streams longer than this are kept as a digest of their data in a loaded revision.
pub(crate) const SLIM_ABOVE: usize = 64 * 1024;
/// How a slimmed stream's data begins: the mark, then the SHA-256 of the encoded data and
/// its length (u64, big endian). No real stream of more than [`SLIM_ABOVE`] bytes is this short.
const SLIM_MARK: &[u8] = b"\0docflow-slim-sha256\0";
/// A stream whose `/Length` is an indirect object: lopdf reads its data only once every
/// object is loaded; the mark and the stream's start keep it from doing so ([`fill_deferred`]).
const DEFERRED_MARK: &[u8] = b"\0docflow-deferred\0";

/// How deep the form field tree may nest before the file is called damaged.
const MAX_FIELD_DEPTH: usize = 64;
/// How many field nodes are visited at most.
const MAX_FIELDS: usize = 100_000;

/// Loads the document as it is in `data` (a whole file or a prefix ending at a revision).
pub(crate) fn load(data: &[u8]) -> Result<Document, SigningError> {
    let head = &data[..data.len().min(1024)];
    if super::raw::find(head, b"%PDF-").is_none() {
        return Err(SigningError::NotPdf("no %PDF- header".into()));
    }
    let doc = parse(data)?;
    let stale = stale_copies(data, &doc);
    if stale.is_empty() {
        return Ok(doc);
    }
    // lopdf keys each object by the header it finds at an entry's offset, not by the entry,
    // so an entry that points at an older copy of another object (qpdf's hybrid-xref.pdf lists
    // its xref stream 109 at the catalog's offset) puts that stale copy in place of the object
    // the newest revision wrote (an update that rewrites the catalog then looks unapplied). The
    // stale copies are hidden from lopdf in a copy of the file, same length, so every offset
    // holds; the raw checks keep reading `data` itself.
    let mut hidden = data.to_vec();
    for at in stale {
        if let Some(keyword) = hidden.get_mut(at..at + 3) {
            keyword.copy_from_slice(b"xxx");
        }
    }
    parse(&hidden)
}

/// Positions of the `obj` keyword of every stale copy: an object header that a cross-reference
/// entry of another number points at, while that object's own entry points elsewhere.
fn stale_copies(data: &[u8], doc: &Document) -> Vec<usize> {
    let table = &doc.reference_table;
    let mut out = Vec::new();
    for (&num, entry) in &table.entries {
        let XrefEntry::Normal { offset, .. } = *entry else {
            continue;
        };
        let Ok(at) = usize::try_from(offset) else {
            continue;
        };
        if at >= data.len() {
            continue;
        }
        let mut lx = Lexer::new(data, at);
        lx.skip_ws();
        let Ok((found, gen)) = lx.indirect_header() else {
            continue;
        };
        if found == num {
            continue;
        }
        // Stored in an object stream, the object loses to a plain copy in lopdf too.
        let own_entry_elsewhere = match table.get(found) {
            Some(XrefEntry::Normal {
                offset: own,
                generation,
            }) => *own != offset && *generation == gen,
            Some(XrefEntry::Compressed { .. }) => true,
            _ => false,
        };
        if own_entry_elsewhere {
            // The lexer stands just after `obj`.
            out.push(lx.pos - 3);
        }
    }
    out
}

/// The load filter: each stream longer than [`SLIM_ABOVE`] (but object and cross-reference
/// streams, which lopdf reads for the objects inside) replaced by its digest as it is parsed,
/// so at most one stream's data is held at a time.
/// `ABOVE` is the threshold ([`SLIM_ABOVE`]; the tests also slim every stream, with 0).
fn slim<const ABOVE: usize>(id: ObjectId, obj: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(s) = obj {
        let inner = s.dict.has_type(b"ObjStm") || s.dict.has_type(b"XRef");
        if !inner {
            if !kept_whole(&s.content, ABOVE) {
                s.content = slim_mark(&s.content);
            } else if s.content.is_empty() {
                if let (Some(start), Ok(Object::Reference(_))) =
                    (s.start_position, s.dict.get(b"Length"))
                {
                    let mut mark = DEFERRED_MARK.to_vec();
                    mark.extend_from_slice(&(start as u64).to_be_bytes());
                    s.content = mark;
                }
            }
        }
    }
    // lopdf keeps `obj` itself for an object of the file and the returned copy for one inside
    // an object stream (never a stream): both must hold the object.
    match obj {
        Object::Stream(_) => Some((id, Object::Null)),
        other => Some((id, other.clone())),
    }
}

/// Whether a stream's data stays as it is in a loaded revision: short, and not mistakable
/// for a mark (a short stream written to look like a big one's digest is slimmed too, so it
/// cannot compare equal to the big one).
fn kept_whole(data: &[u8], above: usize) -> bool {
    data.len() <= above && !data.starts_with(SLIM_MARK) && !data.starts_with(DEFERRED_MARK)
}

fn slim_mark(data: &[u8]) -> Vec<u8> {
    let mut mark = SLIM_MARK.to_vec();
    mark.extend_from_slice(&openssl::sha::sha256(data));
    mark.extend_from_slice(&(data.len() as u64).to_be_bytes());
    mark
}

/// Whether a loaded stream holds a digest instead of its data.
pub(crate) fn is_slimmed(s: &Stream) -> bool {
    s.content.starts_with(SLIM_MARK)
}

/// Gives each stream with an indirect `/Length` (held back by [`slim`]) its data, or its
/// digest when longer than [`SLIM_ABOVE`], read from `buf` (what lopdf parsed, from `%PDF-`)
/// without copying it; a length that cannot be resolved leaves it empty, as lopdf does.
fn fill_deferred(doc: &mut Document, buf: &[u8], above: usize) {
    let deferred: Vec<(ObjectId, usize, Option<i64>)> = doc
        .objects
        .iter()
        .filter_map(|(id, o)| {
            let Object::Stream(s) = o else { return None };
            let start = s.content.strip_prefix(DEFERRED_MARK)?;
            let start = usize::try_from(u64::from_be_bytes(start.try_into().ok()?)).ok()?;
            let len = s
                .dict
                .get(b"Length")
                .ok()
                .and_then(|l| doc.dereference(l).ok())
                .and_then(|(_, l)| l.as_i64().ok());
            Some((*id, start, len))
        })
        .collect();
    for (id, start, len) in deferred {
        let data = len
            .and_then(|l| usize::try_from(l).ok())
            .and_then(|l| buf.get(start..start.checked_add(l)?));
        if let Some(Object::Stream(s)) = doc.objects.get_mut(&id) {
            s.content = match data {
                Some(d) if kept_whole(d, above) => d.to_vec(),
                Some(d) => slim_mark(d),
                None => Vec::new(),
            };
        }
    }
}

/// Whether the catalog leads to a page tree root with `/Kids` (lopdf's own test for
/// rebuilding a damaged file).
fn page_tree_loaded(doc: &Document) -> bool {
    doc.catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
        .and_then(|root| doc.get_dictionary(root))
        .and_then(|root| root.get_deref(b"Kids", doc))
        .and_then(Object::as_array)
        .is_ok()
}

/// lopdf's load with the [`slim`] filter (which lopdf does not apply to an encrypted file:
/// that one is loaded whole, both revisions alike, so comparisons still hold). A filtered load skips lopdf's own last repair (a
/// damaged file whose page tree the cross-reference data does not reach is rebuilt by
/// scanning for objects), so it is done here the same way.
fn load_slim(data: &[u8]) -> lopdf::Result<Document> {
    load_slim_above::<SLIM_ABOVE>(data)
}

fn load_slim_above<const ABOVE: usize>(data: &[u8]) -> lopdf::Result<Document> {
    let buf = match super::raw::find(data, b"%PDF-") {
        Some(at) => &data[at..],
        None => data,
    };
    let mut doc = Document::load_mem_with_options(data, LoadOptions::with_filter(slim::<ABOVE>))?;
    fill_deferred(&mut doc, buf, ABOVE);
    let needs_password = doc.trailer.has(b"Encrypt");
    if !needs_password
        && doc.xref_recovery != Some(XrefRecovery::Reconstructed)
        && !page_tree_loaded(&doc)
    {
        let options = LoadOptions {
            force_reconstruct: true,
            ..LoadOptions::with_filter(slim::<ABOVE>)
        };
        if let Ok(mut rebuilt) = Document::load_mem_with_options(data, options) {
            if rebuilt.xref_recovery == Some(XrefRecovery::Reconstructed)
                && page_tree_loaded(&rebuilt)
            {
                fill_deferred(&mut rebuilt, buf, ABOVE);
                return Ok(rebuilt);
            }
        }
    }
    Ok(doc)
}

fn parse(data: &[u8]) -> Result<Document, SigningError> {
    // lopdf bounds its own recursion; this is defence in depth against a panic inside it.
    let loaded = std::panic::catch_unwind(|| load_slim(data));
    match loaded {
        Ok(Ok(doc)) => {
            if catalog(&doc).is_none() {
                return Err(if doc.trailer.has(b"Encrypt") {
                    SigningError::Encrypted(
                        "the document cannot be opened without a password".into(),
                    )
                } else {
                    SigningError::Damaged("no document catalog".into())
                });
            }
            Ok(doc)
        }
        Ok(Err(lopdf::Error::Decryption(e))) => Err(SigningError::Encrypted(e.to_string())),
        Ok(Err(e)) => Err(SigningError::Damaged(e.to_string())),
        Err(_) => Err(SigningError::Damaged(
            "the PDF parser failed on this file".into(),
        )),
    }
}

/// Follows a reference (or chain of them) to the object; a direct object is returned as is.
pub(crate) fn resolve<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

/// `dict[key]` resolved.
pub(crate) fn get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    dict.get(key).ok().and_then(|o| resolve(doc, o))
}

/// `dict[key]` resolved to a dictionary.
pub(crate) fn get_dict<'a>(
    doc: &'a Document,
    dict: &'a Dictionary,
    key: &[u8],
) -> Option<&'a Dictionary> {
    match get(doc, dict, key)? {
        Object::Dictionary(d) => Some(d),
        Object::Stream(s) => Some(&s.dict),
        _ => None,
    }
}

/// The document catalog.
pub(crate) fn catalog(doc: &Document) -> Option<&Dictionary> {
    get_dict(doc, &doc.trailer, b"Root")
}

/// The catalog's object id.
pub(crate) fn catalog_id(doc: &Document) -> Option<ObjectId> {
    doc.trailer.get(b"Root").ok()?.as_reference().ok()
}

/// A PDF text string (UTF-16BE with BOM, UTF-8 with BOM, or PDFDocEncoding ≈ Latin-1).
pub(crate) fn text(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A signed signature field (or document timestamp) found in the form.
#[derive(Debug, Clone)]
pub(crate) struct SigField {
    /// Fully qualified field name.
    pub name: String,
    /// The signature dictionary (field /V).
    pub sig: Dictionary,
    /// The indirect object whose bytes hold the signature dictionary.
    pub container: Option<ObjectId>,
}

/// All filled signature fields of the form, in tree order.
pub(crate) fn signature_fields(doc: &Document) -> Result<Vec<SigField>, SigningError> {
    let mut out = Vec::new();
    let Some(cat) = catalog(doc) else {
        return Err(SigningError::Damaged("no document catalog".into()));
    };
    let Some(form) = get_dict(doc, cat, b"AcroForm") else {
        return Ok(out);
    };
    let Some(Object::Array(fields)) = get(doc, form, b"Fields") else {
        return Ok(out);
    };
    let mut seen = HashSet::new();
    let mut budget = MAX_FIELDS;
    for f in fields {
        walk_field(doc, f, "", None, 0, &mut seen, &mut budget, &mut out)?;
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn walk_field(
    doc: &Document,
    node: &Object,
    parent_name: &str,
    inherited_ft: Option<&[u8]>,
    depth: usize,
    seen: &mut HashSet<ObjectId>,
    budget: &mut usize,
    out: &mut Vec<SigField>,
) -> Result<(), SigningError> {
    if depth > MAX_FIELD_DEPTH {
        return Err(SigningError::Damaged("form field tree is too deep".into()));
    }
    if *budget == 0 {
        return Err(SigningError::Damaged("form field tree is too large".into()));
    }
    *budget -= 1;
    let id = node.as_reference().ok();
    if let Some(id) = id {
        // A field reached twice (shared or cyclic kids) is visited once.
        if !seen.insert(id) {
            return Ok(());
        }
    }
    let Some(Object::Dictionary(dict)) = resolve(doc, node) else {
        return Ok(());
    };
    let partial = dict.get(b"T").ok().and_then(|t| t.as_str().ok()).map(text);
    let name = match (&partial, parent_name.is_empty()) {
        (Some(p), true) => p.clone(),
        (Some(p), false) => format!("{parent_name}.{p}"),
        (None, _) => parent_name.to_string(),
    };
    let ft = dict
        .get(b"FT")
        .ok()
        .and_then(|o| o.as_name().ok())
        .or(inherited_ft);
    if ft == Some(b"Sig".as_slice()) {
        if let Ok(v) = dict.get(b"V") {
            let container = match v.as_reference() {
                Ok(vid) => Some(vid),
                Err(_) => id,
            };
            if let Some(Object::Dictionary(sig)) = resolve(doc, v) {
                out.push(SigField {
                    name: name.clone(),
                    sig: sig.clone(),
                    container,
                });
            }
        }
    }
    if let Some(Object::Array(kids)) = get(doc, dict, b"Kids") {
        for k in kids {
            walk_field(doc, k, &name, ft, depth + 1, seen, budget, out)?;
        }
    }
    Ok(())
}

/// Byte offset of an uncompressed object in the file, from the cross-reference data.
pub(crate) fn offset_of(doc: &Document, id: ObjectId) -> Option<usize> {
    match doc.reference_table.get(id.0)? {
        XrefEntry::Normal { offset, generation } if *generation == id.1 => {
            usize::try_from(*offset).ok()
        }
        _ => None,
    }
}

/// What the Document Security Store holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dss {
    pub certs: Vec<Vec<u8>>,
    pub ocsps: Vec<Vec<u8>>,
    pub crls: Vec<Vec<u8>>,
    /// /VRI keys, uppercase hex SHA-1 of each signature's /Contents.
    pub vri: Vec<String>,
}

fn stream_list<'s>(
    doc: &Document,
    src: &'s MemSource<'s>,
    reader: &mut Option<Option<Reader<'s>>>,
    dict: &Dictionary,
    key: &[u8],
) -> Vec<Vec<u8>> {
    let Some(Object::Array(items)) = get(doc, dict, key) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match resolve(doc, i)? {
            Object::Stream(s) if is_slimmed(s) => {
                let id = i.as_reference().ok()?;
                reread(src, reader, id, s)
            }
            Object::Stream(s) => Some(
                s.decompressed_content()
                    .unwrap_or_else(|_| s.content.clone()),
            ),
            _ => None,
        })
        .collect()
}

/// A slimmed stream's data read again from the file (by the on-demand reader, opened once)
/// and decoded as an unslimmed one is; None when it cannot be read there.
fn reread<'s>(
    src: &'s MemSource<'s>,
    reader: &mut Option<Option<Reader<'s>>>,
    id: ObjectId,
    loaded: &Stream,
) -> Option<Vec<u8>> {
    let reader = reader
        .get_or_insert_with(|| Reader::open(src).ok())
        .as_mut()?;
    let (_, raw) = reader.get_raw(id.0, id.1).ok()??;
    let raw = raw?;
    let s = Stream::new(loaded.dict.clone(), raw);
    Some(
        s.decompressed_content()
            .unwrap_or_else(|_| s.content.clone()),
    )
}

/// Reads the catalog's /DSS, if any; `data` is the file the document was loaded from.
pub(crate) fn dss(doc: &Document, data: &[u8]) -> Option<Dss> {
    let cat = catalog(doc)?;
    let d = get_dict(doc, cat, b"DSS")?;
    let vri = get_dict(doc, d, b"VRI")
        .map(|v| v.iter().map(|(k, _)| text(k).to_uppercase()).collect())
        .unwrap_or_default();
    let src = MemSource(data);
    let mut reader = None;
    Some(Dss {
        certs: stream_list(doc, &src, &mut reader, d, b"Certs"),
        ocsps: stream_list(doc, &src, &mut reader, d, b"OCSPs"),
        crls: stream_list(doc, &src, &mut reader, d, b"CRLs"),
        vri,
    })
}

/// The DocMDP /P of a certification signature (`/Reference` with `/TransformMethod /DocMDP`);
/// ISO 32000 makes 2 the default.
pub(crate) fn docmdp_permissions(doc: &Document, sig: &Dictionary) -> Option<i64> {
    let Some(Object::Array(refs)) = get(doc, sig, b"Reference") else {
        return None;
    };
    refs.iter().find_map(|r| {
        let Some(Object::Dictionary(d)) = resolve(doc, r) else {
            return None;
        };
        let method = get(doc, d, b"TransformMethod").and_then(|m| m.as_name().ok());
        if method != Some(b"DocMDP".as_slice()) {
            return None;
        }
        let p = get_dict(doc, d, b"TransformParams")
            .and_then(|t| get(doc, t, b"P"))
            .and_then(|p| p.as_i64().ok());
        Some(p.unwrap_or(2))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic-xref PDF of `objs` (number, body); object 1 is the catalog.
    fn pdf(objs: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (num, body) in objs {
            offsets.push((*num, out.len()));
            out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let size = objs.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1;
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
        for n in 1..size {
            match offsets.iter().find(|(m, _)| *m == n) {
                Some((_, at)) => out.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes()),
                None => out.extend_from_slice(b"0000000000 65535 f \n"),
            }
        }
        out.extend_from_slice(
            format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n")
                .as_bytes(),
        );
        out
    }

    fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
        let mut b = format!("<< {dict} >>\nstream\n").into_bytes();
        b.extend_from_slice(data);
        b.extend_from_slice(b"\nendstream");
        b
    }

    fn base(extra: &[(u32, Vec<u8>)], catalog_extra: &str) -> Vec<u8> {
        let mut objs = vec![
            (
                1,
                format!("<< /Type /Catalog /Pages 2 0 R {catalog_extra} >>").into_bytes(),
            ),
            (2, b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec()),
            (
                3,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>".to_vec(),
            ),
        ];
        objs.extend_from_slice(extra);
        pdf(&objs)
    }

    fn content(doc: &Document, num: u32) -> &[u8] {
        match doc.objects.get(&(num, 0)) {
            Some(Object::Stream(s)) => &s.content,
            other => panic!("object {num} is not a stream: {other:?}"),
        }
    }

    /// Bytes no compressor shortens, so their length is what the parse would have held.
    fn noise(len: usize, seed: u8) -> Vec<u8> {
        let mut x = u32::from(seed) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn a_big_stream_is_held_as_its_digest_and_a_short_one_whole() {
        let big = noise(SLIM_ABOVE + 1, 1);
        let small = noise(SLIM_ABOVE, 2);
        let data = base(
            &[
                (4, stream(&format!("/Length {}", big.len()), &big)),
                (5, stream(&format!("/Length {}", small.len()), &small)),
            ],
            "",
        );
        let doc = load(&data).expect("loads");
        let slimmed = content(&doc, 4);
        assert!(slimmed.len() < 100, "{} bytes held", slimmed.len());
        assert_eq!(slimmed, slim_mark(&big).as_slice());
        assert_eq!(content(&doc, 5), small.as_slice());
    }

    #[test]
    fn streams_compare_by_their_data_whether_slimmed_or_not() {
        let big = noise(200_000, 3);
        let mut other = big.clone();
        other[100_000] ^= 1;
        let one = load(&base(&[(4, stream("/Length 200000", &big))], "")).expect("loads");
        let same = load(&base(&[(4, stream("/Length 200000", &big))], "")).expect("loads");
        let changed = load(&base(&[(4, stream("/Length 200000", &other))], "")).expect("loads");
        assert_eq!(content(&one, 4), content(&same, 4));
        assert_ne!(content(&one, 4), content(&changed, 4));
        // A short stream written to be the big one's mark is not taken for it.
        let mark = slim_mark(&big);
        let forged = load(&base(
            &[(4, stream(&format!("/Length {}", mark.len()), &mark))],
            "",
        ))
        .expect("loads");
        assert_ne!(content(&forged, 4), content(&one, 4));
    }

    #[test]
    fn a_stream_with_an_indirect_length_is_slimmed_like_a_direct_one() {
        let big = noise(150_000, 4);
        let small = b"short data".to_vec();
        let data = base(
            &[
                (4, stream("/Length 6 0 R", &big)),
                (5, stream("/Length 7 0 R", &small)),
                (6, b"150000".to_vec()),
                (7, format!("{}", small.len()).into_bytes()),
            ],
            "",
        );
        let doc = load(&data).expect("loads");
        assert_eq!(content(&doc, 4), slim_mark(&big).as_slice());
        assert_eq!(content(&doc, 5), small.as_slice());
        same_as_lopdf(&data);
        // A length pointing past the end: whatever lopdf makes of it (it recovers the data up
        // to `endstream`), the slim load makes of it too.
        let broken = base(
            &[(4, stream("/Length 6 0 R", &big)), (6, b"9999999".to_vec())],
            "",
        );
        same_as_lopdf(&broken);
    }

    /// The slim load holds the same objects as lopdf's plain load, each stream's data the same
    /// or, when long, its digest.
    fn same_as_lopdf(data: &[u8]) {
        same_as_lopdf_above::<SLIM_ABOVE>(data);
        // Every stream slimmed: the digest path on each stream of the file.
        same_as_lopdf_above::<0>(data);
    }

    fn same_as_lopdf_above<const ABOVE: usize>(data: &[u8]) {
        let (Ok(plain), Ok(slimmed)) = (Document::load_mem(data), load_slim_above::<ABOVE>(data))
        else {
            assert!(
                Document::load_mem(data).is_err(),
                "lopdf loads it, the slim load does not"
            );
            return;
        };
        let ids = |d: &Document| d.objects.keys().copied().collect::<Vec<_>>();
        assert_eq!(ids(&plain), ids(&slimmed));
        for (id, o) in &plain.objects {
            let got = &slimmed.objects[id];
            match (o, got) {
                (Object::Stream(p), Object::Stream(s)) => {
                    assert_eq!(p.dict, s.dict, "{id:?}");
                    let inner = p.dict.has_type(b"ObjStm") || p.dict.has_type(b"XRef");
                    // lopdf applies no filter to an encrypted file: it is loaded whole.
                    let encrypted = plain.is_encrypted() || plain.was_encrypted();
                    if inner || encrypted || kept_whole(&p.content, ABOVE) {
                        assert_eq!(p.content, s.content, "{id:?}");
                    } else {
                        assert_eq!(slim_mark(&p.content), s.content, "{id:?}");
                    }
                }
                _ => assert_eq!(o, got, "{id:?}"),
            }
        }
        assert_eq!(plain.trailer, slimmed.trailer);
    }

    /// Every fixture, and every real-world corpus file when `DOCFLOW_CORPUS_DIR` names it (CI
    /// does), loads the same slim as plain, with the usual threshold and with every stream
    /// slimmed.
    #[test]
    fn the_slim_load_agrees_with_lopdf_on_every_fixture_and_corpus_file() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pdf");
        let mut dirs = vec![(fixtures, 9)];
        if let Some(corpus) = std::env::var_os("DOCFLOW_CORPUS_DIR") {
            dirs.push((corpus.into(), 40));
        }
        for (dir, at_least) in dirs {
            let mut n = 0;
            for entry in std::fs::read_dir(&dir).expect("a folder of PDFs") {
                let path = entry.expect("entry").path();
                if path.extension().and_then(|e| e.to_str()) == Some("pdf") {
                    same_as_lopdf(&std::fs::read(&path).expect("reads"));
                    n += 1;
                }
            }
            assert!(n >= at_least, "{n} files in {}", dir.display());
        }
    }

    #[test]
    fn the_dss_gives_the_data_of_its_slimmed_streams() {
        // A CRL of a big CA is easily more than the slim threshold; it must reach the checks
        // whole, compressed or not.
        let crl = noise(300_000, 5);
        let cert = noise(1_000, 6);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &crl).expect("compresses");
        let zipped = z.finish().expect("compresses");
        let data = base(
            &[
                (4, b"<< /Certs [5 0 R] /CRLs [6 0 R 7 0 R] >>".to_vec()),
                (5, stream(&format!("/Length {}", cert.len()), &cert)),
                (6, stream(&format!("/Length {}", crl.len()), &crl)),
                (
                    7,
                    stream(
                        &format!("/Length {} /Filter /FlateDecode", zipped.len()),
                        &zipped,
                    ),
                ),
            ],
            "/DSS 4 0 R",
        );
        let doc = load(&data).expect("loads");
        assert!(is_slimmed(match doc.objects.get(&(6, 0)) {
            Some(Object::Stream(s)) => s,
            _ => panic!("no stream 6"),
        }));
        let dss = dss(&doc, &data).expect("a DSS");
        assert_eq!(dss.certs, vec![cert]);
        assert_eq!(dss.crls, vec![crl.clone(), crl]);
    }
}
