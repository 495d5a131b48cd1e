//! Small helpers to write PDF object bodies by hand: numbers, streams, object numbering.

use std::fmt::Write as _;
use std::io::Write as _;

use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::super::SigningError;

/// A PDF number with at most three decimals and no exponent (PDF has no `1e-5` syntax).
pub(crate) fn num(value: f64) -> String {
    let rounded = (value * 1000.0).round() / 1000.0;
    // `-0` would print as "-0"; PDF readers accept it, but it is noise.
    let rounded = if rounded == 0.0 { 0.0 } else { rounded };
    let mut text = format!("{rounded:.3}");
    while text.ends_with('0') {
        text.pop();
    }
    if text.ends_with('.') {
        text.pop();
    }
    text
}

/// Uppercase hex of `bytes`, for `<...>` strings.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02X}");
    }
    out
}

/// zlib (FlateDecode) compression of `data`.
pub(crate) fn flate(data: &[u8]) -> Result<Vec<u8>, SigningError> {
    let mut encoder = ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2 + 64),
        Compression::default(),
    );
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|e| SigningError::Appearance(format!("compressing a stream failed: {e}")))
}

/// A stream object body: `<< dict /Length n >>` then `stream\r\n data \r\nendstream`.
///
/// `dict` holds the entries without the brackets and without `/Length`, which is set here so it
/// is always the exact byte count of `data`.
pub(crate) fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(data.len() + dict.len() + 48);
    body.extend_from_slice(b"<<");
    body.extend_from_slice(dict.as_bytes());
    body.extend_from_slice(format!(" /Length {} >>\nstream\r\n", data.len()).as_bytes());
    body.extend_from_slice(data);
    body.extend_from_slice(b"\r\nendstream");
    body
}

/// Numbers new objects from `first` and collects their bodies in order.
pub(crate) struct ObjectTable {
    first: u32,
    bodies: Vec<Vec<u8>>,
}

impl ObjectTable {
    pub(crate) fn new(first: u32) -> Result<Self, SigningError> {
        if first == 0 {
            return Err(SigningError::Appearance(
                "object numbers start at 1; first_obj was 0".into(),
            ));
        }
        Ok(Self {
            first,
            bodies: Vec::new(),
        })
    }

    /// Reserves the next object: its index in the table and its object number.
    pub(crate) fn reserve(&mut self) -> Result<(usize, u32), SigningError> {
        let index = self.bodies.len();
        let number = u32::try_from(index)
            .ok()
            .and_then(|i| self.first.checked_add(i))
            // PDF readers cap object numbers at about 8.4 million (ISO 32000 Annex C).
            .filter(|n| *n < 8_388_607)
            .ok_or_else(|| SigningError::Appearance("object numbers overflow".into()))?;
        self.bodies.push(Vec::new());
        Ok((index, number))
    }

    /// Sets the body of a reserved object.
    pub(crate) fn set(&mut self, index: usize, body: Vec<u8>) {
        if let Some(slot) = self.bodies.get_mut(index) {
            *slot = body;
        }
    }

    pub(crate) fn into_bodies(self) -> Vec<Vec<u8>> {
        self.bodies
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_no_exponent_and_no_trailing_zeros() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(1e-7), "0");
        assert_eq!(num(-3.25), "-3.25");
        assert_eq!(num(14400.0), "14400");
    }

    #[test]
    fn stream_length_is_exact() {
        let body = stream(" /Type /XObject", b"abc\n");
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("<< /Type /XObject /Length 4 >>\nstream\r\nabc\n\r\nendstream"));
    }

    #[test]
    fn object_zero_is_refused() {
        assert!(ObjectTable::new(0).is_err());
        let mut table = ObjectTable::new(7).unwrap();
        assert_eq!(table.reserve().unwrap(), (0, 7));
        assert_eq!(table.reserve().unwrap(), (1, 8));
    }
}
