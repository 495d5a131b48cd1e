//! Vietnam time: UTC+07:00 all year (no daylight saving). Times are stored and computed in UTC;
//! these are the one place they become Vietnamese dates and clock times (register years,
//! working-day deadlines, digest hours, email texts, signing times).

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, Utc,
};

/// Vietnam's offset from UTC, in hours.
pub const OFFSET_HOURS: i64 = 7;

/// Vietnam's offset as a chrono time zone.
pub fn offset() -> FixedOffset {
    // 7 h is inside FixedOffset's ±24 h range: the fallback is never taken.
    FixedOffset::east_opt((OFFSET_HOURS * 3600) as i32).unwrap_or_else(|| Utc.fix())
}

/// The Vietnamese wall-clock time of a UTC time.
pub fn local(utc: NaiveDateTime) -> NaiveDateTime {
    utc + Duration::hours(OFFSET_HOURS)
}

/// The UTC time of a Vietnamese wall-clock time.
pub fn utc_of_local(local: NaiveDateTime) -> NaiveDateTime {
    local - Duration::hours(OFFSET_HOURS)
}

/// Now, in Vietnam time.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&offset())
}

/// The Vietnamese calendar date of a UTC time.
pub fn local_date(utc: NaiveDateTime) -> NaiveDate {
    local(utc).date()
}

/// The Vietnamese calendar year of a UTC time (registers number per local year).
pub fn local_year(utc: NaiveDateTime) -> i32 {
    local(utc).year()
}

/// The UTC time at which local day `d` starts.
pub fn start_of_local_day(d: NaiveDate) -> NaiveDateTime {
    utc_of_local(d.and_time(NaiveTime::MIN))
}

/// The UTC time at which local day `d` ends (local midnight after it).
pub fn end_of_local_day(d: NaiveDate) -> NaiveDateTime {
    start_of_local_day(d + Duration::days(1))
}

/// RFC 3339 with the Vietnamese offset: `2026-12-01T15:00:00+07:00`.
pub fn rfc3339_local(utc: NaiveDateTime) -> String {
    local(utc).format("%Y-%m-%dT%H:%M:%S+07:00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_years_turn_at_local_midnight() {
        let d = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        // 31/12 17:00 UTC is 01/01 00:00 in Hà Nội: a new year, and a new day.
        assert_eq!(local_year(d("2026-12-31 16:59:59")), 2026);
        assert_eq!(local_year(d("2026-12-31 17:00:00")), 2027);
        let day = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(local_date(d("2026-12-02 17:00:00")), day);
        assert_eq!(start_of_local_day(day), d("2026-12-02 17:00:00"));
        assert_eq!(end_of_local_day(day), d("2026-12-03 17:00:00"));
        assert_eq!(
            rfc3339_local(d("2026-12-01 08:00:00")),
            "2026-12-01T15:00:00+07:00"
        );
        assert_eq!(offset().local_minus_utc(), 7 * 3600);
    }
}
