//! The lateness report: per unit, tasks handled, handled late, the late rate and the median
//! handling time in working days.

use super::calendar::{self, Calendar};
use super::model::*;
use super::queries;
use crate::accounts::Role;
use crate::db::DbConn;
use crate::documents::access::Viewer;
use crate::documents::model::{is_electronic_channel, SignaturesCheck};
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

/// The digital-signature report (same access as [`lateness`]): per unit and period, outgoing
/// documents issued and the share issued with digital signatures throughout, incoming
/// documents received electronically or on paper, the share of the electronic ones whose
/// signatures verified at registration, and the late rate.
pub fn digital(
    conn: &mut DbConn,
    viewer: &Viewer,
    cal: &Calendar,
    unit: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<DigitalReport, ApiError> {
    let late = lateness(conn, viewer, cal, unit, from, to)?;
    conn.transaction(|conn| {
        let units = crate::accounts::queries::units_by_id(conn)?;
        let all_issued = crate::documents::queries::issued_outgoing(conn, from, to)?;
        let issued = issuing_units(conn, all_issued, unit)?;
        let ids: Vec<String> = issued.iter().map(|(id, _)| id.clone()).collect();
        let digital_docs = digitally_issued(queries::signing_steps(conn, &ids)?);
        let received = crate::documents::queries::received_incoming(
            conn,
            unit,
            calendar::start_of_local_day(from),
            calendar::end_of_local_day(to),
        )?;
        let mut per: std::collections::BTreeMap<String, DigitalLine> = Default::default();
        for (id, unit_id) in &issued {
            let l = unit_line(&mut per, &units, unit_id);
            l.outgoing_issued += 1;
            if digital_docs.contains(id) {
                l.issued_digitally += 1;
            }
        }
        for r in &received {
            let l = unit_line(&mut per, &units, &r.unit_id);
            l.incoming_received += 1;
            if is_electronic_channel(r.channel.as_deref()) {
                l.incoming_electronic += 1;
                if r.signatures == Some(SignaturesCheck::Valid) {
                    l.incoming_signatures_verified += 1;
                }
            } else {
                l.incoming_paper += 1;
            }
        }
        for l in &late.units {
            unit_line(&mut per, &units, &l.unit_id).late_rate = l.late_rate;
        }
        if let Some(u) = unit {
            unit_line(&mut per, &units, u);
        }
        let mut lines: Vec<DigitalLine> = per
            .into_values()
            .map(|mut l| {
                l.digital_share = (l.outgoing_issued > 0)
                    .then(|| l.issued_digitally as f64 / l.outgoing_issued as f64);
                l.signatures_verified_share = (l.incoming_electronic > 0)
                    .then(|| l.incoming_signatures_verified as f64 / l.incoming_electronic as f64);
                l
            })
            .collect();
        lines.sort_by(|a, b| a.unit_code.cmp(&b.unit_code));
        Ok(DigitalReport {
            from,
            to,
            units: lines,
        })
    })
}

/// Issued documents by the unit that issued them — the unit of the register that numbered them
/// (the drafting unit when none did) —, kept for `unit` when one is asked for.
fn issuing_units(
    conn: &mut DbConn,
    issued: Vec<(String, String)>,
    unit: Option<&str>,
) -> Result<Vec<(String, String)>, ApiError> {
    let ids: Vec<String> = issued.iter().map(|(id, _)| id.clone()).collect();
    let mut register_of = std::collections::HashMap::new();
    for chunk in ids.chunks(1000) {
        for r in crate::registry::queries::registrations_of(conn, chunk)? {
            register_of.insert(r.document_id, r.register_id);
        }
    }
    let mut unit_of_register = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(issued.len());
    for (id, drafting_unit) in issued {
        let issuing = match register_of.get(&id) {
            Some(reg) => {
                if !unit_of_register.contains_key(reg) {
                    let u = crate::registry::queries::find(conn, reg)?.map(|r| r.unit_id);
                    unit_of_register.insert(reg.clone(), u);
                }
                unit_of_register[reg].clone().unwrap_or(drafting_unit)
            }
            None => drafting_unit,
        };
        if unit.is_none_or(|u| u == issuing) {
            out.push((id, issuing));
        }
    }
    Ok(out)
}

/// The report line of `unit_id`, made empty on first use.
fn unit_line<'a>(
    per: &'a mut std::collections::BTreeMap<String, DigitalLine>,
    units: &std::collections::HashMap<String, crate::accounts::model::UnitRow>,
    unit_id: &str,
) -> &'a mut DigitalLine {
    per.entry(unit_id.to_string()).or_insert_with(|| {
        let u = units.get(unit_id);
        DigitalLine {
            unit_id: unit_id.to_string(),
            unit_code: u.map(|u| u.code.clone()).unwrap_or_default(),
            unit_name: u.map(|u| u.name.clone()).unwrap_or_default(),
            outgoing_issued: 0,
            issued_digitally: 0,
            digital_share: None,
            incoming_received: 0,
            incoming_electronic: 0,
            incoming_paper: 0,
            incoming_signatures_verified: 0,
            signatures_verified_share: None,
            late_rate: 0.0,
        }
    })
}

/// The documents whose routes issued them with the seal (an `issue` action whose answer
/// carries a signature) and never approved a `sign` stage without signing.
fn digitally_issued(steps: Vec<queries::SigningStep>) -> std::collections::HashSet<String> {
    use crate::workflow::engine::StageKind;
    let mut sealed = std::collections::HashSet::new();
    let mut unsigned = std::collections::HashSet::new();
    for step in steps {
        match (step.stage_kind, step.action.as_str()) {
            (StageKind::Sign, "approve") => {
                unsigned.insert(step.document_id);
            }
            (StageKind::Issue, "issue") => {
                let signed = step
                    .response
                    .and_then(|r| serde_json::from_str::<ActionResult>(&r).ok())
                    .is_some_and(|r| r.signature.is_some());
                if signed {
                    sealed.insert(step.document_id);
                }
            }
            _ => {}
        }
    }
    sealed.retain(|d| !unsigned.contains(d));
    sealed
}

/// The report as CSV (one line per unit, a header first; shares as decimals).
pub fn digital_csv(r: &DigitalReport) -> String {
    use crate::registry::service::csv_field;
    let mut out = String::from(
        "unit_code,unit_name,outgoing_issued,issued_digitally,digital_share,incoming_received,incoming_electronic,incoming_paper,incoming_signatures_verified,signatures_verified_share,late_rate\r\n",
    );
    for l in &r.units {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{:.4}\r\n",
            csv_field(&l.unit_code),
            csv_field(&l.unit_name),
            l.outgoing_issued,
            l.issued_digitally,
            l.digital_share
                .map(|s| format!("{s:.4}"))
                .unwrap_or_default(),
            l.incoming_received,
            l.incoming_electronic,
            l.incoming_paper,
            l.incoming_signatures_verified,
            l.signatures_verified_share
                .map(|s| format!("{s:.4}"))
                .unwrap_or_default(),
            l.late_rate,
        ));
    }
    out
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
