//! Stream decoding for the only streams the signer reads: cross-reference and object streams.

use std::io::Read;

use super::lexer::{Dict, Kind, Value};
use crate::signing::SigningError;

/// Largest decoded stream accepted (guards against compression bombs).
pub const MAX_DECODED: u64 = 64 << 20;

fn damaged(msg: impl Into<String>) -> SigningError {
    SigningError::Damaged(msg.into())
}

/// Decodes `data` per the stream dictionary's /Filter and /DecodeParms (FlateDecode + PNG predictors).
pub fn decode(dict: &Dict, data: Vec<u8>) -> Result<Vec<u8>, SigningError> {
    let filters: Vec<&Value> = match dict.get(b"Filter") {
        None => return Ok(data),
        Some(v) => match &v.kind {
            Kind::Null => return Ok(data),
            Kind::Array(a) => a.iter().collect(),
            _ => vec![v],
        },
    };
    let params: Vec<Option<&Dict>> = match dict.get(b"DecodeParms") {
        Some(Value {
            kind: Kind::Array(a),
            ..
        }) => a.iter().map(|p| p.as_dict()).collect(),
        Some(v) => vec![v.as_dict()],
        None => vec![],
    };
    let mut out = data;
    for (i, f) in filters.iter().enumerate() {
        match f.as_name() {
            Some(b"FlateDecode") | Some(b"Fl") => {
                out = inflate(&out)?;
                if let Some(Some(p)) = params.get(i) {
                    out = unpredict(p, out)?;
                }
            }
            Some(other) => {
                return Err(SigningError::Unsupported(format!(
                    "stream filter /{} in a cross-reference or object stream",
                    String::from_utf8_lossy(other)
                )))
            }
            None => return Err(damaged("stream /Filter is not a name")),
        }
    }
    Ok(out)
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, SigningError> {
    let mut out = Vec::new();
    let mut dec = flate2::read::ZlibDecoder::new(data).take(MAX_DECODED + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| damaged(format!("FlateDecode stream is corrupt: {e}")))?;
    if out.len() as u64 > MAX_DECODED {
        return Err(damaged("decoded stream is larger than 64 MiB"));
    }
    Ok(out)
}

fn unpredict(params: &Dict, data: Vec<u8>) -> Result<Vec<u8>, SigningError> {
    let int = |k: &[u8], d: i64| params.get(k).and_then(Value::as_int).unwrap_or(d);
    let predictor = int(b"Predictor", 1);
    if predictor == 1 {
        return Ok(data);
    }
    if !(10..=15).contains(&predictor) {
        return Err(SigningError::Unsupported(format!(
            "predictor {predictor} in a cross-reference stream"
        )));
    }
    let colors = int(b"Colors", 1);
    let bpc = int(b"BitsPerComponent", 8);
    let columns = int(b"Columns", 1);
    if !(1..=32).contains(&colors) || bpc != 8 || !(1..=1 << 16).contains(&columns) {
        return Err(SigningError::Unsupported(
            "unusual predictor parameters".into(),
        ));
    }
    // Bounded above, so the casts cannot truncate.
    let bpp = colors as usize;
    let row_len = bpp * columns as usize;
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row_len];
    for row in data.chunks(row_len + 1) {
        if row.len() != row_len + 1 {
            return Err(damaged("predicted stream ends with a partial row"));
        }
        let (kind, src) = (row[0], &row[1..]);
        let mut cur = src.to_vec();
        for i in 0..row_len {
            let left = if i >= bpp { cur[i - bpp] } else { 0 };
            let up = prev[i];
            let up_left = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = match kind {
                0 => cur[i],
                1 => cur[i].wrapping_add(left),
                2 => cur[i].wrapping_add(up),
                3 => cur[i].wrapping_add(((u16::from(left) + u16::from(up)) / 2) as u8),
                4 => cur[i].wrapping_add(paeth(left, up, up_left)),
                _ => return Err(damaged("bad PNG predictor byte")),
            };
        }
        out.extend_from_slice(&cur);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::pdf::lexer::Lexer;
    use std::io::Write;

    #[test]
    fn flate_with_png_up_predictor() {
        // Two xref rows of 3 bytes, PNG "Up" encoded: row 2 stored as its difference to row 1.
        let raw = [2u8, 1, 0, 16, 2, 0, 1, 0];
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw).unwrap();
        let data = enc.finish().unwrap();
        let dict_src = b"<< /Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 3 >> >> ";
        let v = Lexer::new(dict_src, 0).value().unwrap();
        let out = decode(v.as_dict().unwrap(), data).unwrap();
        assert_eq!(out, vec![1, 0, 16, 1, 1, 16]);
    }

    #[test]
    fn corrupt_or_unknown_filters_are_errors() {
        let v = Lexer::new(b"<< /Filter /FlateDecode >> ", 0)
            .value()
            .unwrap();
        assert!(matches!(
            decode(v.as_dict().unwrap(), b"not zlib".to_vec()),
            Err(SigningError::Damaged(_))
        ));
        let v = Lexer::new(b"<< /Filter /LZWDecode >> ", 0).value().unwrap();
        assert!(matches!(
            decode(v.as_dict().unwrap(), vec![]),
            Err(SigningError::Unsupported(_))
        ));
    }
}
