//! `docflow dev seed`: a realistic office for load tests and demonstrations — units of a
//! provincial department, people with Vietnamese names, incoming and outgoing documents with
//! Decree 30 metadata, routes in every state, tasks spread over the users, registrations.
//!
//! Deterministic: the rows (ids, names, times, numbers) come from one random stream seeded by
//! `--seed` and the sizes, with fixed dates (2024-01-02 to 2026-11-30), so the same command
//! gives the same data. Running it again with the same seed and sizes is a no-op (the first
//! seeded unit is the marker). Everything is written in one transaction: a failure leaves
//! nothing behind.
//!
//! Bulk, not through the domains' services: 100,000 documents through `documents::service`
//! and `workflow::service` would be a route start and several actions each, with an audit
//! event apiece (hours, and an audit chain of a million events nobody did). The seeder writes
//! the domains' own row types (`DocumentRow`, `TaskRow`, …) in multi-row inserts instead, in
//! the shape those services leave (the route shapes the engine's `check` accepts), and records
//! one `dev.seeded` audit event for the whole. It is a development command: it refuses a
//! database that holds anything it did not seed, unless `--force`.

mod plan;
mod vocab;
mod write;

use crate::audit::{self, AuditContext};
use crate::db::{self, DbConn};
use plan::{Batch, Counters, Documents, Draw, SharedFile};

/// The password of every seeded user (documented in docs/OPERATIONS.md).
pub const PASSWORD: &str = "docflow-seed";

/// What to seed.
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub documents: u64,
    pub users: u64,
    pub seed: u64,
    /// Seed beside data the seeder did not write (codes and usernames get a `-s{seed}` tag).
    pub force: bool,
}

/// What the seeder did.
#[derive(Debug, Clone)]
pub enum SeedOutcome {
    /// The same seed and sizes were seeded before: nothing written.
    AlreadySeeded,
    Seeded(Summary),
}

/// Counts and a few logins for the load test.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub units: usize,
    pub users: usize,
    pub documents: u64,
    pub routes: u64,
    pub tasks: u64,
    pub registrations: u64,
    /// Usernames: the director, a unit clerk, and a typical official (the median open-task
    /// count).
    pub director: String,
    pub clerk: String,
    pub official: String,
}

/// Why the seeder stopped.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(
        "the database holds {users} user(s) besides admin and {documents} document(s) that \
         `dev seed` did not write; refusing to mix test data with them (pass --force to add \
         the seed anyway)"
    )]
    NotEmpty { users: i64, documents: i64 },
    #[error("--users must be at least 8 (a director, two deputies and one unit of five)")]
    TooFewUsers,
    #[error("{0}")]
    Database(#[from] diesel::result::Error),
    #[error("{0}")]
    Other(#[from] anyhow::Error),
}

/// The seed is not run again after a serialization failure: its random draw has moved on, so
/// a second run would write another office. The failure is reported; seed again.
impl db::Contention for SeedError {
    fn is_serialization_failure(&self) -> bool {
        false
    }
}

/// Documents drawn and inserted per batch (memory stays flat at a million).
const BATCH: u64 = 2_000;

/// The small PDF every seeded version shares (one blob: the store is content-addressed).
pub fn sample_pdf() -> Vec<u8> {
    let content = "BT /F1 14 Tf 72 770 Td (docflow dev seed) Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// Seeds the database; `file` is the shared PDF, already in the blob store.
pub fn run(
    conn: &mut DbConn,
    opts: &SeedOptions,
    file: (&str, u64),
) -> Result<SeedOutcome, SeedError> {
    if opts.users < 8 {
        return Err(SeedError::TooFewUsers);
    }
    let mut d = Draw::new(opts.seed, opts.documents, opts.users);
    let marker = d.id();
    if write::unit_exists(conn, &marker)? {
        return Ok(SeedOutcome::AlreadySeeded);
    }
    let (users, documents) = write::foreign_rows(conn)?;
    if (users > 0 || documents > 0) && !opts.force {
        return Err(SeedError::NotEmpty { users, documents });
    }
    let tag = if users > 0 || documents > 0 {
        format!("-s{}", opts.seed)
    } else {
        String::new()
    };
    // A deterministic salt: the same seed gives the same stored hash (argon2id, as any user's).
    let hash = crate::accounts::password::hash_with_salt(PASSWORD, &d.salt())?;
    let mut d = Draw::new(opts.seed, opts.documents, opts.users);
    let office = plan::office(&mut d, opts.users as usize, &hash, &tag);
    debug_assert_eq!(office.units[0].id, marker);
    let shared = SharedFile {
        sha256: file.0.to_string(),
        size: file.1 as i64,
    };
    let outcome = db::write_tx(conn, |conn| -> Result<SeedOutcome, SeedError> {
        write::office(conn, &office)?;
        write::blob(conn, &shared, plan::epoch())?;
        let mut counters = Counters::new();
        let mut summary = Summary {
            units: office.units.len(),
            users: office.users.len(),
            documents: opts.documents,
            ..Summary::default()
        };
        let mut open_tasks = vec![0u64; office.users.len()];
        let index: std::collections::HashMap<&str, usize> = office
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.as_str(), i))
            .collect();
        let mut i = 0;
        while i < opts.documents {
            let mut b = Batch::default();
            let mut docs = Documents {
                office: &office,
                file: &shared,
                total: opts.documents,
                counters: &mut counters,
            };
            for k in i..(i + BATCH).min(opts.documents) {
                docs.draw(&mut d, k, &mut b);
            }
            summary.routes += b.routes.len() as u64;
            summary.tasks += b.tasks.len() as u64;
            summary.registrations += b.registrations.len() as u64;
            for t in b
                .tasks
                .iter()
                .filter(|t| t.status == crate::workflow::engine::TaskStatus::Pending)
            {
                if let Some(&u) = index.get(t.assignee_id.as_str()) {
                    open_tasks[u] += 1;
                }
            }
            write::batch(conn, &b)?;
            i += BATCH;
        }
        write::counters(conn, &counters)?;
        summary.director = office.users[0].username.clone();
        summary.clerk = office.members[0]
            .get(1)
            .map(|&i| office.users[i].username.clone())
            .unwrap_or_default();
        summary.official = typical_official(&office, &open_tasks);
        audit::service::record(
            conn,
            &AuditContext::system(),
            audit::Action::DevSeeded,
            "seed",
            Some(&marker),
            serde_json::json!({
                "seed": opts.seed, "documents": opts.documents, "users": opts.users,
                "tasks": summary.tasks, "routes": summary.routes,
            }),
        )?;
        Ok(SeedOutcome::Seeded(summary))
    })?;
    // A bulk load leaves PostgreSQL's planner statistics stale and the trigram indexes' new
    // entries in their pending lists until autovacuum's next round (minutes): done now, as
    // after any bulk load, so what is measured next is the database as it will run. (SQLite
    // gathers no statistics unless asked, and docflow never asks.)
    if let DbConn::Pg(c) = conn {
        use diesel::RunQueryDsl;
        diesel::sql_query("VACUUM ANALYZE").execute(c)?;
    }
    Ok(outcome)
}

/// The official ("Chuyên viên") with the median number of open tasks among those with any.
fn typical_official(office: &plan::Office, open: &[u64]) -> String {
    let mut officials: Vec<(u64, usize)> = office
        .users
        .iter()
        .enumerate()
        .filter(|(i, u)| u.position_title == "Chuyên viên" && open[*i] > 0)
        .map(|(i, _)| (open[i], i))
        .collect();
    officials.sort();
    officials
        .get(officials.len() / 2)
        .map(|&(_, i)| office.users[i].username.clone())
        .unwrap_or_else(|| office.users[0].username.clone())
}
