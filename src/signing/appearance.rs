//! The visible signature stamp (Decree 30): signer image and Vietnamese text, as PDF objects.
//!
//! Seam between the appearance builder and the incremental writer: `build` returns the bodies of
//! new indirect objects numbered `first_obj`, `first_obj + 1`, ...; the writer emits each as
//! `N 0 obj\n<body>\nendobj\n` and points the widget's `/AP << /N root 0 R >>` at `objects[root]`.

use super::SigningError;

/// What the stamp shows, in the widget's box.
#[derive(Debug, Clone, Default)]
pub struct StampSpec {
    /// Box width in points (the widget `/Rect` width).
    pub width: f64,
    /// Box height in points.
    pub height: f64,
    /// Lines of text, top to bottom (name, position, organisation, signing time); any Unicode.
    pub lines: Vec<String>,
    /// PNG of the handwritten signature (transparency kept).
    pub image: Option<Vec<u8>>,
    /// Font size in points; 0 picks the largest size that fits.
    pub font_size: f64,
}

/// New indirect objects that make up an appearance stream.
#[derive(Debug, Clone)]
pub struct Appearance {
    /// Object bodies (a dictionary, or a dictionary followed by `stream ... endstream`).
    pub objects: Vec<Vec<u8>>,
    /// Index in `objects` of the form XObject to use as the normal appearance.
    pub root: usize,
}

/// Builds the appearance objects, numbering them from `first_obj`.
pub fn build(_spec: &StampSpec, _first_obj: u32) -> Result<Appearance, SigningError> {
    // Seam placeholder: the appearance builder replaces this body.
    Err(SigningError::Appearance(
        "visible stamps are not built yet".into(),
    ))
}
