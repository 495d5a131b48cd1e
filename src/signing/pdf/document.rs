//! The document structure the signer needs: catalog, page tree, form fields, certification.
//!
//! Trees are walked iteratively with a visited set, so loops and shared subtrees (a field tree with
//! 2^25 paths) are found in linear time and refused instead of followed.

use std::collections::HashSet;

use super::lexer::Kind;
use super::reader::{Node, Reader};
use crate::signing::SigningError;

/// Most nodes visited in the page tree or the field tree.
const MAX_NODES: usize = 1_000_000;
/// Deepest field hierarchy accepted.
const MAX_FIELD_DEPTH: usize = 64;

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

fn type_is(n: &Node, t: &[u8]) -> bool {
    n.get(b"Type")
        .and_then(|v| v.value.as_name().map(|x| x == t))
        == Some(true)
}

/// The document catalog, which must be an indirect dictionary.
pub fn catalog(r: &mut Reader) -> Result<Node, SigningError> {
    let root = r
        .xref
        .trailer
        .get(b"Root")
        .ok_or_else(|| damaged("the trailer has no /Root"))?;
    if root.value.as_ref().is_none() {
        return Err(damaged("the trailer /Root is not an indirect reference"));
    }
    let cat = r
        .resolve(&root)?
        .ok_or_else(|| damaged("the document catalog is missing"))?;
    if cat.dict().is_none() {
        return Err(damaged("the document catalog is not a dictionary"));
    }
    Ok(cat)
}

/// Refuses encrypted files: the signer does not decrypt and re-encrypt.
pub fn check_not_encrypted(r: &mut Reader) -> Result<(), SigningError> {
    let Some(enc) = r.xref.trailer.get(b"Encrypt") else {
        return Ok(());
    };
    match r.resolve(&enc)? {
        None => Ok(()),
        Some(d) if d.dict().is_some() => {
            let filter = d
                .get(b"Filter")
                .and_then(|f| {
                    f.value
                        .as_name()
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                })
                .unwrap_or_default();
            Err(SigningError::Encrypted(format!(
                "the document is encrypted (/{filter}); decrypt it first, the signer does not re-encrypt"
            )))
        }
        Some(_) => Err(damaged("the trailer /Encrypt is not a dictionary")),
    }
}

/// Every page of the document, in order, as indirect objects.
pub fn pages(r: &mut Reader, catalog: &Node) -> Result<Vec<Node>, SigningError> {
    let mut out = Vec::new();
    walk_pages(r, catalog, |page| out.push(page))?;
    Ok(out)
}

/// How many pages the document has, without keeping them: memory stays bounded by the tree's
/// depth, whatever the number of pages.
pub fn page_count(r: &mut Reader, catalog: &Node) -> Result<usize, SigningError> {
    let mut n = 0usize;
    walk_pages(r, catalog, |_| n += 1)?;
    Ok(n)
}

/// Calls `each` for every page in order; refuses loops, shared nodes and an empty tree.
fn walk_pages(
    r: &mut Reader,
    catalog: &Node,
    mut each: impl FnMut(Node),
) -> Result<(), SigningError> {
    let root = catalog
        .get(b"Pages")
        .ok_or_else(|| damaged("the catalog has no /Pages"))?;
    if root.value.as_ref().is_none() {
        return Err(damaged("the catalog /Pages is not an indirect reference"));
    }
    let mut found = false;
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(reference) = stack.pop() {
        let Some(id) = reference.value.as_ref() else {
            return Err(damaged(
                "a page tree /Kids entry is not an indirect reference",
            ));
        };
        if !seen.insert(id) || seen.len() > MAX_NODES {
            return Err(damaged("the page tree loops or shares a node"));
        }
        let node = r
            .resolve(&reference)?
            .ok_or_else(|| damaged(format!("page tree node {} {} is missing", id.0, id.1)))?;
        if node.dict().is_none() {
            return Err(damaged("a page tree node is not a dictionary"));
        }
        let is_pages =
            type_is(&node, b"Pages") || (!type_is(&node, b"Page") && node.get(b"Kids").is_some());
        if !is_pages {
            found = true;
            each(node);
            continue;
        }
        let kids = r
            .get_key(&node, b"Kids")?
            .ok_or_else(|| damaged("a /Pages node has no /Kids"))?;
        let Some(items) = kids.value.as_array() else {
            return Err(damaged("a /Kids entry is not an array"));
        };
        for k in items.iter().rev() {
            stack.push(kids.child(k));
        }
    }
    if !found {
        return Err(damaged("the document has no pages"));
    }
    Ok(())
}

/// One terminal form field (or a field that has kids and is not a widget).
#[derive(Debug, Clone)]
pub struct FieldInfo {
    /// Fully qualified name (`parent.child`).
    pub name: String,
    pub node: Node,
    /// Field type, inherited from ancestors.
    pub is_signature: bool,
    /// A signature field with a value: already signed.
    pub signed: bool,
    /// The field dictionary is also its widget annotation (no /Kids).
    pub has_kids: bool,
}

/// Decodes a PDF text string (UTF-16BE with BOM, UTF-8 with BOM, or PDFDocEncoding as Latin-1).
pub fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xfe, 0xff]) {
        let units: Vec<u16> = rest
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xef, 0xbb, 0xbf]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Every field of the AcroForm, walking /Fields and /Kids.
pub fn fields(r: &mut Reader, acroform: &Node) -> Result<Vec<FieldInfo>, SigningError> {
    let Some(list) = r.get_key(acroform, b"Fields")? else {
        return Ok(Vec::new());
    };
    let Some(items) = list.value.as_array() else {
        return Err(damaged("the AcroForm /Fields is not an array"));
    };
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    // (reference, parent name, inherited FT, depth)
    let mut stack: Vec<(Node, String, Option<Vec<u8>>, usize)> = items
        .iter()
        .rev()
        .map(|v| (list.child(v), String::new(), None, 0))
        .collect();
    while let Some((reference, parent, ft, depth)) = stack.pop() {
        if depth > MAX_FIELD_DEPTH {
            return Err(damaged("the form field tree is nested too deeply"));
        }
        if let Some(id) = reference.value.as_ref() {
            if !seen.insert(id) || seen.len() > MAX_NODES {
                return Err(damaged(
                    "the form field tree loops or lists the same field twice",
                ));
            }
        }
        let Some(node) = r.resolve(&reference)? else {
            continue; // a null entry in /Fields or /Kids
        };
        if node.dict().is_none() {
            return Err(damaged("a form field is not a dictionary"));
        }
        let partial = match node.get(b"T").map(|t| t.value.kind) {
            Some(Kind::Str(s)) => Some(text_string(&s)),
            _ => None,
        };
        let name = match (&partial, parent.is_empty()) {
            (Some(p), true) => p.clone(),
            (Some(p), false) => format!("{parent}.{p}"),
            (None, _) => parent.clone(),
        };
        let ft = node
            .get(b"FT")
            .and_then(|v| v.value.as_name().map(<[u8]>::to_vec))
            .or(ft);
        let kids = r.get_key(&node, b"Kids")?;
        let child_fields = child_fields(r, kids.as_ref(), &seen)?;
        if child_fields.is_empty() && partial.is_some() {
            let is_signature = ft.as_deref() == Some(b"Sig");
            let signed =
                is_signature && node.get(b"V").map(|v| !v.value.is_null()).unwrap_or(false);
            out.push(FieldInfo {
                name,
                node,
                is_signature,
                signed,
                has_kids: kids.is_some(),
            });
        } else {
            for c in child_fields.into_iter().rev() {
                stack.push((c, name.clone(), ft.clone(), depth + 1));
            }
        }
    }
    Ok(out)
}

/// The kids of a field that are fields themselves; kids without /T and /Kids are its widgets.
fn child_fields(
    r: &mut Reader,
    kids: Option<&Node>,
    seen: &HashSet<(u32, u16)>,
) -> Result<Vec<Node>, SigningError> {
    let field_kids: Vec<Node> = match kids.and_then(|k| k.value.as_array().map(|a| (k, a))) {
        Some((k, a)) => a.iter().map(|v| k.child(v)).collect(),
        None => Vec::new(),
    };
    let mut child_fields = Vec::new();
    for kid in field_kids {
        if let Some(id) = kid.value.as_ref() {
            if seen.contains(&id) {
                return Err(damaged(
                    "the form field tree loops or lists the same field twice",
                ));
            }
        }
        let resolved = r.resolve(&kid)?;
        // A widget never has /Kids: a kid with /T or /Kids is a (possibly unnamed) field.
        let is_field = resolved
            .as_ref()
            .map(|k| k.get(b"T").is_some() || k.get(b"Kids").is_some())
            == Some(true);
        if is_field {
            child_fields.push(kid);
        }
    }
    Ok(child_fields)
}

/// The DocMDP permission level (/P of the certification signature), if the file is certified.
pub fn docmdp_level(r: &mut Reader, catalog: &Node) -> Result<Option<i64>, SigningError> {
    let Some(perms) = r.get_key(catalog, b"Perms")? else {
        return Ok(None);
    };
    let Some(sig) = r.get_key(&perms, b"DocMDP")? else {
        return Ok(None);
    };
    let Some(refs) = r.get_key(&sig, b"Reference")? else {
        return Ok(Some(2));
    };
    let Some(items) = refs.value.as_array() else {
        return Ok(Some(2));
    };
    for item in items.iter().map(|v| refs.child(v)).collect::<Vec<_>>() {
        let Some(sigref) = r.resolve(&item)? else {
            continue;
        };
        let is_docmdp = sigref
            .get(b"TransformMethod")
            .and_then(|m| m.value.as_name().map(|n| n == b"DocMDP"))
            == Some(true);
        if !is_docmdp {
            continue;
        }
        let p = match r.get_key(&sigref, b"TransformParams")? {
            Some(tp) => r.get_key(&tp, b"P")?.and_then(|p| p.value.as_int()),
            None => None,
        };
        return Ok(Some(p.unwrap_or(2)));
    }
    Ok(Some(2))
}
