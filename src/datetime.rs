//! Date-times in the API: times are stored as UTC without an offset and answered in RFC 3339
//! with `Z` (`2026-12-01T08:00:00.123456Z`, the `format: date-time` the OpenAPI document
//! promises; `z`, `z_opt`). Request bodies may give `Z` or an offset
//! (`2026-12-01T15:00:00+07:00`), turned into UTC; no offset still means UTC.

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

/// Serde for an answered UTC time: written with `Z`, read with `Z`, an offset or none.
pub mod z {
    use chrono::NaiveDateTime;
    use serde::{Deserializer, Serializer};

    /// `2026-12-01T08:00:00.123456Z` (the fraction only when there is one).
    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.fZ"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        super::utc(d)
    }
}

/// [`z`] for an optional time (`null` when absent).
pub mod z_opt {
    use chrono::NaiveDateTime;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::z::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        super::utc_opt(d)
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
