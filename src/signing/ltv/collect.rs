//! What an extension starts from: the signatures and document timestamps already in the file,
//! and the Document Security Store it may already have, read on demand through the xref.

use crate::signing::pdf::document;
use crate::signing::pdf::lexer::Kind;
use crate::signing::pdf::object::Node;
use crate::signing::pdf::reader::Reader;
use crate::signing::SigningError;

/// One signature or document timestamp of the file.
pub(super) struct Found {
    /// Fully qualified field name.
    pub field: String,
    /// The /Contents bytes (CMS SignedData, or an RFC 3161 token).
    pub contents: Vec<u8>,
    pub doc_timestamp: bool,
    /// Where its /ByteRange ends: the revision it signs.
    pub end: u64,
}

/// One entry of an existing /DSS array: as written (a reference), and its stream's data.
pub(super) struct Item {
    pub raw: Vec<u8>,
    pub data: Vec<u8>,
}

/// The /DSS of the file, if any.
#[derive(Default)]
pub(super) struct ExistingDss {
    /// The DSS dictionary (resolved) and its object id when it is an indirect object.
    pub node: Option<Node>,
    pub id: Option<(u32, u16)>,
    pub certs: Vec<Item>,
    pub ocsps: Vec<Item>,
    pub crls: Vec<Item>,
}

/// Every signature and document timestamp (in revision order) and the DSS.
pub(super) fn read(r: &mut Reader) -> Result<(Vec<Found>, ExistingDss), SigningError> {
    document::check_not_encrypted(r)?;
    let catalog = document::catalog(r)?;
    let mut found = Vec::new();
    if let Some(acro) = r.get_key(&catalog, b"AcroForm")? {
        for f in document::fields(r, &acro)? {
            if !f.signed {
                continue;
            }
            let Some(sig) = r.get_key(&f.node, b"V")? else {
                continue;
            };
            found.push(signature(&f.name, &sig)?);
        }
    }
    found.sort_by_key(|f| f.end);
    let dss = existing_dss(r, &catalog)?;
    Ok((found, dss))
}

fn name_of(n: &Node, key: &[u8]) -> Option<Vec<u8>> {
    n.get(key)
        .and_then(|v| v.value.as_name().map(<[u8]>::to_vec))
}

fn signature(field: &str, sig: &Node) -> Result<Found, SigningError> {
    let damaged = |what: &str| SigningError::Damaged(format!("signature `{field}`: {what}"));
    let contents = match sig.get(b"Contents").map(|c| c.value.kind) {
        Some(Kind::Str(s)) => s,
        _ => return Err(damaged("no /Contents string")),
    };
    let br: Vec<i64> = sig
        .get(b"ByteRange")
        .and_then(|b| {
            b.value
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_int()).collect())
        })
        .unwrap_or_default();
    let end = match br[..] {
        [_, _, start, len] if start >= 0 && len >= 0 => (start + len) as u64,
        _ => return Err(damaged("no valid /ByteRange")),
    };
    let doc_timestamp = name_of(sig, b"Type").as_deref() == Some(b"DocTimeStamp")
        || name_of(sig, b"SubFilter").as_deref() == Some(b"ETSI.RFC3161");
    Ok(Found {
        field: field.to_string(),
        contents,
        doc_timestamp,
        end,
    })
}

fn existing_dss(r: &mut Reader, catalog: &Node) -> Result<ExistingDss, SigningError> {
    let Some(entry) = catalog.get(b"DSS") else {
        return Ok(ExistingDss::default());
    };
    let Some(node) = r.resolve(&entry)? else {
        return Ok(ExistingDss::default());
    };
    if node.dict().is_none() {
        return Err(SigningError::Damaged(
            "the catalog /DSS is not a dictionary".into(),
        ));
    }
    let mut out = ExistingDss {
        id: entry.value.as_ref(),
        ..ExistingDss::default()
    };
    out.certs = items(r, &node, b"Certs")?;
    out.ocsps = items(r, &node, b"OCSPs")?;
    out.crls = items(r, &node, b"CRLs")?;
    out.node = Some(node);
    Ok(out)
}

/// The streams of one DSS array; entries that are not stream references are dropped (a
/// validator could not read them either).
fn items(r: &mut Reader, dss: &Node, key: &[u8]) -> Result<Vec<Item>, SigningError> {
    let Some(list) = r.get_key(dss, key)? else {
        return Ok(Vec::new());
    };
    let Some(values) = list.value.as_array() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for v in values {
        let Some((num, gen)) = v.as_ref() else {
            continue;
        };
        if let Some(data) = r.stream_data(num, gen)? {
            out.push(Item {
                raw: list.raw_of(v).to_vec(),
                data,
            });
        }
    }
    Ok(out)
}
