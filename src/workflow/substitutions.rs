//! Time-boxed substitution: a deputy holds an absent user's tasks in a capacity (KT./TL./TUQ.).

use super::model::*;
use super::queries;
use super::service::{active_user, is_uuid, new_id, person};
use crate::accounts::model::UserRow;
use crate::accounts::Role;
use crate::audit::{self, Action, AuditContext};
use crate::db::schema::substitutions;
use crate::db::{self, DbConn};
use crate::documents::access::Viewer;
use crate::error::ApiError;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use std::collections::HashMap;

fn substitution_view(
    s: &SubstitutionRow,
    users: &HashMap<String, UserRow>,
    now: NaiveDateTime,
) -> Substitution {
    let capacity = s.capacity;
    Substitution {
        id: SubstitutionId(s.id.clone()),
        user: person(users, &s.user_id),
        deputy: person(users, &s.deputy_id),
        capacity,
        capacity_label: capacity.label().to_string(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        revoked_at: s.revoked_at,
        active: s.revoked_at.is_none() && s.starts_at <= now && now < s.ends_at,
    }
}

fn substitution_people(
    conn: &mut DbConn,
    rows: &[SubstitutionRow],
) -> Result<HashMap<String, UserRow>, ApiError> {
    let ids: Vec<String> = rows
        .iter()
        .flat_map(|s| [s.user_id.clone(), s.deputy_id.clone()])
        .collect();
    Ok(crate::accounts::queries::users_by_id(conn, &ids)?)
}

/// Substitutions naming the viewer (all of them for an admin).
pub fn list_substitutions(
    conn: &mut DbConn,
    viewer: &Viewer,
) -> Result<Vec<Substitution>, ApiError> {
    let scope = (!viewer.has(Role::Admin)).then_some(viewer.id.as_str());
    let rows = queries::list_substitutions(conn, scope)?;
    let users = substitution_people(conn, &rows)?;
    let now = db::now();
    Ok(rows
        .iter()
        .map(|s| substitution_view(s, &users, now))
        .collect())
}

/// Names a deputy for a period (yourself, or anyone for an admin).
pub fn create_substitution(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    input: NewSubstitution,
) -> Result<Substitution, ApiError> {
    let user_id = input.user_id.clone().unwrap_or_else(|| viewer.id.clone());
    if user_id != viewer.id && !viewer.has(Role::Admin) {
        return Err(ApiError::Forbidden);
    }
    let now = db::now();
    let starts = db::truncate_micros(input.starts_at.unwrap_or(now));
    let ends = db::truncate_micros(input.ends_at);
    if ends <= starts {
        return Err(ApiError::validation("ends_at", "must be after starts_at"));
    }
    if ends <= now {
        return Err(ApiError::validation("ends_at", "is in the past"));
    }
    if ends - starts > chrono::Duration::days(366) {
        return Err(ApiError::validation(
            "ends_at",
            "a substitution lasts at most a year",
        ));
    }
    if input.deputy_id == user_id {
        return Err(ApiError::validation(
            "deputy_id",
            "cannot be the same person",
        ));
    }
    db::write_tx(conn, |conn| {
        active_user(conn, "user_id", &user_id)?;
        active_user(conn, "deputy_id", &input.deputy_id)?;
        let row = SubstitutionRow {
            id: new_id(),
            user_id: user_id.clone(),
            deputy_id: input.deputy_id.clone(),
            capacity: input.capacity,
            starts_at: starts,
            ends_at: ends,
            created_by: Some(viewer.id.clone()),
            created_at: now,
            revoked_at: None,
        };
        diesel::insert_into(substitutions::table)
            .values(&row)
            .execute(conn)?;
        audit::record(
            conn,
            ctx,
            Action::SubstitutionCreated,
            "substitution",
            Some(&row.id),
            json!({"user_id": row.user_id, "deputy_id": row.deputy_id, "capacity": row.capacity,
                   "starts_at": row.starts_at, "ends_at": row.ends_at}),
        )?;
        let users = substitution_people(conn, std::slice::from_ref(&row))?;
        Ok(substitution_view(&row, &users, now))
    })
}

/// Ends a substitution now (its user, or an admin).
pub fn revoke_substitution(
    conn: &mut DbConn,
    ctx: &AuditContext,
    viewer: &Viewer,
    id: &str,
) -> Result<Substitution, ApiError> {
    if !is_uuid(id) {
        return Err(ApiError::NotFound("substitution"));
    }
    db::write_tx(conn, |conn| {
        let mut row = queries::substitution(conn, id)?
            .filter(|s| {
                viewer.has(Role::Admin) || s.user_id == viewer.id || s.deputy_id == viewer.id
            })
            .ok_or(ApiError::NotFound("substitution"))?;
        if row.user_id != viewer.id && !viewer.has(Role::Admin) {
            return Err(ApiError::Forbidden);
        }
        let now = db::now();
        if row.revoked_at.is_none() {
            row.revoked_at = Some(now);
            diesel::update(substitutions::table.find(id))
                .set(substitutions::revoked_at.eq(Some(now)))
                .execute(conn)?;
            audit::record(
                conn,
                ctx,
                Action::SubstitutionRevoked,
                "substitution",
                Some(id),
                json!({"user_id": row.user_id, "deputy_id": row.deputy_id}),
            )?;
        }
        let users = substitution_people(conn, std::slice::from_ref(&row))?;
        Ok(substitution_view(&row, &users, now))
    })
}
