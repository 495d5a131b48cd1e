//! Bringing the service up: data folder, pool, migrations, the first admin account, the trust
//! roots of signature verification, the signing key-encryption key, the notification senders;
//! and down again.

use crate::accounts::service;
use crate::config::Config;
use crate::db;
use crate::state::AppState;
use std::sync::Arc;

/// Opens the database, applies migrations and creates the admin account on first start.
pub fn prepare(cfg: Config) -> anyhow::Result<AppState> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the data folder {}: {e} (set DOCFLOW_DATA_DIR)",
            cfg.data_dir.display()
        )
    })?;
    // Before the database: a KEK that cannot be used stops the start before anything changes.
    let kek = load_kek(&cfg)?;
    let pool = db::pool(&cfg)?;
    let mut conn = pool.get()?;
    let applied = db::migrate(&mut conn)?;
    for m in &applied {
        tracing::info!(migration = %m, "applied migration");
    }
    match service::bootstrap_admin(&mut conn, &cfg)
        .map_err(|e| anyhow::anyhow!("creating the admin account: {e}"))?
    {
        Some(Some(password)) => tracing::warn!(
            username = "admin",
            password = %password,
            "created the admin account with a generated password; it is shown only this once: sign in and change it with PUT /api/v1/me/password (nothing else is served until then)"
        ),
        Some(None) => tracing::info!(
            username = "admin",
            "created the admin account with DOCFLOW_ADMIN_PASSWORD"
        ),
        None => {}
    }
    drop(conn);
    let blobs = crate::storage::BlobStore::from_config(&cfg)?;
    let clock = Arc::new(crate::notify::AppClock::from_setting(&cfg.notify_clock));
    let trust_roots = cfg.trust_roots()?;
    if !cfg.trust_roots_path.is_empty() {
        tracing::info!(
            path = %cfg.trust_roots_path,
            certificates = trust_roots.len(),
            "loaded the trust roots of signature verification"
        );
    }
    let office_ca = cfg.office_ca()?;
    if let Some(ca) = &office_ca {
        tracing::info!(path = %cfg.office_ca_path, ca = ?ca, "loaded the office CA: admins may issue signing credentials");
    }
    Ok(AppState {
        office_ca: office_ca.map(Arc::new),
        kek: Arc::new(kek),
        pool,
        config: Arc::new(cfg),
        blobs,
        clock,
        trust_roots: Arc::new(trust_roots),
        cache: crate::cache::new(),
    })
}

/// Reads (or, on the embedded default, creates) the key-encryption key of stored signing keys.
fn load_kek(cfg: &Config) -> anyhow::Result<crate::credentials::crypto::Kek> {
    use crate::credentials::crypto::{Kek, KekSource};
    let (kek, source) = Kek::load_or_create(&cfg.signing_kek_path, &cfg.data_dir)?;
    match source {
        KekSource::Configured(path) => {
            tracing::info!(path = %path.display(), kek_id = %kek.id(), "loaded the signing key-encryption key")
        }
        KekSource::Embedded(path) => tracing::warn!(
            path = %path.display(),
            kek_id = %kek.id(),
            "the signing key-encryption key is kept in the data folder; in production set signing_kek_path to a file kept apart from the database and its backups"
        ),
        KekSource::Generated(path) => tracing::warn!(
            path = %path.display(),
            kek_id = %kek.id(),
            "generated the signing key-encryption key in the data folder; in production set signing_kek_path to a file kept apart from the database and its backups, and back it up: without it no stored signing key can be used"
        ),
    }
    Ok(kek)
}

/// The loops that run beside the HTTP server: the follower of the cache feed (a thread of
/// its own, `cache::feed`), and on the current actix runtime the poller of remote
/// signatures and, on PostgreSQL, the audit chainer (`audit::service::start_chainer`).
/// The notification senders are threads of their own (`notify::worker::start`).
pub fn start_background(state: &AppState) -> anyhow::Result<()> {
    crate::cache::feed::start(&state.cache, &state.config)?;
    crate::workflow::service::start_remote_poller(state.clone());
    crate::audit::service::start_chainer(
        state.pool.clone(),
        matches!(
            state.config.database(),
            Ok(crate::config::DatabaseKind::Postgres(_))
        ),
    );
    Ok(())
}

/// Runs the server until SIGTERM/SIGINT.
pub async fn serve(cfg: Config) -> anyhow::Result<()> {
    let bind = cfg.bind.clone();
    let state = actix_web::web::block(move || prepare(cfg)).await??;
    let listener = std::net::TcpListener::bind(&bind)
        .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e} (set DOCFLOW_BIND)"))?;
    let address = listener.local_addr()?;
    // Signal handlers are registered before the server is announced, so a SIGTERM that
    // follows the "serving" line always gets the graceful path.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let notifier = crate::notify::worker::start(
        state.pool.clone(),
        state.config.clone(),
        state.clock.clone(),
        state.blobs.clone(),
    )?;
    start_background(&state)?;
    let server = crate::http::server(state, listener)?;
    let handle = server.handle();
    tracing::info!(%address, "docflow is serving; API docs at /api/docs/");
    let running = actix_web::rt::spawn(server);
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
        _ = interrupt.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
    }
    handle.stop(true).await;
    running.await??;
    // The senders finish the message in hand and give the rest of their batch back.
    actix_web::web::block(move || notifier.stop()).await?;
    tracing::info!("docflow stopped");
    Ok(())
}
