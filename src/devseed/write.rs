//! The seeder's inserts: multi-row `INSERT`s of the domains' row types, in foreign-key order,
//! inside the caller's transaction. Bulk on purpose (see the module note in `mod.rs`).

use super::plan::{Batch, Counters, Office, SharedFile};
use crate::db::schema::{
    document_registrations, document_versions, documents, register_counters, registers, units,
    user_roles, users, workflow_routes, workflow_stages, workflow_tasks,
};
use crate::db::DbConn;
use chrono::NaiveDateTime;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::result::Error as DbError;

/// Bound parameters per statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const PARAMS: usize = 30_000;

/// Inserts `rows` into `table` in statements of at most [`PARAMS`] values. On the backend's
/// own connection: diesel's multi-backend connection has no multi-row `INSERT` (its dialect
/// cannot say whether `DEFAULT` is allowed), each backend's has.
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr, $columns:expr) => {{
        for chunk in $rows.chunks((PARAMS / $columns).max(1)) {
            match &mut *$conn {
                DbConn::Pg(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                DbConn::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
    }};
}

/// Whether the unit `id` exists (the marker of an earlier run with the same seed).
pub fn unit_exists(conn: &mut DbConn, id: &str) -> Result<bool, DbError> {
    let n: i64 = units::table
        .filter(units::id.eq(id))
        .select(count_star())
        .first(conn)?;
    Ok(n > 0)
}

/// Users other than the first `admin`, and documents: what a real office would have.
pub fn foreign_rows(conn: &mut DbConn) -> Result<(i64, i64), DbError> {
    let users: i64 = users::table
        .filter(users::username.ne("admin"))
        .select(count_star())
        .first(conn)?;
    let documents: i64 = documents::table.select(count_star()).first(conn)?;
    Ok((users, documents))
}

/// Units (heads set after the users exist), users, roles, registers.
pub fn office(conn: &mut DbConn, o: &Office) -> Result<(), DbError> {
    let bare: Vec<_> = o
        .units
        .iter()
        .map(|u| crate::accounts::model::UnitRow {
            head_user_id: None,
            ..u.clone()
        })
        .collect();
    // Parents first: the root is the first row of the one statement.
    insert_all!(conn, units::table, bare, 8);
    insert_all!(conn, users::table, o.users, 11);
    let roles: Vec<_> = o
        .roles
        .iter()
        .map(|(u, r)| (user_roles::user_id.eq(u), user_roles::role.eq(*r)))
        .collect();
    insert_all!(conn, user_roles::table, roles, 2);
    for u in &o.units {
        diesel::update(units::table.find(&u.id))
            .set(units::head_user_id.eq(&u.head_user_id))
            .execute(conn)?;
    }
    insert_all!(conn, registers::table, o.registers, 8);
    Ok(())
}

/// The shared file's blob row.
pub fn blob(conn: &mut DbConn, f: &SharedFile, at: NaiveDateTime) -> Result<(), DbError> {
    crate::db::insert_blob_if_missing(conn, &f.sha256, f.size, at)
}

/// One batch of documents and what hangs on them.
pub fn batch(conn: &mut DbConn, b: &Batch) -> Result<(), DbError> {
    insert_all!(conn, documents::table, b.documents, 29);
    insert_all!(conn, document_versions::table, b.versions, 13);
    insert_all!(conn, document_registrations::table, b.registrations, 8);
    insert_all!(conn, workflow_routes::table, b.routes, 11);
    insert_all!(conn, workflow_stages::table, b.stages, 11);
    insert_all!(conn, workflow_tasks::table, b.tasks, 17);
    Ok(())
}

/// The registers' counters: the last number given per register, series and year.
pub fn counters(conn: &mut DbConn, c: &Counters) -> Result<(), DbError> {
    let rows: Vec<_> = c
        .iter()
        .map(|((reg, series, year), n)| {
            (
                register_counters::register_id.eq(reg),
                register_counters::series.eq(*series),
                register_counters::year.eq(*year),
                register_counters::last_number.eq(*n),
            )
        })
        .collect();
    insert_all!(conn, register_counters::table, rows, 4);
    Ok(())
}
