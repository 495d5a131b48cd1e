//! Working days (pure): weekends and public holidays are not counted. Vietnam's fixed solar
//! holidays are known by rule; Tết and Giỗ Tổ follow the lunar calendar and the substitute
//! days are decided yearly, so they come as a list of dates (defaults for 2025–2027 below)
//! that settings can extend (`calendar_extra_holidays`) or override with make-up working
//! days (`calendar_extra_workdays`).

use crate::documents::model::Urgency;
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use std::collections::BTreeSet;

/// Lunar-calendar holidays and yearly substitute days, as the government announced or as
/// they fall by the Labour Code; check each year's decision and add what differs through
/// the settings.
const BUILTIN_DATES: &[(i32, u32, u32)] = &[
    // 2025: Tết Ất Tỵ 25/1–2/2 (27/1 moved to Saturday 8/2), Giỗ Tổ 7/4, 2/5 moved to 26/4,
    // Quốc khánh 1–2/9.
    (2025, 1, 27),
    (2025, 1, 28),
    (2025, 1, 29),
    (2025, 1, 30),
    (2025, 1, 31),
    (2025, 4, 7),
    (2025, 5, 2),
    (2025, 9, 1),
    // 2026: Tết Bính Ngọ 16–20/2, Giỗ Tổ falls on Sunday 26/4 → Monday 27/4, 2/1 off,
    // Quốc khánh 1–2/9.
    (2026, 1, 2),
    (2026, 2, 16),
    (2026, 2, 17),
    (2026, 2, 18),
    (2026, 2, 19),
    (2026, 2, 20),
    (2026, 4, 27),
    (2026, 9, 1),
    // 2027: Tết Đinh Mùi 5–9/2 (6–7/2 fall on the weekend → 10–11/2), Giỗ Tổ 16/4,
    // 1/5 on Saturday → 3/5, Quốc khánh 2–3/9.
    (2027, 2, 5),
    (2027, 2, 8),
    (2027, 2, 9),
    (2027, 2, 10),
    (2027, 2, 11),
    (2027, 4, 16),
    (2027, 5, 3),
    (2027, 9, 3),
];

/// Make-up working Saturdays that went with the moved days above.
const BUILTIN_WORKDAYS: &[(i32, u32, u32)] = &[(2025, 2, 8), (2025, 4, 26)];

/// Which days are worked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Fixed solar holidays (1/1, 30/4, 1/5, 2/9) apply every year.
    pub fixed_solar: bool,
    /// Further days off.
    pub holidays: BTreeSet<NaiveDate>,
    /// Days worked even though they are a weekend or a holiday (make-up days).
    pub workdays: BTreeSet<NaiveDate>,
}

fn ymd(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

impl Calendar {
    /// Weekends only.
    pub fn weekends_only() -> Calendar {
        Calendar::default()
    }

    /// Vietnam's defaults: the fixed solar holidays plus the built-in list.
    pub fn vietnam() -> Calendar {
        Calendar {
            fixed_solar: true,
            holidays: BUILTIN_DATES
                .iter()
                .filter_map(|&(y, m, d)| ymd(y, m, d))
                .collect(),
            workdays: BUILTIN_WORKDAYS
                .iter()
                .filter_map(|&(y, m, d)| ymd(y, m, d))
                .collect(),
        }
    }

    /// Builds the calendar of the settings.
    pub fn from_settings(
        builtin: bool,
        extra_holidays: &str,
        extra_workdays: &str,
    ) -> Result<Calendar, String> {
        let mut cal = if builtin {
            Calendar::vietnam()
        } else {
            Calendar::weekends_only()
        };
        cal.holidays.extend(parse_dates(extra_holidays)?);
        cal.workdays.extend(parse_dates(extra_workdays)?);
        Ok(cal)
    }

    /// Whether `d` is a public holiday (by rule or listed).
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        if self.holidays.contains(&d) {
            return true;
        }
        self.fixed_solar && matches!((d.month(), d.day()), (1, 1) | (4, 30) | (5, 1) | (9, 2))
    }

    /// Whether `d` is worked.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.workdays.contains(&d) {
            return true;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.is_holiday(d)
    }

    /// The first working day on or after `d`.
    pub fn on_or_after(&self, d: NaiveDate) -> NaiveDate {
        let mut d = d;
        // A year without a working day cannot be configured (at most a few dozen holidays),
        // so the loop ends; the bound keeps it total anyway.
        for _ in 0..3660 {
            if self.is_working_day(d) {
                return d;
            }
            d += Duration::days(1);
        }
        d
    }

    /// The `n`-th working day after `d`; `n = 0`: `d` itself if worked, else the next one.
    pub fn add_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        if n == 0 {
            return self.on_or_after(d);
        }
        let mut day = d;
        for _ in 0..n {
            day = self.on_or_after(day + Duration::days(1));
        }
        day
    }

    /// Working days in `(from, to]`: 0 when handled on the same day.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        if to <= from {
            return 0;
        }
        let mut n = 0;
        let mut d = from + Duration::days(1);
        while d <= to {
            if self.is_working_day(d) {
                n += 1;
            }
            d += Duration::days(1);
        }
        n
    }

    /// The deadline of work given at `assigned_utc` with `days` working days: the end of that
    /// working day, Vietnam time, as a UTC time (the next local midnight).
    pub fn deadline(&self, assigned_utc: NaiveDateTime, days: u32) -> NaiveDateTime {
        let day = self.add_working_days(local_date(assigned_utc), days);
        end_of_local_day(day)
    }
}

pub use crate::vntime::{end_of_local_day, local_date, start_of_local_day};

/// Parses `YYYY-MM-DD, YYYY-MM-DD, …` (spaces allowed, empty is none).
pub fn parse_dates(list: &str) -> Result<Vec<NaiveDate>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| format!("'{s}' is not a date like 2026-04-30"))
        })
        .collect()
}

/// Working days allowed by default for a stage or an assignment, by the document's urgency
/// (`normal`, `urgent`, `very_urgent`, `flash`): hỏa tốc the same day, thượng khẩn the next
/// working day, khẩn two working days, thường five.
pub fn default_days(urgency: Urgency) -> u32 {
    match urgency {
        Urgency::Flash => 0,
        Urgency::VeryUrgent => 1,
        Urgency::Urgent => 2,
        Urgency::Normal => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weekends_and_fixed_holidays() {
        let c = Calendar::vietnam();
        assert!(!c.is_working_day(d(2026, 11, 28)), "Saturday");
        assert!(c.is_working_day(d(2026, 11, 27)), "Friday");
        for h in [
            d(2026, 1, 1),
            d(2026, 4, 30),
            d(2026, 5, 1),
            d(2026, 9, 2),
            d(2026, 9, 1),
        ] {
            assert!(!c.is_working_day(h), "{h}");
        }
        assert!(!c.is_working_day(d(2026, 2, 18)), "Tết");
        assert!(!c.is_working_day(d(2026, 4, 27)), "Giỗ Tổ substitute");
        assert!(c.is_working_day(d(2025, 2, 8)), "make-up Saturday");
        assert!(c.is_working_day(d(2028, 2, 10)), "no lunar list for 2028");
    }

    #[test]
    fn adding_working_days_skips_the_april_holidays() {
        let c = Calendar::vietnam();
        // Tue 28/4/2026 + 2: Wed 29/4, then 30/4, 1/5, the weekend → Mon 4/5.
        assert_eq!(c.add_working_days(d(2026, 4, 28), 2), d(2026, 5, 4));
        assert_eq!(c.add_working_days(d(2026, 4, 28), 0), d(2026, 4, 28));
        // Given on a holiday: same-day work is due the next working day.
        assert_eq!(c.add_working_days(d(2026, 4, 30), 0), d(2026, 5, 4));
        assert_eq!(c.add_working_days(d(2026, 4, 30), 1), d(2026, 5, 4));
        assert_eq!(c.add_working_days(d(2026, 4, 30), 2), d(2026, 5, 5));
        assert_eq!(c.working_days_between(d(2026, 4, 28), d(2026, 5, 4)), 2);
        assert_eq!(c.working_days_between(d(2026, 4, 28), d(2026, 4, 28)), 0);
        let w = Calendar::weekends_only();
        assert_eq!(w.working_days_between(d(2026, 4, 28), d(2026, 5, 4)), 4);
    }

    #[test]
    fn deadlines_end_at_local_midnight() {
        let c = Calendar::vietnam();
        // 28/4 09:00 in Hà Nội is 02:00 UTC; 2 working days → end of 4/5 local = 4/5 17:00 UTC.
        let at = d(2026, 4, 28).and_hms_opt(2, 0, 0).unwrap();
        assert_eq!(
            c.deadline(at, 2),
            d(2026, 5, 4).and_hms_opt(17, 0, 0).unwrap()
        );
        // 20:00 UTC on 27/4 is already 28/4 in Vietnam.
        assert_eq!(
            local_date(d(2026, 4, 27).and_hms_opt(20, 0, 0).unwrap()),
            d(2026, 4, 28)
        );
    }

    #[test]
    fn settings_extend_the_calendar() {
        let c = Calendar::from_settings(false, "2026-12-01, 2026-12-02", "2026-12-05").unwrap();
        assert!(!c.is_working_day(d(2026, 12, 1)));
        assert!(c.is_working_day(d(2026, 12, 5)));
        assert!(c.is_working_day(d(2026, 4, 30)), "no built-ins");
        assert!(Calendar::from_settings(true, "30/4", "").is_err());
    }
}
