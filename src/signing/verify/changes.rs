//! What changed in the document after a signature: compares the objects of the signed revision
//! with the final file. New objects are harmless until an old object points at them, so the
//! verdict rests on the old objects that changed. The allowed changes follow the usual rules for
//! signing workflows (and pyHanko's): new signature fields and widgets, filling an empty
//! signature field, AcroForm /Fields, the DSS and its VRI, /Info and XMP metadata.

use super::structure::{catalog, catalog_id, get_dict, resolve};
use lopdf::{Dictionary, Document, Object, ObjectId};
use serde::Serialize;
use std::collections::HashSet;

/// How many changed objects are named in a report at most.
const MAX_DETAILS: usize = 20;
/// How many objects a reachability walk visits at most.
const MAX_WALK: usize = 100_000;

/// The kind of change made to the document after a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeLevel {
    /// The signature covers the whole file.
    None,
    /// Only signatures, signature fields, DSS/VRI data, document timestamps or metadata added.
    SignaturesOnly,
    /// Anything else (page content, other objects, new pages, removed objects…).
    Other,
}

/// Catalog keys that signing or archiving may change.
const CATALOG_KEYS: &[&[u8]] = &[
    b"AcroForm",
    b"DSS",
    b"Extensions",
    b"Metadata",
    b"MarkInfo",
    b"Version",
];
/// AcroForm keys that signing may change.
const ACROFORM_KEYS: &[&[u8]] = &[
    b"Fields",
    b"DR",
    b"DA",
    b"Q",
    b"NeedAppearances",
    b"SigFlags",
];

fn same(a: &Object, b: &Object) -> bool {
    match (a, b) {
        // Streams rewritten unchanged at another offset are the same object.
        (Object::Stream(x), Object::Stream(y)) => x.dict == y.dict && x.content == y.content,
        _ => a == b,
    }
}

fn type_of(o: &Object) -> Option<&[u8]> {
    let d = match o {
        Object::Dictionary(d) => d,
        Object::Stream(s) => &s.dict,
        _ => return None,
    };
    d.get(b"Type").ok().and_then(|t| t.as_name().ok())
}

/// Keys whose values differ between two dictionaries.
fn changed_keys(old: &Dictionary, new: &Dictionary) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = old
        .iter()
        .filter(|(k, v)| new.get(k).map(|n| !same(v, n)).unwrap_or(true))
        .map(|(k, _)| k.clone())
        .collect();
    keys.extend(
        new.iter()
            .filter(|(k, _)| !old.has(k))
            .map(|(k, _)| k.clone()),
    );
    keys
}

fn only_keys(old: &Dictionary, new: &Dictionary, allowed: &[&[u8]]) -> Result<(), String> {
    let bad: Vec<String> = changed_keys(old, new)
        .into_iter()
        .filter(|k| !allowed.contains(&k.as_slice()))
        .map(|k| format!("/{}", String::from_utf8_lossy(&k)))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join(", "))
    }
}

/// Every element of `old` is still in `new`, and every added element is a signature field or
/// the widget of one. `None` for `old` means an array that did not exist before.
fn grown_with_sigs(
    old_doc: &Document,
    old: Option<&Object>,
    new_doc: &Document,
    new: &Object,
) -> Result<(), String> {
    let empty = Vec::new();
    let old = old.and_then(|o| resolve(old_doc, o));
    let new = resolve(new_doc, new).unwrap_or(new);
    let o = match old {
        None => &empty,
        Some(Object::Array(o)) => o,
        Some(_) => return Err("not an array".into()),
    };
    let Object::Array(n) = new else {
        return Err("an array was replaced by something else".into());
    };
    if !o.iter().all(|x| n.contains(x)) {
        return Err("entries were removed from a /Fields or /Annots array".into());
    }
    for added in n.iter().filter(|x| !o.contains(x)) {
        match resolve(new_doc, added) {
            Some(Object::Dictionary(d)) if is_sig_field(new_doc, d) => {}
            _ => {
                return Err(
                    "something other than a signature field was added to the form or a page".into(),
                )
            }
        }
    }
    Ok(())
}

/// Object ids reachable from `start` (bounded).
fn reachable(doc: &Document, start: &Object) -> HashSet<ObjectId> {
    let mut seen = HashSet::new();
    let mut stack = vec![start];
    while let Some(o) = stack.pop() {
        if seen.len() >= MAX_WALK {
            break;
        }
        match o {
            Object::Reference(id) if seen.insert(*id) => {
                if let Some(t) = doc.objects.get(id) {
                    stack.push(t);
                }
            }
            Object::Array(a) => stack.extend(a.iter()),
            Object::Dictionary(d) => stack.extend(d.iter().map(|(_, v)| v)),
            Object::Stream(s) => stack.extend(s.dict.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    seen
}

fn is_sig_field(doc: &Document, d: &Dictionary) -> bool {
    let mut cur = Some(d);
    for _ in 0..32 {
        let Some(node) = cur else { return false };
        if let Ok(ft) = node.get(b"FT").and_then(|o| o.as_name()) {
            return ft == b"Sig";
        }
        cur = get_dict(doc, node, b"Parent");
    }
    false
}

/// The field (or the field a widget belongs to) has a value: it is signed.
fn is_signed(doc: &Document, d: &Dictionary) -> bool {
    let mut cur = Some(d);
    for _ in 0..32 {
        let Some(node) = cur else { return false };
        if node.has(b"V") {
            return true;
        }
        cur = get_dict(doc, node, b"Parent");
    }
    false
}

/// The classification of everything that changed between `old` (the signed revision) and
/// `new` (the final file), with the changed objects named.
/// The outcome of comparing a signed revision with the final file.
#[derive(Debug, Clone)]
pub(crate) struct Changes {
    pub level: ChangeLevel,
    /// The changed objects that make the level `Other`.
    pub details: Vec<String>,
    /// New form fields were created that a certification forbids: any field other than a
    /// signature field, or a visible signature field. As in pyHanko, a new invisible
    /// signature field (no widget with an area) is allowed after a certification; a visible
    /// one must be an existing empty field filled.
    pub fields_added: bool,
}

/// Object ids of every form field (bounded walk of /Fields and /Kids).
fn form_fields(doc: &Document) -> HashSet<ObjectId> {
    let fields = catalog(doc)
        .and_then(|c| get_dict(doc, c, b"AcroForm"))
        .and_then(|f| f.get(b"Fields").ok());
    let mut seen = HashSet::new();
    let mut stack: Vec<&Object> = fields.into_iter().collect();
    while let Some(o) = stack.pop() {
        if seen.len() >= MAX_WALK {
            break;
        }
        match o {
            Object::Reference(id) if seen.insert(*id) => {
                if let Some(t) = doc.objects.get(id) {
                    stack.push(t);
                }
            }
            Object::Array(a) => stack.extend(a.iter()),
            Object::Dictionary(d) => {
                if let Ok(k) = d.get(b"Kids") {
                    stack.push(k);
                }
            }
            _ => {}
        }
    }
    seen
}

/// Whether an annotation's /Rect has an area (pyHanko's `is_annot_visible`).
fn has_area(doc: &Document, d: &Dictionary) -> bool {
    let Some(Object::Array(r)) = d.get(b"Rect").ok().and_then(|o| resolve(doc, o)) else {
        return false;
    };
    let n: Vec<f64> = r
        .iter()
        .filter_map(|v| match resolve(doc, v)? {
            Object::Integer(i) => Some(*i as f64),
            Object::Real(f) => Some(f64::from(*f)),
            _ => None,
        })
        .collect();
    match n[..] {
        [x1, y1, x2, y2] => (x1 - x2).abs() * (y1 - y2).abs() > 0.0,
        _ => false,
    }
}

/// Whether a field or one of its widgets (/Kids) is visible (pyHanko's `is_field_visible`).
fn visible(doc: &Document, field: &Dictionary) -> bool {
    if has_area(doc, field) {
        return true;
    }
    match field.get(b"Kids").ok().and_then(|k| resolve(doc, k)) {
        Some(Object::Array(kids)) => kids.iter().any(|k| match resolve(doc, k) {
            Some(Object::Dictionary(w)) => has_area(doc, w),
            _ => false,
        }),
        _ => false,
    }
}

/// Compares `old` (the signed revision) with `new` (the final file).
pub(crate) fn compare(old: &Document, new: &Document) -> Changes {
    let (level, details) = classify(old, new);
    let before = form_fields(old);
    let fields_added = form_fields(new).into_iter().any(|id| {
        !before.contains(&id)
            && match new.objects.get(&id) {
                Some(Object::Dictionary(d)) => !is_sig_field(new, d) || visible(new, d),
                _ => false,
            }
    });
    Changes {
        level,
        details,
        fields_added,
    }
}

fn classify(old: &Document, new: &Document) -> (ChangeLevel, Vec<String>) {
    let mut details = Vec::new();
    let other = |msg: String, details: &mut Vec<String>| {
        if details.len() < MAX_DETAILS {
            details.push(msg);
        }
    };
    if old.trailer.get(b"Root").ok() != new.trailer.get(b"Root").ok() {
        other("the document catalog was replaced".into(), &mut details);
    }
    let cat_id = catalog_id(old);
    let old_cat = catalog(old);
    let form_obj = old_cat.and_then(|c| c.get(b"AcroForm").ok());
    let form_id = form_obj.and_then(|o| o.as_reference().ok());
    let form = old_cat.and_then(|c| get_dict(old, c, b"AcroForm"));
    let fields_id = form
        .and_then(|f| f.get(b"Fields").ok())
        .and_then(|o| o.as_reference().ok());
    let dss_ids = old_cat
        .and_then(|c| c.get(b"DSS").ok())
        .map(|d| reachable(old, d))
        .unwrap_or_default();
    let meta_ids: HashSet<ObjectId> = old_cat
        .and_then(|c| c.get(b"Metadata").ok())
        .and_then(|o| o.as_reference().ok())
        .into_iter()
        .collect();
    let info_ids = old
        .trailer
        .get(b"Info")
        .map(|i| reachable(old, i))
        .unwrap_or_default();
    let annots_ids: HashSet<ObjectId> = old
        .objects
        .values()
        .filter(|o| type_of(o) == Some(b"Page"))
        .filter_map(|o| o.as_dict().ok()?.get(b"Annots").ok()?.as_reference().ok())
        .collect();

    for (id, old_obj) in &old.objects {
        if matches!(type_of(old_obj), Some(b"XRef") | Some(b"ObjStm")) {
            continue;
        }
        let Some(new_obj) = new.objects.get(id) else {
            other(
                format!("object {} {} was removed", id.0, id.1),
                &mut details,
            );
            continue;
        };
        if same(old_obj, new_obj) {
            continue;
        }
        if dss_ids.contains(id) || meta_ids.contains(id) || info_ids.contains(id) {
            continue;
        }
        let verdict = judge(
            old,
            new,
            *id,
            old_obj,
            new_obj,
            &Roles {
                catalog: cat_id,
                form: form_id,
                fields: fields_id,
                annots: &annots_ids,
            },
        );
        if let Err(why) = verdict {
            other(format!("object {} {}: {why}", id.0, id.1), &mut details);
        }
    }
    let level = if details.is_empty() {
        ChangeLevel::SignaturesOnly
    } else {
        ChangeLevel::Other
    };
    (level, details)
}

struct Roles<'a> {
    catalog: Option<ObjectId>,
    form: Option<ObjectId>,
    fields: Option<ObjectId>,
    annots: &'a HashSet<ObjectId>,
}

fn judge(
    old: &Document,
    new: &Document,
    id: ObjectId,
    old_obj: &Object,
    new_obj: &Object,
    roles: &Roles<'_>,
) -> Result<(), String> {
    if Some(id) == roles.fields || roles.annots.contains(&id) {
        return grown_with_sigs(old, Some(old_obj), new, new_obj);
    }
    let (Object::Dictionary(o), Object::Dictionary(n)) = (old_obj, new_obj) else {
        return Err(format!(
            "changed ({})",
            type_of(old_obj)
                .map(|t| String::from_utf8_lossy(t).into_owned())
                .unwrap_or_else(|| "not a dictionary".into())
        ));
    };
    if Some(id) == roles.catalog {
        only_keys(o, n, CATALOG_KEYS).map_err(|k| format!("catalog keys changed: {k}"))?;
        // A direct /AcroForm is judged like an indirect one.
        if let (Ok(Object::Dictionary(of)), Ok(Object::Dictionary(nf))) =
            (o.get(b"AcroForm"), n.get(b"AcroForm"))
        {
            return acroform(old, new, of, nf);
        }
        return Ok(());
    }
    if Some(id) == roles.form {
        return acroform(old, new, o, n);
    }
    if type_of(old_obj) == Some(b"Page") {
        only_keys(o, n, &[b"Annots"]).map_err(|k| format!("page keys changed: {k}"))?;
        return match (o.get(b"Annots").ok(), n.get(b"Annots")) {
            (Some(a), Ok(b)) if a.as_reference().is_ok() && a == b => Ok(()),
            (a, Ok(b)) => grown_with_sigs(old, a, new, b),
            (_, Err(_)) => Err("page annotations were removed".into()),
        };
    }
    if is_sig_field(old, o) {
        // Filling an empty signature field (or re-rendering its widget) is signing.
        if o.has(b"V") && o.get(b"V").ok() != n.get(b"V").ok() {
            return Err("an existing signature value was replaced".into());
        }
        if !is_sig_field(new, n) {
            return Err("a signature field changed type".into());
        }
        // A field that stays unsigned must not change: a new appearance on an empty signature
        // field would show something nobody signed.
        if !is_signed(new, n) {
            return Err("an unsigned signature field was changed".into());
        }
        return Ok(());
    }
    if let Some(Object::Dictionary(_)) = o.get(b"V").ok().and_then(|v| resolve(old, v)) {
        return Err("form field value changed".into());
    }
    Err(format!(
        "changed ({})",
        type_of(old_obj)
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .unwrap_or_else(|| "dictionary".into())
    ))
}

fn acroform(
    old_doc: &Document,
    new_doc: &Document,
    o: &Dictionary,
    n: &Dictionary,
) -> Result<(), String> {
    only_keys(o, n, ACROFORM_KEYS).map_err(|k| format!("AcroForm keys changed: {k}"))?;
    match (o.get(b"Fields").ok(), n.get(b"Fields")) {
        // The same indirect array is judged as an object of its own.
        (Some(a), Ok(b)) if a == b && a.as_reference().is_ok() => Ok(()),
        (a, Ok(b)) => grown_with_sigs(old_doc, a, new_doc, b),
        (_, Err(_)) => Err("form fields were removed".into()),
    }
}
