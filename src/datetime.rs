//! Date-times in request bodies: the API stores and answers UTC without an offset
//! (`2026-12-01T08:00:00`), and accepts what `format: date-time` (RFC 3339) promises as
//! well: `Z` or an offset (`2026-12-01T15:00:00+07:00`), turned into UTC.

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Deserializer};

fn parse(s: &str) -> Result<NaiveDateTime, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.naive_utc());
    }
    s.parse::<NaiveDateTime>().map_err(|_| {
        format!("{s:?} is not a date-time (2026-12-01T08:00:00Z, or with an offset; no offset means UTC)")
    })
}

/// A date-time, with or without an offset, as UTC.
pub fn utc<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let s = String::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// An optional date-time, with or without an offset, as UTC.
pub fn utc_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_become_utc() {
        let want = "2026-12-01T08:00:00".parse().unwrap();
        for s in [
            "2026-12-01T08:00:00",
            "2026-12-01T08:00:00Z",
            "2026-12-01T08:00:00.000z",
            "2026-12-01T15:00:00+07:00",
        ] {
            assert_eq!(super::parse(s), Ok(want), "{s}");
        }
        assert!(super::parse("2026-12-01").is_err());
    }
}
