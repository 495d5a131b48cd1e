//! Plans and writes the incremental update of one signature, with placeholders for /ByteRange and
//! /Contents whose positions are known because the signature dictionary is written here.

use super::appearance::{Appearance, StampSpec};
use super::options::SignOptions;
use super::pdf::document::{self, FieldInfo};
use super::pdf::object::Node;
use super::pdf::reader::Reader;
use super::pdf::source::Source;
use super::pdf::writer::{text_string, Update};
use super::SigningError;

mod plan;

use plan::{
    add_docmdp_perms, add_new_field, fill_existing_field, rewrite_acroform, rewrite_catalog,
    NewField, Plan,
};

/// Width reserved for the /ByteRange array's numbers (they are padded with spaces).
const BYTE_RANGE_WIDTH: usize = 64;

/// Builds the objects of a visible stamp numbered from the given object number
/// (normally [`super::appearance::build`]).
pub type AppearanceBuilder = fn(&StampSpec, u32) -> Result<Appearance, SigningError>;

/// An update ready to be hashed and signed.
pub struct Prepared {
    /// Bytes to append after the original file.
    pub update: Vec<u8>,
    /// Position in `update` of the `[` of /ByteRange.
    pub byte_range_at: usize,
    /// Position in `update` of the `<` of /Contents.
    pub contents_start: usize,
    /// Position in `update` just after the `>` of /Contents.
    pub contents_end: usize,
    /// Fully qualified name of the signed field.
    pub field: String,
    /// Whether this is a certification signature.
    pub certify: bool,
}

impl Prepared {
    /// Fills /ByteRange for an output of `orig_len + update.len()` bytes; returns the four numbers.
    pub fn patch_byte_range(&mut self, orig_len: u64) -> Result<[u64; 4], SigningError> {
        let total = orig_len + self.update.len() as u64;
        let cs = orig_len + self.contents_start as u64;
        let ce = orig_len + self.contents_end as u64;
        let br = [0, cs, ce, total - ce];
        let text = format!("[0 {} {} {}", br[1], br[2], br[3]);
        if text.len() > BYTE_RANGE_WIDTH + 1 {
            return Err(SigningError::Unsupported("file too large".into()));
        }
        let slot = &mut self.update[self.byte_range_at..self.byte_range_at + BYTE_RANGE_WIDTH + 2];
        slot.fill(b' ');
        slot[..text.len()].copy_from_slice(text.as_bytes());
        slot[BYTE_RANGE_WIDTH + 1] = b']';
        Ok(br)
    }

    /// Writes the CMS DER as hex into /Contents.
    pub fn patch_contents(&mut self, cms: &[u8]) -> Result<(), SigningError> {
        let room = self.contents_end - self.contents_start - 2;
        if cms.len() * 2 > room {
            return Err(SigningError::Internal(format!(
                "signature of {} bytes does not fit the {} reserved",
                cms.len(),
                room / 2
            )));
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let slot = &mut self.update[self.contents_start + 1..self.contents_end - 1];
        for (i, b) in cms.iter().enumerate() {
            slot[2 * i] = HEX[usize::from(b >> 4)];
            slot[2 * i + 1] = HEX[usize::from(b & 15)];
        }
        Ok(())
    }
}

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

/// What the signature dictionary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SigKind {
    /// A CAdES signature (`/Type /Sig`, `/SubFilter /ETSI.CAdES.detached`).
    Signature,
    /// A document timestamp (`/Type /DocTimeStamp`, `/SubFilter /ETSI.RFC3161`): an RFC 3161
    /// token over the byte ranges, in a new invisible field.
    DocTimeStamp,
}

/// Reads what is needed from `src` and writes the update with placeholders.
pub fn prepare(
    src: &dyn Source,
    opts: &SignOptions,
    contents_reserve: usize,
    build_appearance: AppearanceBuilder,
) -> Result<Prepared, SigningError> {
    prepare_as(
        src,
        opts,
        contents_reserve,
        build_appearance,
        SigKind::Signature,
    )
}

/// The update of a document timestamp (PAdES B-LTA) in a new invisible field, with room for a
/// token of `contents_reserve` bytes. PAdES allows it after any certification (even P=1), as
/// it changes nothing but adds a timestamp.
pub fn prepare_doc_timestamp(
    src: &dyn Source,
    contents_reserve: usize,
) -> Result<Prepared, SigningError> {
    prepare_as(
        src,
        &SignOptions::default(),
        contents_reserve,
        super::appearance::build,
        SigKind::DocTimeStamp,
    )
}

fn prepare_as(
    src: &dyn Source,
    opts: &SignOptions,
    contents_reserve: usize,
    build_appearance: AppearanceBuilder,
    kind: SigKind,
) -> Result<Prepared, SigningError> {
    opts.validate()?;
    let mut r = Reader::open(src)?;
    let doc = read_document(&mut r)?;
    if kind == SigKind::Signature {
        check_certification(opts, &doc)?;
    }
    // Under a certification (P=2 or 3) a new visible field breaks it in pyHanko's eyes: without
    // --field an empty field is filled; a new field may only be invisible (pyHanko accepts
    // that, as the certify_then_sign test checks). A document timestamp never takes a field
    // meant for a signer.
    let picked = match (&opts.field, doc.docmdp, kind) {
        (None, Some(_), SigKind::Signature) => certified_field(opts, &doc)?,
        _ => None,
    };
    let existing = match picked {
        Some(f) => Some(f),
        None => existing_field(opts.field.as_deref(), &doc.fields)?,
    };
    let in_field = opts.visible.as_ref().is_some_and(|v| v.in_field);
    let field_name = match existing {
        Some(f) => f.name.clone(),
        None if in_field => {
            return Err(SigningError::Field(format!(
                "the document has no empty signature field `{}` to stamp into",
                opts.field.as_deref().unwrap_or_default()
            )))
        }
        None => {
            if doc.docmdp.is_some() && opts.visible.is_some() {
                return Err(SigningError::CertifiedFieldRequired(
                    "a new visible signature field would break its certification (DocMDP); \
                     it has no empty signature field to sign into (sign invisibly, or certify a \
                     document whose empty fields already exist)"
                        .into(),
                ));
            }
            let prefix = match kind {
                SigKind::Signature => "Signature",
                SigKind::DocTimeStamp => "DocTimeStamp",
            };
            new_field_name(opts.field.as_deref(), &doc.fields, prefix)?
        }
    };

    let mut plan = Plan::new(r.xref.next_free);
    let mut update = Update::new(src.len(), last_byte(src)?);
    // The signature dictionary, first, so the placeholder positions are known.
    let (sig_body, br_rel, cs_rel, ce_rel) = signature_dict(kind, opts, contents_reserve);
    let at = update.object(plan.sig_num, 0, &sig_body);
    let (byte_range_at, contents_start, contents_end) = (at + br_rel, at + cs_rel, at + ce_rel);

    if sig_flags(doc.acroform.as_ref()) != Some(3) {
        plan.acro_changes.push((b"SigFlags", b"3".to_vec()));
    }
    match existing {
        Some(f) => {
            // A field picked here (not named), or named to be stamped in place, takes the stamp
            // in its own rectangle.
            let stamp_with = (picked.is_some() || in_field).then_some(build_appearance);
            fill_existing_field(&mut plan, f, opts, stamp_with)?
        }
        None => {
            let field = NewField {
                name: &field_name,
                opts,
                build_appearance,
            };
            add_new_field(&mut plan, &mut r, &doc, &field)?;
        }
    }
    rewrite_acroform(&mut plan, &doc)?;
    if opts.certify {
        add_docmdp_perms(&mut plan, &mut r, &doc.catalog)?;
    }
    rewrite_catalog(&mut plan, &doc);
    Ok(Prepared {
        update: plan.write(update, &r.xref),
        byte_range_at,
        contents_start,
        contents_end,
        field: field_name,
        certify: opts.certify,
    })
}

/// What of the document the update depends on, read once.
struct Document {
    catalog: Node,
    catalog_id: (u32, u16),
    pages: Vec<Node>,
    /// The /P of an existing certification signature.
    docmdp: Option<i64>,
    /// The catalog's /AcroForm entry as written: a reference, or the dictionary itself.
    acro_entry: Option<Node>,
    /// The AcroForm dictionary (resolved), if there is one.
    acroform: Option<Node>,
    fields: Vec<FieldInfo>,
}

fn read_document(r: &mut Reader) -> Result<Document, SigningError> {
    document::check_not_encrypted(r)?;
    let catalog = document::catalog(r)?;
    let catalog_id = catalog
        .id
        .ok_or_else(|| damaged("the catalog is not an indirect object"))?;
    let pages = document::pages(r, &catalog)?;
    let docmdp = document::docmdp_level(r, &catalog)?;
    let acro_entry = catalog.get(b"AcroForm");
    let acroform = match &acro_entry {
        Some(e) => r.resolve(e)?,
        None => None,
    };
    if let Some(a) = &acroform {
        if a.dict().is_none() {
            return Err(damaged("the catalog /AcroForm is not a dictionary"));
        }
    }
    let fields = match &acroform {
        Some(a) => document::fields(r, a)?,
        None => Vec::new(),
    };
    Ok(Document {
        catalog,
        catalog_id,
        pages,
        docmdp,
        acro_entry,
        acroform,
        fields,
    })
}

/// A certification must be the first signature, and DocMDP P=1 allows no further signature.
fn check_certification(opts: &SignOptions, doc: &Document) -> Result<(), SigningError> {
    let signed = doc.fields.iter().filter(|f| f.signed).count();
    if opts.certify && (signed > 0 || doc.docmdp.is_some()) {
        return Err(SigningError::CertifyNotFirst);
    }
    if doc.docmdp == Some(1) {
        return Err(SigningError::CertifiedNoChanges);
    }
    Ok(())
}

/// The empty signature field a signature without `--field` fills in a certified document: the
/// only one, or the first one on the target page (the stamp's, else page 1). None when there
/// is no empty field at all; several and none on that page is refused, naming them.
fn certified_field<'d>(
    opts: &SignOptions,
    doc: &'d Document,
) -> Result<Option<&'d FieldInfo>, SigningError> {
    let empty: Vec<&FieldInfo> = doc
        .fields
        .iter()
        .filter(|f| f.is_signature && !f.signed)
        .collect();
    let page = opts.visible.as_ref().map_or(1, |v| v.page) as usize;
    let page_id = doc.pages.get(page.saturating_sub(1)).and_then(|p| p.id);
    match empty[..] {
        [] => Ok(None),
        [only] => Ok(Some(only)),
        _ => match empty.iter().find(|f| on_page(f, page_id)) {
            Some(f) => Ok(Some(f)),
            None => Err(SigningError::CertifiedFieldRequired(format!(
                "none of its empty signature fields ({}) is on page {page}; name one with --field",
                empty
                    .iter()
                    .map(|f| format!("`{}`", f.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
    }
}

/// Whether the field's widget names `page` as its page (/P).
fn on_page(f: &FieldInfo, page: Option<(u32, u16)>) -> bool {
    let p = f.node.get(b"P").and_then(|p| p.value.as_ref());
    page.is_some() && p == page
}

/// The existing field `name` names, if any; it must be an empty signature field.
fn existing_field<'f>(
    name: Option<&str>,
    fields: &'f [FieldInfo],
) -> Result<Option<&'f FieldInfo>, SigningError> {
    let Some(name) = name else {
        return Ok(None);
    };
    match fields.iter().find(|f| f.name == name) {
        Some(f) if !f.is_signature => Err(SigningError::Field(format!(
            "field `{name}` is not a signature field"
        ))),
        Some(f) if f.signed => Err(SigningError::Field(format!(
            "field `{name}` is already signed"
        ))),
        found => Ok(found),
    }
}

/// The name of a new field: `name` if it can name one, else the first free `SignatureN`.
fn new_field_name(
    name: Option<&str>,
    fields: &[FieldInfo],
    prefix: &str,
) -> Result<String, SigningError> {
    let Some(name) = name else {
        return Ok((1..)
            .map(|i| format!("{prefix}{i}"))
            .find(|n| {
                !fields
                    .iter()
                    .any(|f| f.name == *n || f.name.starts_with(&format!("{n}.")))
            })
            .unwrap_or_else(|| prefix.into()));
    };
    if name.is_empty() || name.contains('.') {
        return Err(SigningError::Field(format!(
            "`{name}` cannot name a new field (empty, or contains a dot)"
        )));
    }
    if fields
        .iter()
        .any(|f| f.name.starts_with(&format!("{name}.")))
    {
        return Err(SigningError::Field(format!(
            "`{name}` is the name of a field group"
        )));
    }
    Ok(name.to_string())
}

fn sig_flags(acroform: Option<&Node>) -> Option<i64> {
    acroform
        .and_then(|a| a.get(b"SigFlags"))
        .and_then(|v| v.value.as_int())
}

fn last_byte(src: &dyn Source) -> Result<Option<u8>, SigningError> {
    let len = src.len();
    if len == 0 {
        return Ok(None);
    }
    Ok(src.window(len - 1, 1)?.first().copied())
}

/// The signature dictionary with placeholders; returns it and the positions of the /ByteRange
/// `[`, and of the /Contents `<` and just past its `>`.
fn signature_dict(
    kind: SigKind,
    opts: &SignOptions,
    reserve: usize,
) -> (Vec<u8>, usize, usize, usize) {
    let mut d = match kind {
        SigKind::Signature => {
            b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange "
                .to_vec()
        }
        SigKind::DocTimeStamp => {
            b"<< /Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161 /ByteRange "
                .to_vec()
        }
    };
    let br = d.len();
    d.push(b'[');
    d.extend_from_slice(&[b' '; BYTE_RANGE_WIDTH]);
    d.push(b']');
    d.extend_from_slice(b" /Contents ");
    let cs = d.len();
    d.push(b'<');
    d.resize(d.len() + reserve * 2, b'0');
    d.push(b'>');
    let ce = d.len();
    if kind == SigKind::DocTimeStamp {
        // The token's genTime is the time; a document timestamp names no signer.
        d.extend_from_slice(b" >>");
        return (d, br, cs, ce);
    }
    d.extend_from_slice(b" /M ");
    d.extend_from_slice(&text_string(&opts.pdf_date()));
    for (key, val) in [
        ("Name", &opts.name),
        ("Reason", &opts.reason),
        ("Location", &opts.location),
        ("ContactInfo", &opts.contact_info),
    ] {
        if let Some(v) = val {
            d.extend_from_slice(format!(" /{key} ").as_bytes());
            d.extend_from_slice(&text_string(v));
        }
    }
    if opts.certify {
        d.extend_from_slice(
            b" /Reference [<< /Type /SigRef /TransformMethod /DocMDP /TransformParams << /Type /TransformParams /P 2 /V /1.2 >> >>]",
        );
    }
    d.extend_from_slice(b" >>");
    (d, br, cs, ce)
}
