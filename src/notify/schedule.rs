//! Time decisions, free of I/O: the clock, retry backoff, digest hours, and which reminder,
//! overdue notice or escalation a task with a deadline is due at a given moment.

use crate::workflow::calendar::{local_date, Calendar};
use chrono::{Duration, NaiveDateTime, NaiveTime};
use std::sync::Mutex;

// Vietnam is UTC+07:00 all year: digest hours and deadlines in emails are in its time.
use crate::vntime;

/// Where "now" comes from for reminders, escalations and digests.
pub trait Clock: Send + Sync {
    /// The current time, UTC.
    fn now(&self) -> NaiveDateTime;
    /// A clock an admin sets (tests, drills): the deadline scan follows it at every poll.
    fn is_manual(&self) -> bool {
        false
    }
}

/// The clock of the process: the system time, or a manual clock set through the admin API
/// (`notify_clock = "manual"`, for tests and drills: no sleeping for hours).
#[derive(Debug)]
pub enum AppClock {
    /// The system time.
    System,
    /// A time set by hand; starts at the system time.
    Manual(Mutex<NaiveDateTime>),
}

impl AppClock {
    /// The clock `notify_clock` names (`system` or `manual`).
    pub fn from_setting(setting: &str) -> AppClock {
        if setting == "manual" {
            AppClock::Manual(Mutex::new(crate::db::now()))
        } else {
            AppClock::System
        }
    }

    /// Sets a manual clock; false for the system clock.
    pub fn set(&self, t: NaiveDateTime) -> bool {
        match self {
            AppClock::System => false,
            AppClock::Manual(m) => {
                // A poisoned lock only means a panic elsewhere while holding a plain value.
                let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
                *guard = crate::db::truncate_micros(t);
                true
            }
        }
    }
}

impl Clock for AppClock {
    fn now(&self) -> NaiveDateTime {
        match self {
            AppClock::System => crate::db::now(),
            AppClock::Manual(m) => *m.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
    fn is_manual(&self) -> bool {
        matches!(self, AppClock::Manual(_))
    }
}

/// Delay before the next attempt after `attempts` failed ones: `base · 2^(attempts-1)`, capped
/// at `max`, then jittered into its upper half by `jitter` ∈ [0, 1] so that messages failing
/// together do not retry together.
pub fn backoff(attempts: i32, base_secs: u64, max_secs: u64, jitter: f64) -> Duration {
    let exp = attempts.clamp(1, 40) - 1;
    let raw = base_secs.saturating_mul(1u64 << exp.min(30)).min(max_secs) as f64;
    let jitter = jitter.clamp(0.0, 1.0);
    let secs = raw / 2.0 + raw / 2.0 * jitter;
    Duration::milliseconds((secs * 1000.0).round() as i64)
}

/// A process's sending rate (`notify_rate` messages a second, shared by its senders): a token
/// bucket that holds at most one second of messages. An idle outbox keeps it full, so a fresh
/// message goes out at once; a backlog drains at the rate, in batches, instead of taking the
/// database and the cores from the people working.
#[derive(Debug)]
pub struct SendRate {
    per_sec: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl SendRate {
    /// A full bucket of `per_sec` (at least 1) messages.
    pub fn new(per_sec: u32, now: std::time::Instant) -> SendRate {
        let per_sec = f64::from(per_sec.max(1));
        SendRate {
            per_sec,
            tokens: per_sec,
            at: now,
        }
    }

    /// The most one [`SendRate::take`] can ever get: one second of messages.
    pub fn capacity(&self) -> u32 {
        self.per_sec as u32
    }

    /// Takes `want` messages (at most [`SendRate::capacity`]) when the bucket holds them;
    /// otherwise takes nothing and answers how long until it will.
    pub fn take(&mut self, want: u32, now: std::time::Instant) -> Result<(), std::time::Duration> {
        let want = f64::from(want.min(self.capacity()));
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.per_sec);
        self.at = self.at.max(now);
        if self.tokens >= want {
            self.tokens -= want;
            Ok(())
        } else {
            Err(std::time::Duration::from_secs_f64(
                (want - self.tokens) / self.per_sec,
            ))
        }
    }

    /// Gives back messages taken but not sent (the outbox held fewer).
    pub fn give_back(&mut self, n: u32) {
        self.tokens = (self.tokens + f64::from(n)).min(self.per_sec);
    }
}

/// The next digest time after `now` (UTC) at `hour` o'clock Vietnam time, as UTC.
pub fn next_digest_at(now: NaiveDateTime, hour: i32) -> NaiveDateTime {
    let local = vntime::local(now);
    let at = NaiveTime::from_hms_opt(hour.clamp(0, 23) as u32, 0, 0).unwrap_or(NaiveTime::MIN);
    let mut t = local.date().and_time(at);
    if t <= local {
        t += Duration::days(1);
    }
    vntime::utc_of_local(t)
}

/// A time as Vietnamese read it: `dd/mm/yyyy HH:MM` at UTC+07:00.
pub fn vietnam_time(t: NaiveDateTime) -> String {
    vntime::local(t).format("%d/%m/%Y %H:%M").to_string()
}

/// A deadline as an email shows it (Vietnam time). A deadline at local midnight is the end of
/// the day before (the last working day a task has), so it shows as that day alone,
/// "03/12/2026", not "04/12/2026 00:00"; any other time shows with its hour.
pub fn deadline_text(t: NaiveDateTime) -> String {
    use chrono::Timelike;
    let local = vntime::local(t);
    if local.time().num_seconds_from_midnight() == 0 && local.nanosecond() == 0 {
        (local - Duration::days(1)).format("%d/%m/%Y").to_string()
    } else {
        local.format("%d/%m/%Y %H:%M").to_string()
    }
}

/// An open task with a deadline, as the reminder scanner needs it. The workflow's query of open
/// tasks produces these (one function: [`super::service::open_tasks`]).
#[derive(Debug, Clone)]
pub struct OpenTask {
    pub task_id: String,
    pub document_id: Option<String>,
    /// Who must act (assignees and their active deputies).
    pub assignee_ids: Vec<String>,
    /// Head of the unit that owns the task; escalations go to them.
    pub unit_head_id: Option<String>,
    /// Who assigned it (shown as the sender).
    pub assigned_by: Option<String>,
    /// Deadline, UTC.
    pub deadline: NaiveDateTime,
}

/// A notice about a task's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The deadline is within the lead time.
    Reminder,
    /// The deadline has passed (sent once).
    Overdue,
    /// Escalation to the unit head: day 0 when the deadline passes, then one a day.
    Escalation { day: i64 },
}

impl Notice {
    /// Part of the once-only key of the notice (with the task, its deadline and the recipient).
    pub fn key(self) -> String {
        match self {
            Notice::Reminder => "reminder".into(),
            Notice::Overdue => "overdue".into(),
            Notice::Escalation { day } => format!("escalation-{day}"),
        }
    }
}

/// The notices due for a task at `now`. Each notice has a key: the caller writes each one at most
/// once (so calling this every minute sends each notice once), and only the current escalation
/// day is returned (a server that was down for three days sends one escalation, not three).
pub fn due_notices(
    deadline: NaiveDateTime,
    now: NaiveDateTime,
    lead_hours: i64,
    cal: &Calendar,
) -> Vec<Notice> {
    if now >= deadline {
        let day = (now - deadline).num_days();
        vec![Notice::Overdue, Notice::Escalation { day }]
    } else if lead_hours > 0 && now >= reminder_at(deadline, lead_hours, cal) {
        vec![Notice::Reminder]
    } else {
        vec![]
    }
}

/// When the reminder for `deadline` is due: `lead_hours` working hours before it, counting
/// only hours that fall on working days in Vietnam (a Monday deadline with a 24-hour lead is
/// reminded on Friday, not on Sunday).
pub fn reminder_at(deadline: NaiveDateTime, lead_hours: i64, cal: &Calendar) -> NaiveDateTime {
    // Bounded walk back, an hour at a time: 720 hours of lead cross at most a few months.
    let mut at = deadline;
    let mut counted = 0;
    for _ in 0..24 * 400 {
        if counted >= lead_hours {
            break;
        }
        at -= Duration::hours(1);
        if cal.is_working_day(local_date(at)) {
            counted += 1;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn t(d: u32, h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, d)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    #[test]
    fn the_send_rate_lets_a_second_of_messages_through_then_paces_the_rest() {
        use std::time::{Duration as D, Instant};
        let t0 = Instant::now();
        let mut r = SendRate::new(50, t0);
        assert_eq!(r.capacity(), 50);
        // Full at the start: a first batch of 50 goes at once, the next waits a second.
        assert_eq!(r.take(50, t0), Ok(()));
        let wait = r.take(50, t0).expect_err("empty");
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-9, "{wait:?}");
        // After 0.2 s, 10 messages are back: 10 go, 11 do not.
        let t1 = t0 + D::from_millis(200);
        assert!(r.take(11, t1).is_err());
        assert_eq!(r.take(10, t1), Ok(()));
        // Unused messages come back, but never beyond one second's worth.
        r.give_back(1000);
        assert_eq!(r.take(50, t1), Ok(()));
        assert!(r.take(1, t1).is_err());
        // A long idle time refills to one second, not more.
        let t2 = t1 + D::from_secs(3600);
        assert_eq!(r.take(50, t2), Ok(()));
        assert!(r.take(1, t2).is_err());
        // Asking for more than a second's worth asks for a second's worth.
        let t3 = t2 + D::from_secs(1);
        assert_eq!(r.take(10_000, t3), Ok(()));
        // A clock read out of order between threads never adds messages.
        assert!(r.take(1, t2).is_err());
        // Under one message a second is one a second.
        let mut slow = SendRate::new(0, t0);
        assert_eq!(slow.capacity(), 1);
        assert_eq!(slow.take(5, t0), Ok(()));
        assert!(slow.take(1, t0 + D::from_millis(999)).is_err());
        assert_eq!(slow.take(1, t0 + D::from_millis(1000)), Ok(()));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_in_the_upper_half() {
        assert_eq!(backoff(1, 30, 3600, 1.0), Duration::seconds(30));
        assert_eq!(backoff(1, 30, 3600, 0.0), Duration::seconds(15));
        assert_eq!(backoff(2, 30, 3600, 1.0), Duration::seconds(60));
        assert_eq!(backoff(4, 30, 3600, 1.0), Duration::seconds(240));
        assert_eq!(backoff(20, 30, 3600, 1.0), Duration::seconds(3600));
        assert_eq!(backoff(20, 30, 3600, 0.0), Duration::seconds(1800));
        let mid = backoff(3, 30, 3600, 0.5);
        assert!(mid > Duration::seconds(60) && mid < Duration::seconds(120));
    }

    #[test]
    fn digest_time_is_the_next_hour_in_vietnam() {
        // 00:30 UTC is 07:30 in Hà Nội: an 08:00 digest is at 01:00 UTC the same day.
        assert_eq!(next_digest_at(t(1, 0, 30), 8), t(1, 1, 0));
        // 02:00 UTC is 09:00 in Hà Nội: the next 08:00 is tomorrow.
        assert_eq!(next_digest_at(t(1, 2, 0), 8), t(2, 1, 0));
        // Exactly at the hour: the next one.
        assert_eq!(next_digest_at(t(1, 1, 0), 8), t(2, 1, 0));
        // 17:00 UTC is already the next day in Hà Nội (00:00): a 06:00 digest is at 23:00 UTC.
        assert_eq!(next_digest_at(t(1, 17, 0), 6), t(1, 23, 0));
    }

    #[test]
    fn notices_before_at_and_after_the_deadline() {
        let cal = Calendar::vietnam();
        let deadline = t(10, 10, 0);
        assert_eq!(due_notices(deadline, t(9, 9, 59), 24, &cal), vec![]);
        assert_eq!(
            due_notices(deadline, t(9, 10, 0), 24, &cal),
            vec![Notice::Reminder]
        );
        assert_eq!(
            due_notices(deadline, t(10, 9, 59), 24, &cal),
            vec![Notice::Reminder]
        );
        assert_eq!(
            due_notices(deadline, t(10, 10, 0), 24, &cal),
            vec![Notice::Overdue, Notice::Escalation { day: 0 }]
        );
        assert_eq!(
            due_notices(deadline, t(11, 9, 59), 24, &cal),
            vec![Notice::Overdue, Notice::Escalation { day: 0 }]
        );
        assert_eq!(
            due_notices(deadline, t(13, 10, 0), 24, &cal),
            vec![Notice::Overdue, Notice::Escalation { day: 3 }]
        );
        // No lead time: no reminder, still the overdue notice.
        assert_eq!(due_notices(deadline, t(10, 9, 0), 0, &cal), vec![]);
    }

    #[test]
    fn reminder_lead_counts_working_hours_only() {
        let cal = Calendar::vietnam();
        // Monday 7 December 2026, 10:00 in Hà Nội (03:00 UTC); 24 working hours earlier is
        // Friday 4 December at the same time: Saturday and Sunday do not count.
        let monday = t(7, 3, 0);
        assert_eq!(reminder_at(monday, 24, &cal), t(4, 3, 0));
        assert_eq!(
            due_notices(monday, t(5, 3, 0), 24, &cal),
            vec![Notice::Reminder]
        );
        // Midweek nothing is skipped.
        assert_eq!(reminder_at(t(10, 3, 0), 24, &cal), t(9, 3, 0));
        // Across National Day (Tuesday 1 and Wednesday 2 September 2026 off): 24 working hours
        // before Thursday 3 September, 10:00 is Monday 31 August, 10:00.
        let thu = NaiveDate::from_ymd_opt(2026, 9, 3)
            .unwrap()
            .and_hms_opt(3, 0, 0)
            .unwrap();
        let mon = NaiveDate::from_ymd_opt(2026, 8, 31)
            .unwrap()
            .and_hms_opt(3, 0, 0)
            .unwrap();
        assert!(cal.is_holiday(NaiveDate::from_ymd_opt(2026, 9, 1).unwrap()));
        assert!(cal.is_holiday(NaiveDate::from_ymd_opt(2026, 9, 2).unwrap()));
        assert_eq!(reminder_at(thu, 24, &cal), mon);
    }

    #[test]
    fn vietnam_time_is_utc_plus_seven() {
        assert_eq!(vietnam_time(t(1, 20, 5)), "02/12/2026 03:05");
    }

    #[test]
    fn manual_clock_is_settable_and_system_clock_is_not() {
        let c = AppClock::from_setting("manual");
        assert!(c.set(t(5, 8, 0)));
        assert_eq!(c.now(), t(5, 8, 0));
        assert!(!AppClock::from_setting("system").set(t(5, 8, 0)));
    }
}
