//! The state every request can reach (pool, configuration, file store, clock, trust roots, KEK,
//! office CA),
//! apart from the HTTP edge that hands it to handlers: services and background parts take it
//! without depending on `http/`.

use crate::config::Config;
use crate::db::DbConn;
use crate::db::DbPool;
use crate::error::ApiError;
use actix_web::web;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Database pool.
    pub pool: DbPool,
    /// Validated configuration.
    pub config: Arc<Config>,
    /// The content-addressed file store.
    pub blobs: crate::storage::BlobStore,
    /// The clock of reminders, escalations and digests (settable when `notify_clock = "manual"`).
    pub clock: Arc<crate::notify::AppClock>,
    /// Root certificates signatures are verified against (`trust_roots_path`), read once.
    pub trust_roots: Arc<Vec<openssl::x509::X509>>,
    /// The key-encryption key of stored signing keys (`signing_kek_path`), read once.
    pub kek: Arc<crate::credentials::crypto::Kek>,
    /// The office's own CA (`office_ca_path`), read once; none when not set.
    pub office_ca: Option<Arc<crate::credentials::issue::OfficeCa>>,
    /// Sessions and inboxes kept in memory, kept true by the database's change feed.
    pub cache: crate::cache::ReadCache,
}

impl AppState {
    /// What using a signing credential needs besides the database and the KEK.
    pub fn use_context(&self) -> crate::credentials::unlock::UseContext {
        crate::credentials::unlock::UseContext {
            trust_roots: self.trust_roots.clone(),
            smartca: self.config.smartca_account(),
        }
    }

    /// Runs blocking database work on the blocking thread pool, inside the request's span.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        web::block(move || {
            let _entered = span.enter();
            let mut conn = pool.get()?;
            let result = f(&mut conn);
            if matches!(&result, Err(e) if e.may_mean_connection_lost()) {
                conn.discard();
            }
            result
        })
        .await?
    }
}
