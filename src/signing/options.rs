//! What a signature should look like and say.

use chrono::{DateTime, FixedOffset};

use super::tsa::TsaConfig;
use super::SigningError;

/// A visible signature: where the stamp goes and what image it shows.
#[derive(Debug, Clone, Default)]
pub struct Visible {
    /// Page number, from 1.
    pub page: u32,
    /// `[x1, y1, x2, y2]` in PDF points on that page.
    pub rect: [f64; 4],
    /// PNG of the handwritten signature.
    pub image: Option<Vec<u8>>,
    /// PNG of the organisation's seal, drawn over the left third of the image.
    pub seal: Option<Vec<u8>>,
    /// The stamp's lines, top to bottom; none: [`SignOptions::stamp_lines`].
    pub lines: Option<Vec<String>>,
    /// The picture goes after this many lines (Decree 30: capacity and position above the
    /// signature, the name below); none: after all lines.
    pub image_after_lines: Option<usize>,
    /// Draw the stamp in the rectangle of the existing empty signature field that
    /// [`SignOptions::field`] names (`page` and `rect` are not used); that field must exist.
    pub in_field: bool,
}

/// Options of one signature.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Field to sign: an existing empty signature field of that name, or a new field. None: a new
    /// field named `SignatureN`.
    pub field: Option<String>,
    /// None: an invisible signature (widget with a zero /Rect on page 1).
    pub visible: Option<Visible>,
    /// Signer's name (/Name and the stamp).
    pub name: Option<String>,
    /// Signer's position (stamp only), e.g. "Phó Giám đốc".
    pub position: Option<String>,
    pub reason: Option<String>,
    pub location: Option<String>,
    pub contact_info: Option<String>,
    /// Certification signature, DocMDP P=2 (form filling and signing allowed afterwards).
    pub certify: bool,
    /// RFC 3161 timestamp authority for PAdES B-T; None gives B-B.
    pub tsa: Option<TsaConfig>,
    /// Claimed signing time (/M); None: now.
    pub signing_time: Option<DateTime<FixedOffset>>,
}

impl SignOptions {
    /// Checks option values that do not depend on the document.
    pub fn validate(&self) -> Result<(), SigningError> {
        if let Some(v) = &self.visible {
            if v.page == 0 {
                return Err(SigningError::Options("pages are numbered from 1".into()));
            }
            let [x1, y1, x2, y2] = v.rect;
            // In an existing field the field's own rectangle is used, not this one.
            if v.in_field {
                if self.field.is_none() {
                    return Err(SigningError::Options(
                        "a stamp in an existing field needs the field's name".into(),
                    ));
                }
            } else if v.rect.iter().any(|c| !c.is_finite() || c.abs() > 14_400.0) {
                return Err(SigningError::Options(
                    "the rectangle must be finite and within the page".into(),
                ));
            } else if (x2 - x1).abs() < 1.0 || (y2 - y1).abs() < 1.0 {
                return Err(SigningError::Options(
                    "the rectangle of a visible signature is empty".into(),
                ));
            }
        }
        Ok(())
    }

    /// The claimed signing time; by default now in Vietnam time (UTC+07:00, no daylight saving),
    /// whatever the server's time zone, as Decree 30 stamps show it.
    pub fn time(&self) -> DateTime<FixedOffset> {
        self.signing_time.unwrap_or_else(crate::vntime::now)
    }

    /// /M as a PDF date, `D:YYYYMMDDHHmmSS+HH'mm'`.
    pub fn pdf_date(&self) -> String {
        let t = self.time();
        let off = t.offset().local_minus_utc();
        let sign = if off < 0 { '-' } else { '+' };
        let off = off.abs();
        format!(
            "D:{}{}{:02}'{:02}'",
            t.format("%Y%m%d%H%M%S"),
            sign,
            off / 3600,
            (off % 3600) / 60
        )
    }

    /// Lines of the visible stamp: name, position, organisation/location, time.
    pub fn stamp_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = [&self.name, &self.position, &self.location]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        lines.push(
            self.time()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        );
        lines
    }
}
