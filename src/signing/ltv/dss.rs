//! Writes the Document Security Store update (ISO 32000-2 12.8.4.3, PAdES B-LT): one stream
//! per certificate, OCSP response and CRL, the /DSS dictionary that lists them, and the
//! catalog pointing to it, appended as a new incremental update. An existing DSS keeps its
//! entries and is extended; no /VRI is written (see docs/SIGNING.md).

use super::collect::{ExistingDss, Item};
use super::gather::Gathered;
use crate::signing::pdf::document;
use crate::signing::pdf::reader::Reader;
use crate::signing::pdf::source::Source;
use crate::signing::pdf::writer::{rewrite_dict, Update};
use crate::signing::pdf::xref::XrefKind;
use crate::signing::SigningError;

/// How many new streams the update adds, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DssAdded {
    pub certs: usize,
    pub ocsps: usize,
    pub crls: usize,
}

/// The update's bytes, to append after `src`, and what it added.
pub(super) fn write(
    src: &dyn Source,
    r: &Reader,
    catalog: &crate::signing::pdf::object::Node,
    existing: &ExistingDss,
    new: &Gathered,
) -> Result<(Vec<u8>, DssAdded), SigningError> {
    let catalog_id = catalog
        .id
        .ok_or_else(|| SigningError::Damaged("the catalog is not an indirect object".into()))?;
    let last = match src.len() {
        0 => None,
        n => src.window(n - 1, 1)?.first().copied(),
    };
    let mut update = Update::new(src.len(), last);
    let mut next = r.xref.next_free;
    let mut added = DssAdded::default();
    let mut arrays: Vec<(&'static [u8], Vec<u8>)> = Vec::new();
    for (key, old, items, count) in [
        (&b"Certs"[..], &existing.certs, &new.certs, &mut added.certs),
        (&b"OCSPs"[..], &existing.ocsps, &new.ocsps, &mut added.ocsps),
        (&b"CRLs"[..], &existing.crls, &new.crls, &mut added.crls),
    ] {
        let mut array = b"[".to_vec();
        for Item { raw, .. } in old {
            array.extend_from_slice(raw);
            array.push(b' ');
        }
        for data in items {
            if old.iter().any(|o| &o.data == data) {
                continue;
            }
            let num = next;
            next += 1;
            let mut body = format!("<< /Length {} >>\nstream\n", data.len()).into_bytes();
            body.extend_from_slice(data);
            body.extend_from_slice(b"\nendstream");
            update.object(num, 0, &body);
            array.extend_from_slice(format!("{num} 0 R ").as_bytes());
            *count += 1;
        }
        if array.len() > 1 {
            array.pop();
            array.push(b']');
            arrays.push((key, array));
        }
    }
    let dss_body = match &existing.node {
        Some(node) => rewrite_dict(node, &node.value, &arrays),
        None => {
            let mut d = b"<< /Type /DSS".to_vec();
            for (k, v) in &arrays {
                d.push(b' ');
                d.push(b'/');
                d.extend_from_slice(k);
                d.push(b' ');
                d.extend_from_slice(v);
            }
            d.extend_from_slice(b" >>");
            d
        }
    };
    match existing.id {
        // An indirect DSS is rewritten under its own number: the catalog stays as it is.
        Some((num, gen)) => {
            update.object(num, gen, &dss_body);
        }
        None => {
            let num = next;
            next += 1;
            update.object(num, 0, &dss_body);
            let reference = format!("{num} 0 R").into_bytes();
            let cat = rewrite_dict(catalog, &catalog.value, &[(b"DSS", reference)]);
            update.object(catalog_id.0, catalog_id.1, &cat);
        }
    }
    let (xref_num, size) = match r.xref.kind {
        XrefKind::Stream => (next, next + 1),
        XrefKind::Table => (0, next),
    };
    Ok((
        update.finish(
            r.xref.kind,
            &r.xref.trailer,
            r.xref.startxref,
            size,
            xref_num,
        ),
        added,
    ))
}

/// The catalog, for the update (re-exported for the caller's single read).
pub(super) fn catalog(r: &mut Reader) -> Result<crate::signing::pdf::object::Node, SigningError> {
    document::catalog(r)
}
