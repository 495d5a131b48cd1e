//! Plans and writes the incremental update of one signature, with placeholders for /ByteRange and
//! /Contents whose positions are known because the signature dictionary is written here.

use super::appearance::{Appearance, StampSpec};
use super::options::SignOptions;
use super::pdf::document::{self, FieldInfo};
use super::pdf::reader::Reader;
use super::pdf::source::Source;
use super::pdf::writer::{append_to_array, real, rewrite_dict, text_string, Update};
use super::pdf::xref::XrefKind;
use super::SigningError;

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

fn obj_ref(id: (u32, u16)) -> Vec<u8> {
    format!("{} {} R", id.0, id.1).into_bytes()
}

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

/// Collected rewrites of existing indirect objects.
#[derive(Default)]
struct Rewrites {
    objects: Vec<((u32, u16), Vec<u8>)>,
}

impl Rewrites {
    fn set(&mut self, id: (u32, u16), body: Vec<u8>) {
        match self.objects.iter_mut().find(|(i, _)| *i == id) {
            Some(slot) => slot.1 = body,
            None => self.objects.push((id, body)),
        }
    }
}

/// Reads what is needed from `src` and writes the update with placeholders.
pub fn prepare(
    src: &dyn Source,
    opts: &SignOptions,
    contents_reserve: usize,
    build_appearance: AppearanceBuilder,
) -> Result<Prepared, SigningError> {
    opts.validate()?;
    let mut r = Reader::open(src)?;
    document::check_not_encrypted(&mut r)?;
    let catalog = document::catalog(&mut r)?;
    let catalog_id = catalog
        .id
        .ok_or_else(|| damaged("the catalog is not an indirect object"))?;
    let pages = document::pages(&mut r, &catalog)?;
    let docmdp = document::docmdp_level(&mut r, &catalog)?;
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
        Some(a) => document::fields(&mut r, a)?,
        None => Vec::new(),
    };
    let signed = fields.iter().filter(|f| f.signed).count();
    if opts.certify && (signed > 0 || docmdp.is_some()) {
        return Err(SigningError::CertifyNotFirst);
    }
    if docmdp == Some(1) {
        return Err(SigningError::CertifiedNoChanges);
    }

    // Which field: an existing empty one by name, or a new one.
    let existing: Option<&FieldInfo> = match &opts.field {
        Some(name) => match fields.iter().find(|f| &f.name == name) {
            Some(f) if !f.is_signature => {
                return Err(SigningError::Field(format!(
                    "field `{name}` is not a signature field"
                )))
            }
            Some(f) if f.signed => {
                return Err(SigningError::Field(format!(
                    "field `{name}` is already signed"
                )))
            }
            Some(f) => Some(f),
            None => None,
        },
        None => None,
    };
    let field_name = match (&opts.field, existing) {
        (_, Some(f)) => f.name.clone(),
        (Some(name), None) => {
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
            name.clone()
        }
        (None, None) => (1..)
            .map(|i| format!("Signature{i}"))
            .find(|n| {
                !fields
                    .iter()
                    .any(|f| f.name == *n || f.name.starts_with(&format!("{n}.")))
            })
            .unwrap_or_else(|| "Signature".into()),
    };
    // DocMDP P=2 and P=3 allow signing; pyHanko also accepts a signature field created after the
    // certification (checked by the certify_then_sign test), so no refusal here.

    let mut next = r.xref.next_free;
    let alloc = |next: &mut u32| {
        let n = *next;
        *next += 1;
        n
    };
    let sig_num = alloc(&mut next);
    let mut update = Update::new(src.len(), last_byte(src)?);
    let mut rewrites = Rewrites::default();
    let mut catalog_changes: Vec<(&[u8], Vec<u8>)> = Vec::new();

    // The signature dictionary, first, so the placeholder positions are known.
    let (sig_body, br_rel, cs_rel, ce_rel) = signature_dict(opts, contents_reserve);
    let at = update.object(sig_num, 0, &sig_body);
    let (byte_range_at, contents_start, contents_end) = (at + br_rel, at + cs_rel, at + ce_rel);
    let sig_ref = obj_ref((sig_num, 0));

    let mut new_objects: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut acro_changes: Vec<(&[u8], Vec<u8>)> = Vec::new();
    if acroform
        .as_ref()
        .and_then(|a| a.get(b"SigFlags"))
        .and_then(|v| v.value.as_int())
        != Some(3)
    {
        acro_changes.push((b"SigFlags", b"3".to_vec()));
    }

    match existing {
        Some(f) => {
            let id = f.node.id.ok_or_else(|| {
                SigningError::Unsupported("the signature field is a direct object".into())
            })?;
            if opts.visible.is_some() {
                return Err(SigningError::Options(
                    "an existing signature field keeps its own position; omit --page/--rect".into(),
                ));
            }
            rewrites.set(
                id,
                rewrite_dict(&f.node, &f.node.value, &[(b"V", sig_ref.clone())]),
            );
        }
        None => {
            let page_index = opts.visible.as_ref().map_or(0, |v| v.page as usize - 1);
            let page = pages.get(page_index).ok_or_else(|| {
                SigningError::Options(format!(
                    "page {} does not exist: the document has {} pages",
                    page_index + 1,
                    pages.len()
                ))
            })?;
            let page_id = page
                .id
                .ok_or_else(|| damaged("a page is not an indirect object"))?;
            let widget_num = alloc(&mut next);
            let mut widget = format!(
                "<< /Type /Annot /Subtype /Widget /FT /Sig /T {} /V {} 0 R /F 132 /P {} {} R",
                String::from_utf8_lossy(&text_string(&field_name)),
                sig_num,
                page_id.0,
                page_id.1
            );
            match &opts.visible {
                Some(v) => {
                    let [x1, y1, x2, y2] = v.rect;
                    let spec = StampSpec {
                        width: (x2 - x1).abs(),
                        height: (y2 - y1).abs(),
                        lines: opts.stamp_lines(),
                        image: v.image.clone(),
                        font_size: 0.0,
                        ..StampSpec::default()
                    };
                    let first = next;
                    let app = build_appearance(&spec, first)?;
                    if app.root >= app.objects.len() {
                        return Err(SigningError::Appearance(
                            "the appearance root is not one of its objects".into(),
                        ));
                    }
                    for body in app.objects {
                        new_objects.push((alloc(&mut next), body));
                    }
                    widget.push_str(&format!(
                        " /Rect [{} {} {} {}] /AP << /N {} 0 R >> >>",
                        real(x1.min(x2)),
                        real(y1.min(y2)),
                        real(x1.max(x2)),
                        real(y1.max(y2)),
                        first + app.root as u32
                    ));
                }
                None => widget.push_str(" /Rect [0 0 0 0] >>"),
            }
            new_objects.insert(0, (widget_num, widget.into_bytes()));
            let widget_ref = obj_ref((widget_num, 0));

            // The page's /Annots gets the widget.
            match page.get(b"Annots") {
                Some(a) if a.value.as_ref().is_some() => match r.resolve(&a)? {
                    Some(arr) if arr.value.as_array().is_some() => {
                        let id = arr.id.ok_or_else(|| damaged("bad /Annots reference"))?;
                        rewrites.set(id, append_to_array(arr.raw(), &widget_ref));
                    }
                    Some(_) => return Err(damaged("the page /Annots is not an array")),
                    None => rewrites.set(
                        page_id,
                        rewrite_dict(page, &page.value, &[(b"Annots", bracket(&widget_ref))]),
                    ),
                },
                Some(a) if a.value.as_array().is_some() => rewrites.set(
                    page_id,
                    rewrite_dict(
                        page,
                        &page.value,
                        &[(b"Annots", append_to_array(a.raw(), &widget_ref))],
                    ),
                ),
                Some(a) if !a.value.is_null() => {
                    return Err(damaged("the page /Annots is not an array"))
                }
                _ => rewrites.set(
                    page_id,
                    rewrite_dict(page, &page.value, &[(b"Annots", bracket(&widget_ref))]),
                ),
            }

            // The AcroForm's /Fields gets the field.
            match &acroform {
                None => {}
                Some(a) => match a.get(b"Fields") {
                    Some(f) if f.value.as_ref().is_some() => match r.resolve(&f)? {
                        Some(arr) if arr.value.as_array().is_some() => {
                            let id = arr.id.ok_or_else(|| damaged("bad /Fields reference"))?;
                            rewrites.set(id, append_to_array(arr.raw(), &widget_ref));
                        }
                        Some(_) => return Err(damaged("the AcroForm /Fields is not an array")),
                        None => acro_changes.push((b"Fields", bracket(&widget_ref))),
                    },
                    Some(f) if f.value.as_array().is_some() => {
                        acro_changes.push((b"Fields", append_to_array(f.raw(), &widget_ref)))
                    }
                    Some(f) if !f.value.is_null() => {
                        return Err(damaged("the AcroForm /Fields is not an array"))
                    }
                    _ => acro_changes.push((b"Fields", bracket(&widget_ref))),
                },
            }
            if acroform.is_none() {
                let acro_num = alloc(&mut next);
                new_objects.push((
                    acro_num,
                    format!(
                        "<< /Fields [{}] /SigFlags 3 >>",
                        String::from_utf8_lossy(&widget_ref)
                    )
                    .into_bytes(),
                ));
                catalog_changes.push((b"AcroForm", obj_ref((acro_num, 0))));
                acro_changes.clear();
            }
        }
    }

    if let (Some(a), false) = (&acroform, acro_changes.is_empty()) {
        match a.id {
            Some(id) => rewrites.set(id, rewrite_dict(a, &a.value, &acro_changes)),
            None => {
                // A direct AcroForm lives in the catalog.
                let entry = acro_entry
                    .as_ref()
                    .ok_or_else(|| SigningError::Internal("AcroForm entry vanished".into()))?;
                catalog_changes.push((
                    b"AcroForm",
                    rewrite_dict(entry, &entry.value, &acro_changes),
                ));
            }
        }
    }

    if opts.certify {
        let docmdp = [(&b"DocMDP"[..], sig_ref.clone())];
        match catalog.get(b"Perms") {
            Some(p) if p.value.as_ref().is_some() => match r.resolve(&p)? {
                Some(perms) if perms.dict().is_some() => {
                    let id = perms.id.ok_or_else(|| damaged("bad /Perms reference"))?;
                    rewrites.set(id, rewrite_dict(&perms, &perms.value, &docmdp));
                }
                Some(_) => return Err(damaged("the catalog /Perms is not a dictionary")),
                None => catalog_changes.push((b"Perms", rewrite_dict(&p, &p.value, &docmdp))),
            },
            Some(p) if p.dict().is_some() => {
                catalog_changes.push((b"Perms", rewrite_dict(&p, &p.value, &docmdp)))
            }
            _ => catalog_changes.push((
                b"Perms",
                format!("<< /DocMDP {} 0 R >>", sig_num).into_bytes(),
            )),
        }
    }
    if !catalog_changes.is_empty() {
        // The catalog may also have been rewritten above (when it holds /Annots? never) — merge.
        rewrites.set(
            catalog_id,
            rewrite_dict(&catalog, &catalog.value, &catalog_changes),
        );
    }

    for (num, body) in new_objects {
        update.object(num, 0, &body);
    }
    for ((num, gen), body) in rewrites.objects {
        update.object(num, gen, &body);
    }
    // Only an xref stream is an object of its own.
    let xref_num = match r.xref.kind {
        XrefKind::Stream => alloc(&mut next),
        XrefKind::Table => 0,
    };
    let size = next;
    let update = update.finish(
        r.xref.kind,
        &r.xref.trailer,
        r.xref.startxref,
        size,
        xref_num,
    );
    Ok(Prepared {
        update,
        byte_range_at,
        contents_start,
        contents_end,
        field: field_name,
        certify: opts.certify,
    })
}

fn bracket(item: &[u8]) -> Vec<u8> {
    let mut v = b"[".to_vec();
    v.extend_from_slice(item);
    v.push(b']');
    v
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
fn signature_dict(opts: &SignOptions, reserve: usize) -> (Vec<u8>, usize, usize, usize) {
    let mut d = b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /ByteRange "
        .to_vec();
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
