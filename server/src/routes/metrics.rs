//! `GET /metrics` and the middleware that counts and times every request.

use crate::metrics::RequestLabels;
use crate::secrets::constant_time_eq;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Instant;

/// Counts and times every request.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let resp = next.run(req).await;
    state
        .metrics
        .http_duration
        .observe(started.elapsed().as_secs_f64());
    state
        .metrics
        .http_requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: resp.status().as_u16(),
        })
        .inc();
    resp
}

/// The metrics, behind `ADC_METRICS_TOKEN` when set. The synchronizations' state comes
/// from the database at each scrape; with the database away, this replica's own
/// metrics still answer (the state is left out and the failure logged).
pub async fn endpoint(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let sent = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(sent, token.expose()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(WWW_AUTHENTICATE, "Bearer")],
                "/metrics needs Authorization: Bearer <ADC_METRICS_TOKEN>\n",
            )
                .into_response();
        }
    }
    let states = match crate::db::health_state::synchronizations(&state.db).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "metrics: cannot read the synchronizations' state");
            Vec::new()
        }
    };
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&states),
    )
        .into_response()
}
