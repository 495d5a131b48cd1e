//! The lateness report: per unit, tasks handled, handled late, the late rate and the median
//! handling time in working days.

use super::calendar::{self, Calendar};
use super::model::*;
use super::queries;
use crate::accounts::Role;
use crate::db::DbConn;
use crate::documents::access::Viewer;
use crate::error::ApiError;
use chrono::NaiveDate;
use diesel::Connection;

fn median(values: &mut [i64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2] as f64
    } else {
        (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0
    })
}

/// Per unit: tasks handled in `[from, to]` (Vietnam dates), handled late, the late rate and
/// the median handling time in working days. Admins see any unit; a unit's head and clerks
/// see their unit.
pub fn lateness(
    conn: &mut DbConn,
    viewer: &Viewer,
    cal: &Calendar,
    unit: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<LatenessReport, ApiError> {
    if to < from {
        return Err(ApiError::validation("to", "must not be before from"));
    }
    if (to - from).num_days() > 366 * 5 {
        return Err(ApiError::validation(
            "to",
            "a report covers at most five years",
        ));
    }
    conn.transaction(|conn| {
        let units = crate::accounts::queries::units_by_id(conn)?;
        may_see(viewer, &units, unit)?;
        let tasks = queries::handled_tasks(
            conn,
            unit,
            calendar::start_of_local_day(from),
            calendar::end_of_local_day(to),
        )?;
        let mut per: std::collections::BTreeMap<String, (i64, i64, Vec<i64>)> = Default::default();
        for t in &tasks {
            let (Some(acted), Some(deadline)) = (t.acted_at, t.deadline) else {
                continue;
            };
            let key = t.unit_id.clone().unwrap_or_default();
            let e = per.entry(key).or_default();
            e.0 += 1;
            if acted > deadline {
                e.1 += 1;
            }
            e.2.push(cal.working_days_between(
                calendar::local_date(t.assigned_at),
                calendar::local_date(acted),
            ));
        }
        if let Some(u) = unit {
            per.entry(u.to_string()).or_default();
        }
        let mut lines: Vec<LatenessLine> = per
            .into_iter()
            .map(|(unit_id, (handled, late, mut days))| {
                let u = units.get(&unit_id);
                LatenessLine {
                    unit_code: u.map(|u| u.code.clone()).unwrap_or_default(),
                    unit_name: u.map(|u| u.name.clone()).unwrap_or_default(),
                    unit_id,
                    handled,
                    handled_late: late,
                    late_rate: if handled > 0 {
                        late as f64 / handled as f64
                    } else {
                        0.0
                    },
                    median_handling_days: median(&mut days),
                }
            })
            .collect();
        lines.sort_by(|a, b| a.unit_code.cmp(&b.unit_code));
        Ok(LatenessReport {
            from,
            to,
            units: lines,
        })
    })
}

/// Admins see any unit; a unit's head and clerks see their unit.
fn may_see(
    viewer: &Viewer,
    units: &std::collections::HashMap<String, crate::accounts::model::UnitRow>,
    unit: Option<&str>,
) -> Result<(), ApiError> {
    let Some(u) = unit else {
        if viewer.has(Role::Admin) {
            return Ok(());
        }
        return Err(ApiError::validation(
            "unit",
            "name your unit (admins may leave it out)",
        ));
    };
    let row = units
        .get(u)
        .ok_or_else(|| ApiError::validation("unit", "names no unit"))?;
    let allowed = viewer.has(Role::Admin)
        || row.head_user_id.as_deref() == Some(viewer.id.as_str())
        || viewer.is_clerk_of(u);
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3, 1, 2]), Some(2.0));
        assert_eq!(median(&mut [4, 1, 2, 3]), Some(2.5));
    }
}
