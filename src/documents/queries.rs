//! Database queries of the documents domain. Each takes a connection; none opens a transaction.

use super::access::Viewer;
use super::model::{
    AttachmentRow, Confidentiality, DocumentRow, Kind, SignaturesCheck, Status, Urgency, VersionRow,
};
use crate::accounts::Role;
use crate::db::schema::{
    document_attachments, document_grants, document_registrations, document_types,
    document_versions, documents, substitutions, workflow_tasks,
};
use crate::db::DbConn;
use crate::workflow::engine::TaskStatus;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::result::Error as DbError;
use diesel::sql_types::Bool;

type Backend = <DbConn as Connection>::Backend;
type Condition = Box<dyn BoxableExpression<documents::table, Backend, SqlType = Bool>>;

/// A document by id.
pub fn find(conn: &mut DbConn, id: &str) -> Result<Option<DocumentRow>, DbError> {
    documents::table
        .find(id)
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()
}

/// Whether a grant names `user_id` on `document_id`.
pub fn is_granted(conn: &mut DbConn, document_id: &str, user_id: &str) -> Result<bool, DbError> {
    let n: i64 = document_grants::table
        .filter(document_grants::document_id.eq(document_id))
        .filter(document_grants::user_id.eq(user_id))
        .select(count_star())
        .first(conn)?;
    Ok(n > 0)
}

/// Tasks that make a document visible to a user (see [`is_routed_to`]). A macro, not a
/// function: the condition is used inside a subquery, where a boxed expression cannot go.
macro_rules! routed_condition {
    ($user:expr, $now:expr) => {{
        let user: String = $user;
        let now: NaiveDateTime = $now;
        let stands_in_for = substitutions::table
            .filter(substitutions::deputy_id.eq(user.clone()))
            .filter(substitutions::starts_at.le(now))
            .filter(substitutions::ends_at.gt(now))
            .filter(substitutions::revoked_at.is_null())
            .select(substitutions::user_id);
        // A NULL acting user compares as unknown, which the OR leaves to the other terms.
        workflow_tasks::assignee_id
            .eq(user.clone())
            .or(workflow_tasks::acting_user_id.assume_not_null().eq(user))
            .or(workflow_tasks::assignee_id
                .eq_any(stands_in_for)
                .and(workflow_tasks::status.eq(TaskStatus::Pending)))
    }};
}

/// Whether the document is routed or assigned to `user_id`: a task of theirs (any state),
/// one they acted on as a deputy, or an open task of someone they stand in for at `now`.
pub fn is_routed_to(
    conn: &mut DbConn,
    document_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let n: i64 = workflow_tasks::table
        .filter(workflow_tasks::document_id.eq(document_id))
        .filter(routed_condition!(user_id.to_string(), now))
        .select(count_star())
        .first(conn)?;
    Ok(n > 0)
}

/// Versions of a document, oldest first.
pub fn versions(conn: &mut DbConn, document_id: &str) -> Result<Vec<VersionRow>, DbError> {
    document_versions::table
        .filter(document_versions::document_id.eq(document_id))
        .order(document_versions::number.asc())
        .select(VersionRow::as_select())
        .load(conn)
}

/// Attachments of a document, oldest first.
pub fn attachments(conn: &mut DbConn, document_id: &str) -> Result<Vec<AttachmentRow>, DbError> {
    document_attachments::table
        .filter(document_attachments::document_id.eq(document_id))
        .order((
            document_attachments::created_at.asc(),
            document_attachments::id.asc(),
        ))
        .select(AttachmentRow::as_select())
        .load(conn)
}

/// Records a blob row unless the content is known already (safe under concurrency).
pub fn ensure_blob(
    conn: &mut DbConn,
    sha256: &str,
    size: i64,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    crate::db::insert_blob_if_missing(conn, sha256, size, now)
}

/// Whether a document type with this code is in the managed list and active.
pub fn type_active(conn: &mut DbConn, code: &str) -> Result<bool, DbError> {
    Ok(document_types::table
        .filter(document_types::code.eq(code))
        .select(document_types::active)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false))
}

/// Another incoming document of the unit with the same issuer, symbol and issue date that
/// was not sent back.
pub fn probable_duplicate(
    conn: &mut DbConn,
    doc: &DocumentRow,
) -> Result<Option<DocumentRow>, DbError> {
    let (Some(symbol), Some(date), Some(issuer)) =
        (&doc.number_symbol, doc.issue_date, &doc.issuer_search)
    else {
        return Ok(None);
    };
    documents::table
        .filter(documents::id.ne(&doc.id))
        .filter(documents::unit_id.eq(&doc.unit_id))
        .filter(documents::kind.eq(Kind::Incoming))
        .filter(documents::status.ne(Status::Returned))
        .filter(documents::number_symbol.eq(symbol))
        .filter(documents::issue_date.eq(date))
        .filter(documents::issuer_search.eq(issuer))
        .select(DocumentRow::as_select())
        .first(conn)
        .optional()
}

/// Which way a listing's plan should go: a clerk sees the whole unit's documents, so walking
/// the date index until a page is full is cheap; anyone else sees a few, found through the
/// indexes of the ways of seeing (author, grants, tasks). How each backend is steered there
/// is in [`visible_to`]; for the clerk's walk on SQLite:
/// SQLite's planner answers every OR of indexed terms through those indexes and sorts the
/// result (a clerk's first page at 100,000 documents: 70 ms instead of 3 ms), so on SQLite
/// the clerk's unit term is written so that no index answers it (`unit_id || ''`) and the
/// planner walks `documents_created_idx` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Portable,
    SqliteWalkByDate,
}

impl Plan {
    pub fn of(conn: &DbConn) -> Plan {
        match conn {
            DbConn::Sqlite(_) => Plan::SqliteWalkByDate,
            DbConn::Pg(_) => Plan::Portable,
        }
    }
}

/// The rows a viewer may see (the SQL twin of [`Viewer::can_see`]).
///
/// Written for the plan each kind of viewer needs (docs/OPERATIONS.md, "Whose listing reads
/// what"):
/// - A clerk (the whole unit) or an archivist (everything archived) sees much of what a walk
///   of the date index meets, so a page is found after a few hundred rows. Their own tasks are
///   asked of each row met ([`assigned_row_by_row`]) rather than read as a set: a clerk holds a
///   task on most of the unit's outgoing papers, tens of thousands over the years, all read
///   before the first row by the set form. Not in a search on PostgreSQL (`searching`): its
///   bounded walk is a bitmap scan that matches every row of the window (up to
///   `search_walk_rows`) before sorting, so each matching row of another unit would be asked
///   (about 600 lookups at 100,000 documents, a third slower than the set there).
/// - Anyone else sees few documents. On PostgreSQL they are gathered as one set, which the
///   planner can look up by key and sort ([`seen_as_one_set`]); as an OR of terms the planner
///   can only walk the date index and filter, reading 40,000 rows for an official's page of
///   50 at 100,000 documents. SQLite answers the OR of terms through each term's index and
///   sorts, which is that plan already.
pub fn visible_to(viewer: &Viewer, plan: Plan, searching: bool) -> Condition {
    let mut own: Condition = Box::new(documents::created_by.eq(viewer.id.clone()));
    let mut walks = false;
    if viewer.has(Role::Clerk) {
        if let Some(unit) = &viewer.unit_id {
            walks = true;
            own = match plan {
                Plan::Portable => Box::new(own.or(documents::unit_id.eq(unit.clone()))),
                Plan::SqliteWalkByDate => {
                    Box::new(own.or(documents::unit_id.concat("").eq(unit.clone())))
                }
            };
        }
    }
    if viewer.has(Role::Archivist) {
        walks = true;
        own = Box::new(own.or(documents::status.eq(Status::Archived)));
    }
    if !walks && plan == Plan::Portable {
        return seen_as_one_set(viewer);
    }
    let normal_and_own = documents::confidentiality
        .eq(Confidentiality::Normal)
        .and(own);
    let granted = document_grants::table
        .filter(document_grants::user_id.eq(viewer.id.clone()))
        .select(document_grants::document_id);
    // The three ways of being routed (see `routed_condition!`) as three terms: each is
    // answered by an index of its own (`workflow_tasks_assignee_doc_idx`, `…_acting_idx`,
    // `…_assignee_idx`), where one subquery with the OR of them scans every task.
    let now = crate::db::now();
    let assigned: Condition = if walks && !(searching && plan == Plan::Portable) {
        assigned_row_by_row(viewer, plan)
    } else {
        Box::new(
            documents::id.eq_any(
                workflow_tasks::table
                    .filter(workflow_tasks::assignee_id.eq(viewer.id.clone()))
                    .select(workflow_tasks::document_id),
            ),
        )
    };
    let routed_acting = workflow_tasks::table
        .filter(workflow_tasks::acting_user_id.eq(viewer.id.clone()))
        .select(workflow_tasks::document_id);
    let stands_in_for = substitutions::table
        .filter(substitutions::deputy_id.eq(viewer.id.clone()))
        .filter(substitutions::starts_at.le(now))
        .filter(substitutions::ends_at.gt(now))
        .filter(substitutions::revoked_at.is_null())
        .select(substitutions::user_id);
    let routed_deputy = workflow_tasks::table
        .filter(workflow_tasks::assignee_id.eq_any(stands_in_for))
        .filter(workflow_tasks::status.eq(TaskStatus::Pending))
        .select(workflow_tasks::document_id);
    Box::new(
        normal_and_own
            .or(documents::id.eq_any(granted))
            .or(assigned)
            .or(documents::id.eq_any(routed_acting))
            .or(documents::id.eq_any(routed_deputy)),
    )
}

/// "A task of mine is on this document", asked of each row: one lookup in
/// `workflow_tasks_assignee_doc_idx` (assignee, document), answered from the index alone.
/// Correlated subqueries are written as SQL (diesel's query builder does not correlate); on
/// PostgreSQL `OFFSET 0` keeps the `EXISTS` a per-row lookup, which the planner would
/// otherwise turn into the set form.
fn assigned_row_by_row(viewer: &Viewer, plan: Plan) -> Condition {
    let fence = match plan {
        Plan::Portable => " OFFSET 0",
        Plan::SqliteWalkByDate => "",
    };
    Box::new(
        diesel::dsl::sql::<Bool>(
            "EXISTS (SELECT 1 FROM workflow_tasks t \
             WHERE t.document_id = \"documents\".\"id\" AND t.assignee_id = ",
        )
        .bind::<diesel::sql_types::Text, _>(viewer.id.clone())
        .sql(fence)
        .sql(")"),
    )
}

/// PostgreSQL, a viewer who is neither a clerk of a unit nor an archivist: the documents they
/// drafted (not classified), were granted, hold or acted on a task of, or stand in for an open
/// task of, as one `IN` over the union of those sets (the same terms as [`visible_to`]'s OR).
/// The planner then chooses by the set's size: look each up and sort (an official: a few
/// hundred), or walk the date index against a hash of it (a leader on most of the papers).
fn seen_as_one_set(viewer: &Viewer) -> Condition {
    use diesel::sql_types::{Text, Timestamp};
    let me = viewer.id.clone();
    let now = crate::db::now();
    Box::new(
        diesel::dsl::sql::<Bool>(
            "\"documents\".\"id\" IN (\
             SELECT d.id FROM documents d WHERE d.created_by = ",
        )
        .bind::<Text, _>(me.clone())
        .sql(" AND d.confidentiality = ")
        .bind::<Text, _>(Confidentiality::Normal)
        .sql(" UNION ALL SELECT g.document_id FROM document_grants g WHERE g.user_id = ")
        .bind::<Text, _>(me.clone())
        .sql(" UNION ALL SELECT t.document_id FROM workflow_tasks t WHERE t.assignee_id = ")
        .bind::<Text, _>(me.clone())
        .sql(" UNION ALL SELECT t.document_id FROM workflow_tasks t WHERE t.acting_user_id = ")
        .bind::<Text, _>(me.clone())
        .sql(" UNION ALL SELECT t.document_id FROM workflow_tasks t WHERE t.status = ")
        .bind::<Text, _>(TaskStatus::Pending)
        .sql(" AND t.assignee_id IN (SELECT s.user_id FROM substitutions s WHERE s.deputy_id = ")
        .bind::<Text, _>(me)
        .sql(" AND s.starts_at <= ")
        .bind::<Timestamp, _>(now)
        .sql(" AND s.ends_at > ")
        .bind::<Timestamp, _>(now)
        .sql(" AND s.revoked_at IS NULL))"),
    )
}

/// Filters of a listing, already validated.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub register_id: Option<String>,
    pub year: Option<i32>,
    pub kind: Option<Kind>,
    pub type_code: Option<String>,
    pub status: Option<Status>,
    pub urgency: Option<Urgency>,
    pub confidentiality: Option<Confidentiality>,
    pub issue_date_from: Option<NaiveDate>,
    pub issue_date_to: Option<NaiveDate>,
    pub registered_from: Option<NaiveDateTime>,
    pub registered_before: Option<NaiveDateTime>,
    /// Folded text to find in the issuer.
    pub issuer: Option<String>,
    /// Folded text to find in the subject.
    pub text: Option<String>,
    /// Sort by `updated_at` instead of `created_at`.
    pub by_updated: bool,
    pub ascending: bool,
    /// Keyset position: (time, id) of the last row of the previous page.
    pub after: Option<(NaiveDateTime, String)>,
    pub limit: i64,
    /// A search reads at most this many rows in order before it asks the trigram indexes
    /// (`search_walk_rows`; 0: one query, the planner chooses).
    pub walk_rows: i64,
}

/// `%text%` for LIKE, with the wildcards in `text` escaped.
fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Which part of the listing's order a query reads (see [`list`]).
#[derive(Debug, Clone, Copy)]
enum Part {
    /// All of it, one query.
    Whole,
    /// The rows up to and including the boundary key, the search matched row by row.
    Walk(NaiveDateTime),
    /// The rows past the boundary key, the search answered by the trigram indexes
    /// (PostgreSQL's `pg_trgm` indexes; SQLite's `documents_fts`).
    Indexed(NaiveDateTime),
}

/// One page of the documents a viewer may see, matching `f`.
///
/// A search (`text`, `issuer`: `LIKE '%…%'` on folded text) has two good plans with opposite
/// costs: walking the date index until a page of matches is found (fast for a common word,
/// a read of every visible document for a rare one) and PostgreSQL's trigram indexes (fast for
/// a rare word, a read of every matching document — growing with the office — for a common
/// one). Left to itself the planner often takes the wrong one. So a search walks at most
/// `walk_rows` rows of the listing's order (a boundary found on the date index alone),
/// matching row by row, and only when that did not fill the page asks the trigram indexes for
/// the rows past the boundary (on SQLite an FTS5 trigram table, [`trigram_candidates`]). The
/// page is the same rows in the same order either way.
pub fn list(
    conn: &mut DbConn,
    viewer: &Viewer,
    f: &ListFilter,
) -> Result<Vec<DocumentRow>, DbError> {
    let searching = f.text.is_some() || f.issuer.is_some();
    if searching && f.walk_rows > 0 {
        if let Some(boundary) = walk_boundary(conn, f)? {
            let mut rows = page(conn, viewer, f, Part::Walk(boundary))
                .limit(f.limit)
                .select(DocumentRow::as_select())
                .load(conn)?;
            let left = f.limit - rows.len() as i64;
            if left > 0 {
                rows.extend(
                    page(conn, viewer, f, Part::Indexed(boundary))
                        .limit(left)
                        .select(DocumentRow::as_select())
                        .load::<DocumentRow>(conn)?,
                );
            }
            return Ok(rows);
        }
    }
    page(conn, viewer, f, Part::Whole)
        .limit(f.limit)
        .select(DocumentRow::as_select())
        .load(conn)
}

/// The sort key of the `walk_rows`-th document in the listing's order after the cursor (of
/// every document, visible or not: read from the date index alone), or none when fewer are
/// left.
fn walk_boundary(conn: &mut DbConn, f: &ListFilter) -> Result<Option<NaiveDateTime>, DbError> {
    let mut q = documents::table.into_boxed();
    if let Some(after) = after_cursor(f) {
        q = q.filter(after);
    }
    let skip = f.walk_rows - 1;
    // The `skip`-th key of `column` in the direction `dir`.
    macro_rules! nth_key {
        ($column:expr, $dir:ident) => {
            q.order($column.$dir())
                .select($column)
                .offset(skip)
                .first(conn)
        };
    }
    match (f.by_updated, f.ascending) {
        (false, false) => nth_key!(documents::created_at, desc),
        (false, true) => nth_key!(documents::created_at, asc),
        (true, false) => nth_key!(documents::updated_at, desc),
        (true, true) => nth_key!(documents::updated_at, asc),
    }
    .optional()
}

/// The rows up to the boundary (`within`) or past it, in the listing's order.
fn by_boundary(f: &ListFilter, boundary: NaiveDateTime, within: bool) -> Condition {
    match (f.by_updated, f.ascending, within) {
        (false, false, true) => Box::new(documents::created_at.ge(boundary)),
        (false, false, false) => Box::new(documents::created_at.lt(boundary)),
        (false, true, true) => Box::new(documents::created_at.le(boundary)),
        (false, true, false) => Box::new(documents::created_at.gt(boundary)),
        (true, false, true) => Box::new(documents::updated_at.ge(boundary)),
        (true, false, false) => Box::new(documents::updated_at.lt(boundary)),
        (true, true, true) => Box::new(documents::updated_at.le(boundary)),
        (true, true, false) => Box::new(documents::updated_at.gt(boundary)),
    }
}

/// The rows after the cursor's (time, id) in the listing's order.
fn after_cursor(f: &ListFilter) -> Option<Condition> {
    let (t, id) = f.after.clone()?;
    // Past (t, id) on `column` then id, `cmp` being `lt` (newest first) or `gt`.
    macro_rules! past {
        ($column:expr, $cmp:ident) => {
            Box::new(
                $column
                    .$cmp(t)
                    .or($column.eq(t).and(documents::id.$cmp(id))),
            )
        };
    }
    Some(match (f.by_updated, f.ascending) {
        (false, false) => past!(documents::created_at, lt),
        (false, true) => past!(documents::created_at, gt),
        (true, false) => past!(documents::updated_at, lt),
        (true, true) => past!(documents::updated_at, gt),
    })
}

/// The folded `column` contains `text`: `LIKE '%text%'`, the wildcards escaped. `indexed`
/// false writes the column as `column || ''`, which no index answers, so the planner matches
/// row by row on its walk.
fn contains(column: Searched, text: &str, indexed: bool) -> Condition {
    let pattern = contains_pattern(text);
    match (column, indexed) {
        (Searched::Subject, true) => Box::new(documents::subject_search.like(pattern).escape('\\')),
        (Searched::Subject, false) => Box::new(
            documents::subject_search
                .concat("")
                .like(pattern)
                .escape('\\'),
        ),
        // A null issuer matches no LIKE (NULL is not true).
        (Searched::Issuer, true) => Box::new(
            documents::issuer_search
                .assume_not_null()
                .like(pattern)
                .escape('\\'),
        ),
        (Searched::Issuer, false) => Box::new(
            documents::issuer_search
                .assume_not_null()
                .concat("")
                .like(pattern)
                .escape('\\'),
        ),
    }
}

/// SQLite: the documents whose folded subject (and issuer) the trigram table `documents_fts`
/// finds the searched text in, as an `id IN (…)` condition; none when no searched text has the
/// three characters a trigram needs (SQLite then matches row by row). The table ignores case
/// where LIKE ignores only ASCII case, so it finds at least what LIKE finds; the LIKE stays
/// beside it and decides.
fn trigram_candidates(f: &ListFilter) -> Option<Condition> {
    let terms: Vec<String> = [("subject_search", &f.text), ("issuer_search", &f.issuer)]
        .into_iter()
        .filter_map(|(column, text)| {
            let text = text.as_deref().filter(|t| t.chars().count() >= 3)?;
            // An FTS5 string: everything literal but the quote, which is doubled.
            Some(format!("{column} : \"{}\"", text.replace('"', "\"\"")))
        })
        .collect();
    if terms.is_empty() {
        return None;
    }
    Some(Box::new(
        diesel::dsl::sql::<Bool>(
            "\"documents\".\"id\" IN (SELECT id FROM documents_fts WHERE documents_fts MATCH ",
        )
        .bind::<diesel::sql_types::Text, _>(terms.join(" AND "))
        .sql(")"),
    ))
}

/// The folded columns a listing searches.
#[derive(Debug, Clone, Copy)]
enum Searched {
    Subject,
    Issuer,
}

/// The listing's query for one [`Part`] of its order, without its limit.
fn page(
    conn: &DbConn,
    viewer: &Viewer,
    f: &ListFilter,
    part: Part,
) -> documents::BoxedQuery<'static, Backend> {
    let mut q = documents::table
        .filter(visible_to(
            viewer,
            Plan::of(conn),
            f.text.is_some() || f.issuer.is_some(),
        ))
        .into_boxed();
    // Register filters select through the registrations (a boxed subquery cannot be used
    // with the multi-backend connection, hence one plain subquery per filter).
    use document_registrations as dr;
    if let Some(v) = &f.register_id {
        q = q.filter(
            documents::id.eq_any(
                dr::table
                    .filter(dr::register_id.eq(v.clone()))
                    .select(dr::document_id),
            ),
        );
    }
    if let Some(v) = f.year {
        q = q
            .filter(documents::id.eq_any(dr::table.filter(dr::year.eq(v)).select(dr::document_id)));
    }
    if let Some(v) = f.registered_from {
        q = q.filter(
            documents::id.eq_any(
                dr::table
                    .filter(dr::registered_at.ge(v))
                    .select(dr::document_id),
            ),
        );
    }
    if let Some(v) = f.registered_before {
        q = q.filter(
            documents::id.eq_any(
                dr::table
                    .filter(dr::registered_at.lt(v))
                    .select(dr::document_id),
            ),
        );
    }
    if let Some(v) = &f.kind {
        q = q.filter(documents::kind.eq(*v));
    }
    if let Some(v) = &f.type_code {
        q = q.filter(documents::type_code.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        q = q.filter(documents::status.eq(*v));
    }
    if let Some(v) = &f.urgency {
        q = q.filter(documents::urgency.eq(*v));
    }
    if let Some(v) = &f.confidentiality {
        q = q.filter(documents::confidentiality.eq(*v));
    }
    if let Some(v) = f.issue_date_from {
        q = q.filter(documents::issue_date.ge(v));
    }
    if let Some(v) = f.issue_date_to {
        q = q.filter(documents::issue_date.le(v));
    }
    let indexed = !matches!(part, Part::Walk(_));
    if let Some(v) = &f.issuer {
        q = q.filter(contains(Searched::Issuer, v, indexed));
    }
    if let Some(v) = &f.text {
        q = q.filter(contains(Searched::Subject, v, indexed));
    }
    if let Some(after) = after_cursor(f) {
        q = q.filter(after);
    }
    match part {
        Part::Whole => {}
        Part::Walk(b) => q = q.filter(by_boundary(f, b, true)),
        Part::Indexed(b) => {
            q = q.filter(by_boundary(f, b, false));
            if Plan::of(conn) == Plan::SqliteWalkByDate {
                if let Some(candidates) = trigram_candidates(f) {
                    q = q.filter(candidates);
                }
            }
        }
    }
    match (f.by_updated, f.ascending) {
        (false, false) => q.order((documents::created_at.desc(), documents::id.desc())),
        (false, true) => q.order((documents::created_at.asc(), documents::id.asc())),
        (true, false) => q.order((documents::updated_at.desc(), documents::id.desc())),
        (true, true) => q.order((documents::updated_at.asc(), documents::id.asc())),
    }
}

/// Documents by id (the inbox's subjects and type codes).
pub fn by_ids(
    conn: &mut DbConn,
    ids: &[String],
) -> Result<std::collections::HashMap<String, DocumentRow>, DbError> {
    Ok(documents::table
        .filter(documents::id.eq_any(ids))
        .select(DocumentRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect())
}

/// Outgoing documents of the period's issue dates (issued or since archived), as
/// `(id, drafting unit_id)` — of every unit: the issuing unit is the register's.
pub fn issued_outgoing(
    conn: &mut DbConn,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, String)>, DbError> {
    use super::model::{Kind, Status};
    documents::table
        .filter(documents::kind.eq(Kind::Outgoing))
        .filter(documents::status.eq_any([Status::Issued, Status::Archived]))
        .filter(documents::issue_date.ge(from))
        .filter(documents::issue_date.le(to))
        .select((documents::id, documents::unit_id))
        .load(conn)
}

/// Incoming documents received in `[from, to)`: unit, channel and the signature check.
pub fn received_incoming(
    conn: &mut DbConn,
    unit_id: Option<&str>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<ReceivedIncoming>, DbError> {
    use super::model::Kind;
    let mut q = documents::table
        .filter(documents::kind.eq(Kind::Incoming))
        .filter(documents::received_at.ge(from))
        .filter(documents::received_at.lt(to))
        .into_boxed();
    if let Some(u) = unit_id {
        q = q.filter(documents::unit_id.eq(u.to_string()));
    }
    q.select((
        documents::unit_id,
        documents::received_channel,
        documents::signatures_check,
    ))
    .load::<(String, Option<String>, Option<SignaturesCheck>)>(conn)
    .map(|rows| {
        rows.into_iter()
            .map(|(unit_id, channel, signatures)| ReceivedIncoming {
                unit_id,
                channel,
                signatures,
            })
            .collect()
    })
}

/// An incoming document as the digital report counts it.
#[derive(Debug, Clone)]
pub struct ReceivedIncoming {
    pub unit_id: String,
    pub channel: Option<String>,
    /// The signature check at registration (none: not checked).
    pub signatures: Option<SignaturesCheck>,
}

/// Records the signature check of a document at its registration.
pub fn set_signatures_check(
    conn: &mut DbConn,
    id: &str,
    check: SignaturesCheck,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    diesel::update(documents::table.find(id))
        .set((
            documents::signatures_check.eq(Some(check)),
            documents::signatures_checked_at.eq(Some(at)),
        ))
        .execute(conn)
}
