//! The printable register report: A4 landscape pages of register entries, Vietnamese text
//! drawn with the same embedded Liberation Serif subset as the signature stamp
//! (`signing::appearance`), one form XObject per page. A character the font lacks (an emoji,
//! Chinese) prints as `?`; the rest of the entry stays text.

use crate::error::ApiError;
use crate::signing::appearance::{self, StampSpec};

/// Entries per page; the stamp layout shrinks the type (down to 4 pt) when lines wrap.
const ENTRIES_PER_PAGE: usize = 30;
const PAGE_W: f64 = 842.0;
const PAGE_H: f64 = 595.0;
const MARGIN: f64 = 28.0;

/// Builds the PDF: `heading` lines on every page, then `entries` (one line each).
pub fn pdf(heading: &[String], entries: &[String]) -> Result<Vec<u8>, ApiError> {
    let chunks: Vec<&[String]> = if entries.is_empty() {
        vec![&[]]
    } else {
        entries.chunks(ENTRIES_PER_PAGE).collect()
    };
    let pages = chunks.len();
    // Objects: 1 catalog, 2 page tree, then per page: page, content, appearance objects.
    let mut bodies: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut page_ids = Vec::new();
    let mut next: u32 = 3;
    for (i, chunk) in chunks.iter().enumerate() {
        let page_id = next;
        let content_id = next + 1;
        let first_obj = next + 2;
        let mut lines = heading.to_vec();
        lines.push(format!("Trang {}/{}", i + 1, pages));
        lines.push(String::new());
        lines.extend(chunk.iter().cloned());
        let spec = StampSpec {
            width: PAGE_W - 2.0 * MARGIN,
            height: PAGE_H - 2.0 * MARGIN,
            lines: lines.into_iter().filter(|l| !l.trim().is_empty()).collect(),
            font_size: 0.0,
            // One sender's emoji or Chinese subject must not stop a whole period's printout.
            fallback: Some('?'),
            ..StampSpec::default()
        };
        let ap = appearance::build(&spec, first_obj)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("register report page: {e}")))?;
        let form_id = first_obj + ap.root as u32;
        let object_count = ap.objects.len() as u32;
        let content = format!("q 1 0 0 1 {MARGIN} {MARGIN} cm /Fm0 Do Q\n");
        bodies.push((
            page_id,
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] \
                 /Resources << /XObject << /Fm0 {form_id} 0 R >> >> /Contents {content_id} 0 R >>"
            )
            .into_bytes(),
        ));
        bodies.push((
            content_id,
            format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            )
            .into_bytes(),
        ));
        for (k, body) in ap.objects.into_iter().enumerate() {
            bodies.push((first_obj + k as u32, body));
        }
        page_ids.push(page_id);
        next = first_obj + object_count;
    }
    let kids: Vec<String> = page_ids.iter().map(|id| format!("{id} 0 R")).collect();
    bodies.push((1, b"<< /Type /Catalog /Pages 2 0 R >>".to_vec()));
    bodies.push((
        2,
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            page_ids.len()
        )
        .into_bytes(),
    ));
    bodies.sort_by_key(|(id, _)| *id);
    let size = bodies.last().map(|(id, _)| id + 1).unwrap_or(1);
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = vec![None; size as usize];
    for (id, body) in &bodies {
        offsets[*id as usize] = Some(out.len());
        out.extend(format!("{id} 0 obj\n").into_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {size}\n0000000000 65535 f \n").into_bytes());
    for o in offsets.iter().skip(1) {
        match o {
            Some(o) => out.extend(format!("{o:010} 00000 n \n").into_bytes()),
            None => out.extend(b"0000000000 65535 f \n"),
        }
    }
    out.extend(
        format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").into_bytes(),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_readable_pdf() {
        let entries: Vec<String> = (1..=45)
            .map(|n| {
                format!(
                    "{n:02} · {n:02}/QĐ-SLĐTBXH · Quyết định về việc phê duyệt kế hoạch đào tạo"
                )
            })
            .collect();
        let bytes = pdf(&["SỔ ĐĂNG KÝ VĂN BẢN ĐẾN".into()], &entries).unwrap();
        let facts = crate::documents::inspect::inspect(&bytes).unwrap();
        assert_eq!(facts.page_count, 2);
        assert!(facts.signable, "{facts:?}");
        let empty = pdf(&["SỔ".into()], &[]).unwrap();
        assert_eq!(
            crate::documents::inspect::inspect(&empty)
                .unwrap()
                .page_count,
            1
        );
    }
}
