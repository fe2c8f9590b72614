//! The application: shared state, the HTTP stack, and the entry point that tests and
//! `main` both use — a bound listener in, a shutdown future in.

use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;
use crate::{bootstrap, routes, secrets};
use anyhow::Context;
use axum::Router;
// Agents exchange many small messages (acks, heartbeats): Nagle's algorithm would hold
// each back behind the peer's delayed ACK.
use axum::extract::MatchedPath;
use axum::http::HeaderValue;
use axum::http::header::X_CONTENT_TYPE_OPTIONS;
use axum::http::{HeaderName, Request};
use axum_server::accept::NoDelayAcceptor;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP stack: routes, request ids, request logging.
pub fn router(state: AppState) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<_>| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_owned());
            let request_id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!(
                "request",
                method = %req.method(),
                route = route.as_deref().unwrap_or("unmatched"),
                request_id,
            )
        })
        .on_response(log_response);
    routes::router()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::metrics::track,
        ))
        .with_state(state)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        // A browser never guesses a type other than the one declared (a JSON answer
        // holding directory values is never run as HTML or script).
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Routine requests (the page polls every 1.5 s) are logged at debug; failures and
/// slow ones where an operator looks.
fn log_response(
    resp: &axum::http::Response<axum::body::Body>,
    latency: Duration,
    _: &tracing::Span,
) {
    let (status, latency_ms) = (resp.status().as_u16(), latency.as_millis() as u64);
    if resp.status().is_server_error() {
        tracing::warn!(status, latency_ms, "request failed");
    } else if latency >= SLOW_REQUEST {
        tracing::info!(status, latency_ms, "slow request");
    } else {
        tracing::debug!(status, latency_ms, "request");
    }
}

/// A request that takes this long is logged at info.
const SLOW_REQUEST: Duration = Duration::from_secs(1);

/// Connects to the database, migrates it, creates the first tenant on an empty one,
/// and serves on `listener` until `shutdown` completes; then closes agent sessions
/// and waits for requests in flight.
pub async fn serve(
    listener: std::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut config = config;
    if config.replica_name.is_empty() {
        config.replica_name = crate::config::default_replica_name(listener.local_addr()?);
    }
    if let Some(smtp) = &config.smtp {
        crate::notifications::email::check(smtp)?;
    }
    let db = Db::connect(config.database_url.as_deref()).await?;
    bootstrap::ensure_first_tenant(&db, &config).await?;
    if db.may_be_shared() {
        // This replica's previous life (a crash, a kill) left its records: they are
        // dead, and their runs are failed below, without waiting for the timeout.
        let gone = crate::db::agents::remove_of_replica(&db, &config.replica_name).await?;
        if gone > 0 {
            tracing::warn!(
                records = gone,
                replica = config.replica_name,
                "removed agent connections of this replica's previous process"
            );
        }
    } else {
        // This server alone uses the database: every recorded connection is a
        // leftover of a crash.
        crate::db::agents::remove_all(&db).await?;
    }
    let failed = crate::db::runs::fail_orphans(&db, "the server restarted during the run").await?;
    if failed > 0 {
        tracing::warn!(
            runs = failed,
            "marked runs of a previous server process as failed"
        );
    }
    tokio::task::spawn_blocking(secrets::warm_up);
    let state = AppState::new(db.clone(), config.clone());
    if db.may_be_shared() {
        state
            .passthrough
            .announce(&db)
            .await
            .context("cannot record this replica's public key")?;
    }
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();

    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        let state = state.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: closing agent connections, finishing requests");
            state.shutdown.cancel();
            handle.graceful_shutdown(Some(Duration::from_secs(10)));
        });
    }
    tokio::spawn(housekeeping(state.clone()));
    tokio::spawn(scheduler(state.clone()));
    tokio::spawn(audit_retention(state.clone()));
    tokio::spawn(search_indexes(state.clone()));
    tokio::spawn(crate::notifications::run(
        db.clone(),
        config.clone(),
        state.metrics.notification_deliveries.clone(),
        state.shutdown.clone(),
    ));
    tokio::spawn(crate::listener::run(state.clone()));

    match &config.tls {
        Some(tls) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                .await
                .with_context(|| {
                    format!(
                        "cannot load TLS certificate {} and key {}",
                        tls.cert.display(),
                        tls.key.display()
                    )
                })?;
            tracing::info!(%addr, engine = db.engine(), "listening (HTTPS)");
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
                .acceptor(NoDelayAcceptor::new());
            axum_server::from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle)
                .serve(app)
                .await?;
        }
        None => {
            tracing::info!(%addr, engine = db.engine(), "listening (HTTP)");
            axum_server::from_tcp(listener)?
                .acceptor(NoDelayAcceptor::new())
                .handle(handle)
                .serve(app)
                .await?;
        }
    }
    state.shutdown.cancel();
    state.sessions.close();
    if tokio::time::timeout(Duration::from_secs(10), state.sessions.wait())
        .await
        .is_err()
    {
        tracing::warn!("some agent sessions did not finish within 10 s");
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts scheduled runs when they are due.
async fn scheduler(state: AppState) {
    let mut tick = tokio::time::interval(state.config.schedule_check);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        if let Err(e) = crate::sync::dispatch::run_schedules(&state.db, &state.agents).await {
            tracing::warn!(error = %e, "could not start scheduled runs");
        }
    }
}

/// Builds the search indexes once their tables are large enough: looks
/// every `search_index_check`, and if one was dropped, builds it again. A build waits for
/// the runs running to end (so that a first sync of a million users is not slowed by
/// it), but not beyond an hour of looks: a database whose runs never pause gets it too.
async fn search_indexes(state: AppState) {
    use crate::db::search::{IndexState, Target, ensure_index, what_to_check};
    const PATIENCE: Duration = Duration::from_secs(3600);
    let config = &state.config;
    let mut waiting_since: [Option<std::time::Instant>; 2] = [None; 2];
    let mut warned = false;
    let mut tick = tokio::time::interval(config.search_index_check);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        for (i, target) in [Target::Users, Target::Groups].into_iter().enumerate() {
            let now = waiting_since[i].is_some_and(|t| t.elapsed() >= PATIENCE);
            match ensure_index(&state.db, target, config.search_index_min_rows, now).await {
                Ok(IndexState::Waiting) => {
                    waiting_since[i].get_or_insert_with(std::time::Instant::now);
                }
                Ok(IndexState::Ready | IndexState::NotYet) => waiting_since[i] = None,
                Err(e) => {
                    // Tried again at the next look: the database may have been away.
                    if !warned {
                        tracing::warn!(
                            index = target.index_name(&state.db),
                            error = %e,
                            "could not build the search index: searches read every row of \
                             the tenant until it exists; {}",
                            what_to_check(&state.db)
                        );
                        warned = true;
                    }
                }
            }
        }
    }
}

/// Removes audit entries past their tenant's retention, at start and every hour. Two
/// replicas doing it at once delete the same rows: harmless.
async fn audit_retention(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        match crate::db::audit::sweep(&state.db, crate::db::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "removed audit entries past their retention"),
            Err(e) => tracing::warn!(error = %e, "could not remove old audit entries"),
        }
    }
}

/// Records the heartbeats this replica's agents sent since the last tick, in one
/// statement. A connection whose record is gone (another replica judged it dead while
/// this one could not reach the database) is told to reconnect, to be listed again. A
/// database away for a moment disconnects nobody: the next tick records them.
async fn record_heartbeats(state: &AppState) {
    let beats = state.agents.take_beats();
    if beats.is_empty() {
        return;
    }
    match crate::db::agents::heartbeats(&state.db, &beats).await {
        Ok(gone) => {
            for id in gone {
                let reason = "the server lost this connection's record; reconnect".to_owned();
                state.agents.send(
                    id,
                    crate::registry::Order::Close(
                        adc_shared::protocol::ErrorCode::Reconnect,
                        reason,
                    ),
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, agents = beats.len(), "could not record heartbeats"),
    }
}

/// Periodic clean-up that needs no coordination between replicas, every heartbeat
/// interval: a replica that died has its connections removed and its runs failed
/// within the heartbeat timeout (and an interval) by any replica still alive.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(state.config.heartbeat_interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = state.shutdown.cancelled() => return,
        }
        record_heartbeats(&state).await;
        if let Err(e) = crate::db::principals::delete_expired_sessions(&state.db).await {
            tracing::warn!(error = %e, "could not delete expired sessions");
        }
        // Records of a replica that died without removing them, and its runs.
        if let Err(e) = crate::db::agents::remove_stale(
            &state.db,
            state.config.heartbeat_timeout(),
            &state.config.replica_name,
        )
        .await
        {
            tracing::warn!(error = %e, "could not delete stale agent records");
        }
        if let Err(e) = crate::db::runs::fail_orphans(
            &state.db,
            "the server holding the agent stopped during the run",
        )
        .await
        {
            tracing::warn!(error = %e, "could not fail orphaned runs");
        }
    }
}
