//! Transactions that lose a race the database will not serialise (SQLSTATE 40001: PostgreSQL's
//! `SERIALIZABLE` conflicts, CockroachDB's "restart transaction") are run again by
//! `db::write_tx`; other failures are not; and one that keeps failing answers 409
//! `concurrent_update`.

use crate::common::{Backend, TestDb};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use docflow::db::{self, DbConn, WRITE_ATTEMPTS};
use docflow::error::{ApiError, ErrorCode};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Reads how many rows the probe table holds. Two transactions that both read it before
/// either appends ([`insert_next`]) are the classic write skew that `SERIALIZABLE` refuses to
/// commit twice.
fn count_rows(c: &mut DbConn, serializable: bool) -> Result<i64, ApiError> {
    if serializable {
        c.batch_execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")?;
    }
    let Count { n } = diesel::sql_query("SELECT count(*) AS n FROM retry_probe").get_result(c)?;
    Ok(n)
}

/// Appends the number after the rows' count.
fn insert_next(c: &mut DbConn) -> Result<(), ApiError> {
    c.batch_execute("INSERT INTO retry_probe (n) SELECT count(*) + 1 FROM retry_probe")?;
    Ok(())
}

fn probe_values(db: &TestDb) -> Vec<i64> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = db.connect();
    let mut v: Vec<i64> = diesel::sql_query("SELECT CAST(n AS BIGINT) AS n FROM retry_probe")
        .load::<Row>(&mut c)
        .expect("probe rows")
        .into_iter()
        .map(|r| r.n)
        .collect();
    v.sort();
    v
}

fn serialization_failures_are_run_again(b: Backend) {
    let db = TestDb::new(b);
    db.connect()
        .batch_execute("CREATE TABLE retry_probe (n BIGINT NOT NULL)")
        .expect("probe table");
    let pg = b == Backend::Postgres;
    // On PostgreSQL both transactions read before either writes (the barrier, first attempt
    // only), so one of them fails with 40001 and must be run again. SQLite's immediate write
    // transactions never overlap: each runs once.
    let barrier = Arc::new(Barrier::new(2));
    let attempts = Arc::new(AtomicU32::new(0));
    let results: Vec<Result<(), ApiError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (barrier, attempts, db) = (barrier.clone(), attempts.clone(), &db);
                s.spawn(move || {
                    let mut c = db.connect();
                    let mut mine = 0;
                    db::write_tx(&mut c, |c| {
                        mine += 1;
                        attempts.fetch_add(1, Ordering::SeqCst);
                        let seen = count_rows(c, pg)?;
                        assert!(seen <= 1, "{seen} rows before two appends");
                        if pg && mine == 1 {
                            barrier.wait();
                        }
                        insert_next(c)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer thread"))
            .collect()
    });
    for r in &results {
        assert!(r.is_ok(), "a writer failed: {r:?}");
    }
    let attempts = attempts.load(Ordering::SeqCst);
    if pg {
        assert!(
            attempts >= 3,
            "on PostgreSQL one of the two must have been refused and run again ({attempts} attempts)"
        );
    } else {
        assert_eq!(attempts, 2, "SQLite runs each once");
    }
    // Both committed, one after the other: the second saw the first's row.
    assert_eq!(probe_values(&db), vec![1, 2]);
}

fn other_failures_are_not_run_again(b: Backend) {
    let db = TestDb::new(b);
    let mut c = db.connect();
    let mut runs = 0;
    let r: Result<(), ApiError> = db::write_tx(&mut c, |_| {
        runs += 1;
        Err(ApiError::conflict(
            ErrorCode::ConcurrentUpdate,
            "a lost optimistic check",
        ))
    });
    assert!(matches!(r, Err(ApiError::Conflict { .. })), "{r:?}");
    assert_eq!(runs, 1, "a failure other than 40001 is not run again");
    if b == Backend::Postgres {
        // A transaction that always fails with 40001 is run WRITE_ATTEMPTS times, then the
        // caller gets 409 concurrent_update; nothing of any attempt is kept.
        c.batch_execute("CREATE TABLE retry_probe (n BIGINT NOT NULL)")
            .expect("probe table");
        let mut runs = 0;
        let r: Result<(), ApiError> = db::write_tx(&mut c, |c| {
            runs += 1;
            insert_next(c)?;
            c.batch_execute(
                "DO $$ BEGIN RAISE EXCEPTION 'contended' USING ERRCODE = '40001'; END $$",
            )?;
            Ok(())
        });
        assert_eq!(runs, WRITE_ATTEMPTS);
        let e = r.expect_err("always 40001");
        assert!(matches!(e, ApiError::Contention), "{e:?}");
        assert_eq!(e.code(), ErrorCode::ConcurrentUpdate);
        use actix_web::ResponseError;
        assert_eq!(e.status_code().as_u16(), 409);
        assert_eq!(probe_values(&db), Vec::<i64>::new());
        // Failing twice, then passing: committed once.
        let mut runs = 0;
        let r: Result<(), ApiError> = db::write_tx(&mut c, |c| {
            runs += 1;
            insert_next(c)?;
            if runs < 3 {
                c.batch_execute(
                    "DO $$ BEGIN RAISE EXCEPTION 'contended' USING ERRCODE = '40001'; END $$",
                )?;
            }
            Ok(())
        });
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(runs, 3);
        assert_eq!(probe_values(&db), vec![1]);
    }
}

both_backends!(
    serialization_failures_are_run_again,
    other_failures_are_not_run_again
);
