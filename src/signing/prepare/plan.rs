//! The objects of the update: numbers handed out, the new field's widget and stamp, the
//! page's /Annots, the AcroForm, the certification's /Perms and the catalog, as new objects or
//! rewrites of existing ones.

use super::{damaged, AppearanceBuilder, Document};
use crate::signing::appearance::StampSpec;
use crate::signing::options::{SignOptions, Visible};
use crate::signing::pdf::document::FieldInfo;
use crate::signing::pdf::object::Node;
use crate::signing::pdf::reader::Reader;
use crate::signing::pdf::writer::{append_to_array, real, rewrite_dict, text_string, Update};
use crate::signing::pdf::xref::{Xref, XrefKind};
use crate::signing::SigningError;

fn obj_ref(id: (u32, u16)) -> Vec<u8> {
    format!("{} {} R", id.0, id.1).into_bytes()
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

/// The update being planned: object numbers handed out, new objects, rewrites of existing ones,
/// and the entries to change in the AcroForm and the catalog.
pub(super) struct Plan {
    next: u32,
    /// The signature dictionary's object number (the first one handed out).
    pub(super) sig_num: u32,
    /// New objects other than the signature dictionary, in the order they are written.
    new_objects: Vec<(u32, Vec<u8>)>,
    rewrites: Rewrites,
    pub(super) acro_changes: Vec<(&'static [u8], Vec<u8>)>,
    catalog_changes: Vec<(&'static [u8], Vec<u8>)>,
}

impl Plan {
    pub(super) fn new(next_free: u32) -> Self {
        Plan {
            next: next_free + 1,
            sig_num: next_free,
            new_objects: Vec::new(),
            rewrites: Rewrites::default(),
            acro_changes: Vec::new(),
            catalog_changes: Vec::new(),
        }
    }

    fn alloc(&mut self) -> u32 {
        let n = self.next;
        self.next += 1;
        n
    }

    fn sig_ref(&self) -> Vec<u8> {
        obj_ref((self.sig_num, 0))
    }

    /// Appends the new and rewritten objects and the cross-reference section to `update`.
    pub(super) fn write(self, mut update: Update, xref: &Xref) -> Vec<u8> {
        for (num, body) in self.new_objects {
            update.object(num, 0, &body);
        }
        for ((num, gen), body) in self.rewrites.objects {
            update.object(num, gen, &body);
        }
        // Only an xref stream is an object of its own: the last number handed out.
        let (xref_num, size) = match xref.kind {
            XrefKind::Stream => (self.next, self.next + 1),
            XrefKind::Table => (0, self.next),
        };
        update.finish(xref.kind, &xref.trailer, xref.startxref, size, xref_num)
    }
}

/// Signs an existing empty signature field: its /V becomes the signature dictionary. A field
/// named with `--field` keeps its own look, so a stamp is refused; a field picked for a visible
/// signature under a certification (`stamp`) gets the stamp drawn in its own rectangle.
pub(super) fn fill_existing_field(
    plan: &mut Plan,
    f: &FieldInfo,
    opts: &SignOptions,
    stamp_with: Option<AppearanceBuilder>,
) -> Result<(), SigningError> {
    let id = f.node.id.ok_or_else(|| {
        SigningError::Unsupported("the signature field is a direct object".into())
    })?;
    let sig_ref = plan.sig_ref();
    let mut changes: Vec<(&[u8], Vec<u8>)> = vec![(b"V", sig_ref)];
    match (&opts.visible, stamp_with) {
        (None, _) => {}
        (Some(v), Some(build_appearance)) => {
            let rect = own_rect(f).ok_or_else(|| {
                SigningError::CertifiedFieldRequired(format!(
                    "the empty signature field `{}` is invisible or has separate widgets, so \
                     it cannot show a stamp; sign it without --page/--rect",
                    f.name
                ))
            })?;
            let field = NewField {
                name: &f.name,
                opts,
                build_appearance,
            };
            let placed = Visible { rect, ..v.clone() };
            let (_, ap) = stamp(plan, &field, &placed)?;
            changes.push((b"AP", format!("<< /N {ap} 0 R >>").into_bytes()));
        }
        (Some(_), None) => {
            return Err(SigningError::Options(
                "an existing signature field keeps its own position; omit --page/--rect".into(),
            ))
        }
    }
    plan.rewrites
        .set(id, rewrite_dict(&f.node, &f.node.value, &changes));
    Ok(())
}

/// The /Rect of a field that is its own widget, when it has an area.
fn own_rect(f: &FieldInfo) -> Option<[f64; 4]> {
    if f.has_kids {
        return None;
    }
    let rect = f.node.get(b"Rect")?;
    let items = rect.value.as_array()?;
    let n: Vec<f64> = items
        .iter()
        .filter_map(|v| {
            std::str::from_utf8(rect.raw_of(v))
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .collect();
    match n[..] {
        [x1, y1, x2, y2] if (x1 - x2).abs() * (y1 - y2).abs() > 0.0 => Some([x1, y1, x2, y2]),
        _ => None,
    }
}

/// A new signature field to add.
pub(super) struct NewField<'a> {
    pub(super) name: &'a str,
    pub(super) opts: &'a SignOptions,
    pub(super) build_appearance: AppearanceBuilder,
}

/// Adds a new field (a merged field and widget) to its page's /Annots and to the AcroForm's
/// /Fields, or to a new AcroForm.
pub(super) fn add_new_field(
    plan: &mut Plan,
    r: &mut Reader,
    doc: &Document,
    field: &NewField,
) -> Result<(), SigningError> {
    let page_index = field
        .opts
        .visible
        .as_ref()
        .map_or(0, |v| v.page as usize - 1);
    let page = doc.pages.get(page_index).ok_or_else(|| {
        SigningError::Options(format!(
            "page {} does not exist: the document has {} pages",
            page_index + 1,
            doc.pages.len()
        ))
    })?;
    let page_id = page
        .id
        .ok_or_else(|| damaged("a page is not an indirect object"))?;
    let widget_num = plan.alloc();
    let widget = widget(plan, field, page_id)?;
    // The widget is written first, before the stamp's objects (numbered after it).
    plan.new_objects.insert(0, (widget_num, widget));
    let widget_ref = obj_ref((widget_num, 0));
    add_to_annots(plan, r, page, page_id, &widget_ref)?;
    match &doc.acroform {
        Some(a) => add_to_fields(plan, r, a, &widget_ref),
        None => {
            new_acroform(plan, &widget_ref);
            Ok(())
        }
    }
}

/// The widget dictionary of a new field on the page `page_id`; a visible one's appearance
/// objects are added to the plan.
fn widget(plan: &mut Plan, field: &NewField, page_id: (u32, u16)) -> Result<Vec<u8>, SigningError> {
    let mut widget = format!(
        "<< /Type /Annot /Subtype /Widget /FT /Sig /T {} /V {} 0 R /F 132 /P {} {} R",
        String::from_utf8_lossy(&text_string(field.name)),
        plan.sig_num,
        page_id.0,
        page_id.1
    );
    match &field.opts.visible {
        Some(v) => widget.push_str(&stamp(plan, field, v)?.0),
        None => widget.push_str(" /Rect [0 0 0 0] >>"),
    }
    Ok(widget.into_bytes())
}

/// Builds the stamp's objects into the plan; returns the end of the widget dictionary that
/// places it (/Rect and /AP), and the number of its appearance stream.
fn stamp(plan: &mut Plan, field: &NewField, v: &Visible) -> Result<(String, u32), SigningError> {
    let [x1, y1, x2, y2] = v.rect;
    let spec = StampSpec {
        width: (x2 - x1).abs(),
        height: (y2 - y1).abs(),
        lines: v.lines.clone().unwrap_or_else(|| field.opts.stamp_lines()),
        image: v.image.clone(),
        seal: v.seal.clone(),
        image_after_lines: v.image_after_lines,
        font_size: 0.0,
        ..StampSpec::default()
    };
    let first = plan.next;
    let app = (field.build_appearance)(&spec, first)?;
    if app.root >= app.objects.len() {
        return Err(SigningError::Appearance(
            "the appearance root is not one of its objects".into(),
        ));
    }
    for body in app.objects {
        let num = plan.alloc();
        plan.new_objects.push((num, body));
    }
    let ap = first + app.root as u32;
    Ok((
        format!(
            " /Rect [{} {} {} {}] /AP << /N {ap} 0 R >> >>",
            real(x1.min(x2)),
            real(y1.min(y2)),
            real(x1.max(x2)),
            real(y1.max(y2)),
        ),
        ap,
    ))
}

/// The page's /Annots gets the widget: the array object is rewritten, or the page.
fn add_to_annots(
    plan: &mut Plan,
    r: &mut Reader,
    page: &Node,
    page_id: (u32, u16),
    widget_ref: &[u8],
) -> Result<(), SigningError> {
    let new_annots =
        |page: &Node| rewrite_dict(page, &page.value, &[(b"Annots", bracket(widget_ref))]);
    match page.get(b"Annots") {
        Some(a) if a.value.as_ref().is_some() => match r.resolve(&a)? {
            Some(arr) if arr.value.as_array().is_some() => {
                let id = arr.id.ok_or_else(|| damaged("bad /Annots reference"))?;
                plan.rewrites
                    .set(id, append_to_array(arr.raw(), widget_ref));
            }
            Some(_) => return Err(damaged("the page /Annots is not an array")),
            None => plan.rewrites.set(page_id, new_annots(page)),
        },
        Some(a) if a.value.as_array().is_some() => plan.rewrites.set(
            page_id,
            rewrite_dict(
                page,
                &page.value,
                &[(b"Annots", append_to_array(a.raw(), widget_ref))],
            ),
        ),
        Some(a) if !a.value.is_null() => return Err(damaged("the page /Annots is not an array")),
        _ => plan.rewrites.set(page_id, new_annots(page)),
    }
    Ok(())
}

/// The AcroForm's /Fields gets the field: the array object is rewritten, or the AcroForm.
fn add_to_fields(
    plan: &mut Plan,
    r: &mut Reader,
    acroform: &Node,
    widget_ref: &[u8],
) -> Result<(), SigningError> {
    match acroform.get(b"Fields") {
        Some(f) if f.value.as_ref().is_some() => match r.resolve(&f)? {
            Some(arr) if arr.value.as_array().is_some() => {
                let id = arr.id.ok_or_else(|| damaged("bad /Fields reference"))?;
                plan.rewrites
                    .set(id, append_to_array(arr.raw(), widget_ref));
            }
            Some(_) => return Err(damaged("the AcroForm /Fields is not an array")),
            None => plan.acro_changes.push((b"Fields", bracket(widget_ref))),
        },
        Some(f) if f.value.as_array().is_some() => plan
            .acro_changes
            .push((b"Fields", append_to_array(f.raw(), widget_ref))),
        Some(f) if !f.value.is_null() => {
            return Err(damaged("the AcroForm /Fields is not an array"))
        }
        _ => plan.acro_changes.push((b"Fields", bracket(widget_ref))),
    }
    Ok(())
}

/// A document without an AcroForm gets one holding the new field.
fn new_acroform(plan: &mut Plan, widget_ref: &[u8]) {
    let acro_num = plan.alloc();
    plan.new_objects.push((
        acro_num,
        format!(
            "<< /Fields [{}] /SigFlags 3 >>",
            String::from_utf8_lossy(widget_ref)
        )
        .into_bytes(),
    ));
    plan.catalog_changes
        .push((b"AcroForm", obj_ref((acro_num, 0))));
    // The new AcroForm already has /SigFlags 3; there is no old one to change.
    plan.acro_changes.clear();
}

/// Applies the planned AcroForm changes to the existing AcroForm, an object of its own or
/// direct in the catalog.
pub(super) fn rewrite_acroform(plan: &mut Plan, doc: &Document) -> Result<(), SigningError> {
    let Some(a) = &doc.acroform else {
        return Ok(());
    };
    if plan.acro_changes.is_empty() {
        return Ok(());
    }
    match a.id {
        Some(id) => plan
            .rewrites
            .set(id, rewrite_dict(a, &a.value, &plan.acro_changes)),
        None => {
            // A direct AcroForm lives in the catalog.
            let entry = doc
                .acro_entry
                .as_ref()
                .ok_or_else(|| SigningError::Internal("AcroForm entry vanished".into()))?;
            let body = rewrite_dict(entry, &entry.value, &plan.acro_changes);
            plan.catalog_changes.push((b"AcroForm", body));
        }
    }
    Ok(())
}

/// A certification: the catalog's /Perms gets /DocMDP pointing to the signature.
pub(super) fn add_docmdp_perms(
    plan: &mut Plan,
    r: &mut Reader,
    catalog: &Node,
) -> Result<(), SigningError> {
    let docmdp = [(&b"DocMDP"[..], plan.sig_ref())];
    match catalog.get(b"Perms") {
        Some(p) if p.value.as_ref().is_some() => match r.resolve(&p)? {
            Some(perms) if perms.dict().is_some() => {
                let id = perms.id.ok_or_else(|| damaged("bad /Perms reference"))?;
                plan.rewrites
                    .set(id, rewrite_dict(&perms, &perms.value, &docmdp));
            }
            Some(_) => return Err(damaged("the catalog /Perms is not a dictionary")),
            None => plan
                .catalog_changes
                .push((b"Perms", rewrite_dict(&p, &p.value, &docmdp))),
        },
        Some(p) if p.dict().is_some() => plan
            .catalog_changes
            .push((b"Perms", rewrite_dict(&p, &p.value, &docmdp))),
        _ => plan.catalog_changes.push((
            b"Perms",
            format!("<< /DocMDP {} 0 R >>", plan.sig_num).into_bytes(),
        )),
    }
    Ok(())
}

/// Rewrites the catalog with the planned changes, if any. Set last, so that it replaces any
/// earlier rewrite of the same object (a hostile catalog that is also its own AcroForm).
pub(super) fn rewrite_catalog(plan: &mut Plan, doc: &Document) {
    if !plan.catalog_changes.is_empty() {
        let body = rewrite_dict(&doc.catalog, &doc.catalog.value, &plan.catalog_changes);
        plan.rewrites.set(doc.catalog_id, body);
    }
}

fn bracket(item: &[u8]) -> Vec<u8> {
    let mut v = b"[".to_vec();
    v.extend_from_slice(item);
    v.push(b']');
    v
}
