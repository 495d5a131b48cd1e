//! Register operations and numbering. Public functions own their transactions, except
//! [`assign_number`], which must run inside the caller's.

use super::model::{
    check_template, render_symbol, NewRegister, Register, RegisterChanges, RegisterRow, Series,
    DEFAULT_TEMPLATE,
};
use super::queries;
use crate::accounts::{queries as accounts_q, Role};
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::{document_grants, document_registrations, documents, registers};
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::documents::model::{
    Confidentiality, DocumentRow, Registration, RegistrationRow, Urgency,
};
use crate::error::{ApiError, ErrorCode};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde_json::json;

/// The local (Vietnam) calendar year of a UTC time: the year of a number is the local year.
pub use crate::vntime::local_year;

fn valid_name(name: &str) -> Result<String, ApiError> {
    crate::text::check_name("name", name)?;
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 300 {
        return Err(ApiError::validation("name", "must be 1–300 characters"));
    }
    Ok(n.to_string())
}

/// Whether the viewer manages `reg`: an admin, or a clerk of its unit.
pub fn manages(viewer: &Viewer, reg: &RegisterRow) -> bool {
    viewer.has(Role::Admin) || viewer.is_clerk_of(&reg.unit_id)
}

/// A register the viewer manages, or 404.
pub fn managed(conn: &mut DbConn, viewer: &Viewer, id: &str) -> Result<RegisterRow, ApiError> {
    match queries::find(conn, id)? {
        Some(r) if manages(viewer, &r) => Ok(r),
        _ => Err(ApiError::NotFound("register")),
    }
}

/// Creates a register in the clerk's own unit (or any unit, for an admin).
pub fn create(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    input: NewRegister,
) -> Result<Register, ApiError> {
    let unit_id = if viewer.has(Role::Admin) {
        input
            .unit_id
            .clone()
            .or_else(|| viewer.unit_id.clone())
            .ok_or_else(|| {
                ApiError::validation("unit_id", "name the unit the register belongs to")
            })?
    } else if viewer.has(Role::Clerk) {
        let own = viewer
            .unit_id
            .clone()
            .ok_or_else(|| ApiError::validation("unit_id", "you belong to no unit"))?;
        if input.unit_id.as_deref().is_some_and(|u| u != own) {
            return Err(ApiError::Forbidden);
        }
        own
    } else {
        return Err(ApiError::Forbidden);
    };
    let name = valid_name(&input.name)?;
    let template = input
        .symbol_template
        .as_deref()
        .unwrap_or(DEFAULT_TEMPLATE)
        .trim()
        .to_string();
    check_template(&template).map_err(|m| ApiError::validation("symbol_template", m))?;
    db::write_tx(conn, |conn| {
        match accounts_q::find_unit(conn, &unit_id)? {
            Some(u) if u.active => {}
            _ => return Err(ApiError::validation("unit_id", "names no active unit")),
        }
        let now = db::now();
        let row = RegisterRow {
            id: uuid::Uuid::new_v4().to_string(),
            unit_id: unit_id.clone(),
            kind: input.kind,
            name: name.clone(),
            symbol_template: template.clone(),
            active: true,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(registers::table)
            .values(&row)
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::RegisterCreated,
            "register",
            Some(&row.id),
            json!({"unit_id": row.unit_id, "kind": row.kind, "name": row.name, "symbol_template": row.symbol_template}),
        )?;
        Ok(Register::from(row))
    })
}

/// Changes a register's name, template or active flag.
pub fn update(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    changes: RegisterChanges,
) -> Result<Register, ApiError> {
    let name = changes.name.as_deref().map(valid_name).transpose()?;
    if let Some(t) = &changes.symbol_template {
        check_template(t.trim()).map_err(|m| ApiError::validation("symbol_template", m))?;
    }
    db::write_tx(conn, |conn| {
        let mut row = managed(conn, viewer, id)?;
        if let Some(n) = name.clone() {
            row.name = n;
        }
        if let Some(t) = &changes.symbol_template {
            row.symbol_template = t.trim().to_string();
        }
        if let Some(a) = changes.active {
            row.active = a;
        }
        row.updated_at = db::now();
        diesel::update(registers::table.find(&row.id))
            .set((
                registers::name.eq(&row.name),
                registers::symbol_template.eq(&row.symbol_template),
                registers::active.eq(row.active),
                registers::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::RegisterUpdated,
            "register",
            Some(&row.id),
            json!({"name": row.name, "symbol_template": row.symbol_template, "active": row.active}),
        )?;
        Ok(Register::from(row))
    })
}

/// One register the viewer manages (a read: not recorded, see `audit::service::Read`).
pub fn get(conn: &mut DbConn, viewer: &Viewer, id: &str) -> Result<Register, ApiError> {
    let reg = managed(conn, viewer, id)?;
    Ok(Register::from(reg))
}

/// Registers the viewer manages (an admin: all, or one unit's); not recorded either.
pub fn list(
    conn: &mut DbConn,
    viewer: &Viewer,
    unit_id: Option<&str>,
) -> Result<Vec<Register>, ApiError> {
    let rows = if viewer.has(Role::Admin) {
        queries::list(conn, unit_id)?
    } else if viewer.has(Role::Clerk) {
        match &viewer.unit_id {
            Some(own) if unit_id.is_none_or(|u| u == own) => queries::list(conn, Some(own))?,
            _ => Vec::new(),
        }
    } else {
        return Err(ApiError::Forbidden);
    };
    Ok(rows.into_iter().map(Register::from).collect())
}

/// Gives `doc` the next number of `reg` (its series by confidentiality, the current Vietnam
/// year), writes the registration onto the document row and returns it. Call inside a write
/// transaction: the counter row stays locked until it commits, and a rollback returns the number.
/// Used for incoming documents at registration and for outgoing ones at issuance.
pub fn assign_number(
    conn: &mut DbConn,
    registered_by: Option<&str>,
    reg: &RegisterRow,
    doc: &DocumentRow,
) -> Result<Registration, ApiError> {
    if queries::registration_of(conn, &doc.id)?.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::AlreadyRegistered,
            "the document already has a number",
        ));
    }
    let series = if doc.confidentiality.is_classified() {
        Series::Confidential
    } else {
        Series::Normal
    };
    let now = db::now();
    let year = local_year(now);
    let number = db::next_register_number(conn, &reg.id, series.as_str(), year)?;
    let org_code = accounts_q::find_unit(conn, &reg.unit_id)?
        .map(|u| u.code)
        .unwrap_or_default();
    let symbol = render_symbol(
        &reg.symbol_template,
        number,
        &doc.type_code,
        &org_code,
        year,
    );
    let row = RegistrationRow {
        document_id: doc.id.clone(),
        register_id: reg.id.clone(),
        series,
        year,
        number,
        symbol,
        registered_at: now,
        registered_by: registered_by.map(str::to_string),
    };
    diesel::insert_into(document_registrations::table)
        .values(&row)
        .execute(conn)?;
    diesel::update(documents::table.find(&doc.id))
        .set(documents::updated_at.eq(now))
        .execute(conn)?;
    Ok(Registration::from(row))
}

/// One CSV cell. A cell a spreadsheet would read as a formula (starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return: OWASP's "CSV injection" list) gets a leading `'` and
/// quotes, so `=HYPERLINK(…)` shows as text instead of running.
pub(crate) fn csv_field(s: &str) -> String {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula {
        format!("\"'{}\"", s.replace('"', "\"\""))
    } else if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn local_time(t: NaiveDateTime) -> String {
    crate::vntime::rfc3339_local(t)
}

/// Output of a register report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// UTF-8 CSV with a byte-order mark.
    Csv,
    /// Printable A4 landscape PDF.
    Pdf,
}

fn urgency_vi(u: Urgency) -> &'static str {
    match u {
        Urgency::Urgent => "khẩn",
        Urgency::VeryUrgent => "thượng khẩn",
        Urgency::Flash => "hỏa tốc",
        Urgency::Normal => "thường",
    }
}

fn confidentiality_vi(c: Confidentiality) -> &'static str {
    match c {
        Confidentiality::Confidential => "mật",
        Confidentiality::Secret => "tối mật",
        Confidentiality::TopSecret => "tuyệt mật",
        Confidentiality::Normal => "thường",
    }
}

/// The register's entries registered between `from` and `to` (Vietnam dates, inclusive), as
/// CSV (UTF-8 with a byte-order mark, so spreadsheet programs show Vietnamese correctly) or as
/// a printable PDF. Classified entries show their number but not their subject unless the
/// viewer is granted.
pub fn report(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
    from: NaiveDate,
    to: NaiveDate,
    format: ReportFormat,
) -> Result<Vec<u8>, ApiError> {
    if to < from {
        return Err(ApiError::validation("to", "must not be before from"));
    }
    db::write_tx(conn, |conn| {
        let reg = managed(conn, viewer, id)?;
        let start = crate::vntime::start_of_local_day(from);
        let end = crate::vntime::end_of_local_day(to);
        let rows = queries::entries(conn, &reg.id, start, end)?;
        let granted: Vec<String> = document_grants::table
            .filter(document_grants::user_id.eq(&viewer.id))
            .select(document_grants::document_id)
            .load(conn)?;
        let subject_of = |d: &DocumentRow| {
            if d.confidentiality.is_classified() && !granted.contains(&d.id) {
                "[mật]".to_string()
            } else {
                d.subject.clone()
            }
        };
        let out = match format {
            ReportFormat::Csv => {
                let mut out = String::from("\u{feff}");
                out.push_str("number,symbol,series,registered_at,type,document_symbol,issue_date,issuer,subject,urgency,confidentiality,handling_deadline,received_at,received_channel,page_count,status\n");
                for (r, d) in &rows {
                    let fields = [
                        format!("{:02}", r.number),
                        r.symbol.clone(),
                        r.series.as_str().to_string(),
                        local_time(r.registered_at),
                        d.type_code.clone(),
                        d.number_symbol.clone().unwrap_or_default(),
                        d.issue_date.map(|x| x.to_string()).unwrap_or_default(),
                        d.issuer.clone().unwrap_or_default(),
                        subject_of(d),
                        d.urgency.as_str().to_string(),
                        d.confidentiality.as_str().to_string(),
                        d.handling_deadline
                            .map(|x| x.to_string())
                            .unwrap_or_default(),
                        d.received_at.map(local_time).unwrap_or_default(),
                        d.received_channel.clone().unwrap_or_default(),
                        d.page_count.map(|x| x.to_string()).unwrap_or_default(),
                        d.status.as_str().to_string(),
                    ];
                    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                    out.push_str(&line.join(","));
                    out.push('\n');
                }
                out.into_bytes()
            }
            ReportFormat::Pdf => {
                let unit = accounts_q::find_unit(conn, &reg.unit_id)?
                    .map(|u| u.name)
                    .unwrap_or_default();
                let heading = vec![
                    format!("{} — {}", reg.name, unit),
                    format!("Từ ngày {} đến ngày {}", from.format("%d/%m/%Y"), to.format("%d/%m/%Y")),
                    "Số · Ký hiệu · Ngày đăng ký · Số/ký hiệu gốc · Ngày văn bản · Nơi ban hành · Trích yếu · Độ khẩn · Độ mật".to_string(),
                ];
                let entries: Vec<String> = rows
                    .iter()
                    .map(|(r, d)| {
                        format!(
                            "{:02} · {} · {} · {} · {} · {} · {} · {} · {}",
                            r.number,
                            r.symbol,
                            crate::vntime::local(r.registered_at).format("%d/%m/%Y %H:%M"),
                            d.number_symbol.clone().unwrap_or_default(),
                            d.issue_date
                                .map(|x| x.format("%d/%m/%Y").to_string())
                                .unwrap_or_default(),
                            d.issuer.clone().unwrap_or_default(),
                            subject_of(d),
                            urgency_vi(d.urgency),
                            confidentiality_vi(d.confidentiality),
                        )
                    })
                    .collect();
                super::report::pdf(&heading, &entries)?
            }
        };
        audit::record(
            conn,
            ctx,
            Action::RegisterReportExported,
            "register",
            Some(&reg.id),
            json!({"from": from, "to": to, "entries": rows.len(), "format": format!("{format:?}").to_lowercase()}),
        )?;
        Ok(out)
    })
}
