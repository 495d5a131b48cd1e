//! Both migration folders give exactly the columns `src/db/schema.rs` declares, and
//! up → down → up works.

use crate::common::{Backend, TestDb};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use std::collections::BTreeMap;

/// table → (column → nullable), parsed from schema.rs.
fn declared() -> BTreeMap<String, BTreeMap<String, bool>> {
    let src = include_str!("../../src/db/schema.rs");
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in src.lines().map(str::trim) {
        if let Some(rest) = line.strip_suffix('{') {
            let head = rest.trim();
            if let Some(name) = head
                .split_whitespace()
                .next()
                .filter(|_| head.contains('('))
            {
                current = Some(name.to_string());
                out.insert(name.to_string(), BTreeMap::new());
            }
            continue;
        }
        if line.starts_with('}') {
            current = None;
            continue;
        }
        if let (Some(table), Some((col, ty))) = (&current, line.split_once("->")) {
            let nullable = ty.trim().starts_with("Nullable<");
            out.get_mut(table)
                .unwrap()
                .insert(col.trim().to_string(), nullable);
        }
    }
    assert!(out.len() >= 7, "parsed tables: {:?}", out.keys());
    out
}

#[derive(QueryableByName)]
struct PgCol {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct SqliteCol {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    r#type: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

fn actual(db: &TestDb, tables: &[String]) -> BTreeMap<String, BTreeMap<String, bool>> {
    let mut conn = db.connect();
    let mut out: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    match db.backend {
        Backend::Postgres => {
            let cols: Vec<PgCol> = diesel::sql_query(
                "SELECT table_name::text AS table_name, column_name::text AS column_name, is_nullable::text AS is_nullable \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 AND table_name <> '__diesel_schema_migrations'",
            )
            .load(&mut conn)
            .unwrap();
            for c in cols {
                out.entry(c.table_name)
                    .or_default()
                    .insert(c.column_name, c.is_nullable == "YES");
            }
        }
        Backend::Sqlite => {
            for t in tables {
                let cols: Vec<SqliteCol> = diesel::sql_query(format!("PRAGMA table_info({t})"))
                    .load(&mut conn)
                    .unwrap();
                for c in cols {
                    // An INTEGER PRIMARY KEY is the rowid: never null even without NOT NULL.
                    let rowid = c.pk == 1 && c.r#type.eq_ignore_ascii_case("INTEGER");
                    out.entry(t.clone())
                        .or_default()
                        .insert(c.name, c.notnull == 0 && !rowid);
                }
            }
            #[derive(QueryableByName)]
            struct Name {
                #[diesel(sql_type = Text)]
                name: String,
            }
            // `documents_fts*`: SQLite's trigram search table and its shadow tables, an index
            // in all but name (PostgreSQL's are indexes), checked by `search_table`.
            // `cache_feed`: SQLite's stand-in for PostgreSQL's `pg_notify` (src/cache), read
            // and written with SQL text only, checked by the cache tests.
            let names: Vec<Name> = diesel::sql_query(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations' \
                 AND name NOT LIKE 'documents_fts%' AND name <> 'cache_feed'",
            )
            .load(&mut conn)
            .unwrap();
            for n in names {
                out.entry(n.name).or_default();
            }
        }
    }
    out
}

/// Whether SQLite's trigram search table is there (always false on PostgreSQL).
fn search_table(db: &TestDb) -> bool {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = Integer)]
        n: i32,
    }
    match db.backend {
        Backend::Postgres => false,
        Backend::Sqlite => {
            let found: N = diesel::sql_query(
                "SELECT count(*) AS n FROM sqlite_master WHERE name = 'documents_fts'",
            )
            .get_result(&mut db.connect())
            .unwrap();
            found.n == 1
        }
    }
}

fn migrations_match_schema_and_revert(b: Backend) {
    let db = TestDb::new(b);
    let want = declared();
    let tables: Vec<String> = want.keys().cloned().collect();
    let mut conn = db.connect();
    let applied = docflow::db::migrate(&mut conn).unwrap();
    assert!(!applied.is_empty());
    assert_eq!(actual(&db, &tables), want, "after up");
    assert_eq!(
        search_table(&db),
        b == Backend::Sqlite,
        "the search table after up"
    );

    let reverted = docflow::db::revert_all(&mut conn).unwrap();
    assert_eq!(reverted.len(), applied.len());
    let empty = actual(&db, &tables);
    assert!(
        empty.values().all(|c| c.is_empty()),
        "after down: {empty:?}"
    );
    assert!(!search_table(&db), "the search table after down");

    docflow::db::migrate(&mut conn).unwrap();
    assert_eq!(actual(&db, &tables), want, "after up again");
    // Running again applies nothing.
    assert!(docflow::db::migrate(&mut conn).unwrap().is_empty());
}

/// What every connection is set up with (`db::setup_connection`): on SQLite the WAL, foreign
/// keys and reads through a memory map of the first GiB; on PostgreSQL UTC.
fn connections_are_set_up(b: Backend) {
    #[derive(QueryableByName)]
    struct V {
        #[diesel(sql_type = Text)]
        v: String,
    }
    let db = TestDb::new(b);
    let mut conn = db.connect();
    let mut one = |sql: &str| -> String {
        diesel::sql_query(sql)
            .get_result::<V>(&mut conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .v
    };
    match b {
        Backend::Sqlite => {
            assert_eq!(
                one("SELECT journal_mode AS v FROM pragma_journal_mode"),
                "wal"
            );
            assert_eq!(
                one("SELECT CAST(foreign_keys AS TEXT) AS v FROM pragma_foreign_keys"),
                "1"
            );
            // No table-valued form of this pragma: asked as itself.
            #[derive(QueryableByName)]
            struct Mmap {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                mmap_size: i64,
            }
            let m: Mmap = diesel::sql_query("PRAGMA mmap_size")
                .get_result(&mut db.connect())
                .expect("PRAGMA mmap_size");
            assert_eq!(m.mmap_size, 1 << 30);
        }
        Backend::Postgres => {
            assert_eq!(one("SELECT current_setting('TimeZone') AS v"), "UTC");
            assert_eq!(one("SELECT current_setting('jit') AS v"), "off");
        }
    }
    // The deadline scan keeps its notices' keys while the database server is the same one.
    let started = docflow::db::server_started(&mut db.connect()).expect("server start");
    match b {
        Backend::Sqlite => assert_eq!(started, None),
        Backend::Postgres => {
            let at = started.expect("PostgreSQL names its start");
            assert!(at.starts_with("20"), "{at}");
            assert_eq!(
                docflow::db::server_started(&mut db.connect()).expect("again"),
                Some(at),
                "the same from every connection"
            );
        }
    }
}

both_backends!(migrations_match_schema_and_revert, connections_are_set_up);
