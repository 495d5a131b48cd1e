//! A minimal, bounds-checked DER walker.
//!
//! Typed decoders re-sort SET OF values and re-encode names, which changes the bytes a signature
//! was computed over; verification needs the exact original bytes of the signed attributes and
//! of each certificate, so the CMS envelope is walked here and only leaf values are decoded.

use const_oid::ObjectIdentifier;

/// One DER element borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    /// The identifier octet (single-byte tags only: all CMS structures use them).
    pub tag: u8,
    /// The whole element, header included.
    pub raw: &'a [u8],
    /// The contents octets.
    pub value: &'a [u8],
}

/// Why DER could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError(pub String);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: &str) -> Result<T, DerError> {
    Err(DerError(msg.to_string()))
}

/// Reads the first element of `input`; returns it and the bytes after it.
pub(crate) fn read(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), DerError> {
    let (&tag, rest) = match input.split_first() {
        Some(x) => x,
        None => return err("truncated DER: no tag"),
    };
    if tag & 0x1f == 0x1f {
        return err("multi-byte DER tags are not supported");
    }
    let (&first, rest) = match rest.split_first() {
        Some(x) => x,
        None => return err("truncated DER: no length"),
    };
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else if first == 0x80 {
        return err("indefinite (BER) length is not DER");
    } else {
        let n = usize::from(first & 0x7f);
        if n > 4 || rest.len() < n {
            return err("bad DER length");
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return err("truncated DER: value shorter than its length");
    }
    let header = input.len() - rest.len();
    let value = &rest[..len];
    let raw = &input[..header + len];
    Ok((Tlv { tag, raw, value }, &rest[len..]))
}

/// Reads exactly one element with the expected tag.
pub(crate) fn expect<'a>(
    input: &'a [u8],
    tag: u8,
    what: &str,
) -> Result<(Tlv<'a>, &'a [u8]), DerError> {
    let (tlv, rest) = read(input)?;
    if tlv.tag != tag {
        return Err(DerError(format!(
            "{what}: expected tag {tag:#04x}, found {:#04x}",
            tlv.tag
        )));
    }
    Ok((tlv, rest))
}

/// All elements of a constructed value, in order.
pub(crate) fn children(mut value: &[u8]) -> Result<Vec<Tlv<'_>>, DerError> {
    let mut out = Vec::new();
    while !value.is_empty() {
        let (tlv, rest) = read(value)?;
        out.push(tlv);
        value = rest;
    }
    Ok(out)
}

/// Decodes an OBJECT IDENTIFIER element.
pub(crate) fn oid(tlv: &Tlv<'_>) -> Result<ObjectIdentifier, DerError> {
    if tlv.tag != 0x06 {
        return err("expected an OBJECT IDENTIFIER");
    }
    ObjectIdentifier::from_bytes(tlv.value).map_err(|e| DerError(format!("bad OID: {e}")))
}

/// An AlgorithmIdentifier: its OID and the raw parameters element, if any.
pub(crate) fn algorithm<'a>(
    tlv: &Tlv<'a>,
) -> Result<(ObjectIdentifier, Option<Tlv<'a>>), DerError> {
    if tlv.tag != 0x30 {
        return err("expected an AlgorithmIdentifier SEQUENCE");
    }
    let items = children(tlv.value)?;
    let first = items
        .first()
        .ok_or_else(|| DerError("empty AlgorithmIdentifier".into()))?;
    let params = items.get(1).copied().filter(|p| p.tag != 0x05);
    Ok((oid(first)?, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_sequences_and_rejects_truncation() {
        let data = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xff, 0x00];
        let (seq, rest) = read(&data).unwrap();
        assert_eq!(rest, &[0x00]);
        let kids = children(seq.value).unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[1].value, &[0xff]);
        assert!(read(&[0x30, 0x05, 0x01]).is_err());
        assert!(read(&[0x30, 0x80]).is_err());
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_err());
    }
}
