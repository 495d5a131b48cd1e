//! The PDF object structure (via lopdf): loading a revision, finding signature fields and
//! reading the DSS. Every walk is bounded and remembers what it visited, so cyclic or
//! exponentially shared structures cannot make it hang.

use crate::signing::pdf::lexer::Lexer;
use crate::signing::SigningError;
use lopdf::xref::XrefEntry;
use lopdf::{Dictionary, Document, Object, ObjectId};
use std::collections::HashSet;

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

fn parse(data: &[u8]) -> Result<Document, SigningError> {
    // lopdf bounds its own recursion; this is defence in depth against a panic inside it.
    let loaded = std::panic::catch_unwind(|| Document::load_mem(data));
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

fn stream_list(doc: &Document, dict: &Dictionary, key: &[u8]) -> Vec<Vec<u8>> {
    match get(doc, dict, key) {
        Some(Object::Array(items)) => items
            .iter()
            .filter_map(|i| match resolve(doc, i)? {
                Object::Stream(s) => Some(
                    s.decompressed_content()
                        .unwrap_or_else(|_| s.content.clone()),
                ),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Reads the catalog's /DSS, if any.
pub(crate) fn dss(doc: &Document) -> Option<Dss> {
    let cat = catalog(doc)?;
    let d = get_dict(doc, cat, b"DSS")?;
    let vri = get_dict(doc, d, b"VRI")
        .map(|v| v.iter().map(|(k, _)| text(k).to_uppercase()).collect())
        .unwrap_or_default();
    Some(Dss {
        certs: stream_list(doc, d, b"Certs"),
        ocsps: stream_list(doc, d, b"OCSPs"),
        crls: stream_list(doc, d, b"CRLs"),
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
