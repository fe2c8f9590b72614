//! Every route of the server, in one place.

mod admins;
mod agent_connect;
mod audit;
mod downloads;
mod events;
mod groups;
mod health;
pub(crate) mod metrics;
mod notifications;
pub mod openapi;
mod passthrough;
mod runs;
mod sign_in;
mod syncs;
mod tokens;
mod users;
mod web;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// A page size from the query: `default` when absent; outside 1..=`max` is refused
/// (not silently clamped), so a client learns the bound.
pub(crate) fn page_limit(asked: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match asked {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::Invalid(format!(
            "limit must be between 1 and {max}, not {n}"
        ))),
    }
}

/// Where a list's count of its matches stops: that many means "at least". A search by
/// text stops sooner: past a thousand matches the admin narrows it rather than reads on,
/// and counting a hundred thousand of a million users' matches took longer than the
/// search itself (see bench/README.md, session 12).
pub(crate) const COUNT_CAP: i64 = 100_000;
pub(crate) const SEARCH_COUNT_CAP: i64 = 1_000;

/// Where the count of a list's matches stops, searched by text or not.
pub(crate) fn count_cap(searched: bool) -> i64 {
    if searched {
        SEARCH_COUNT_CAP
    } else {
        COUNT_CAP
    }
}

/// A page of a list and, on its `first` page, how many match: the page's own length
/// when it is not full (there is nothing more to count), else `count`. The count runs
/// after the page, only when needed: a search that a few rows match costs one look
/// through the index, not two.
pub(crate) async fn with_count<T, C>(
    page: impl Future<Output = Result<Vec<T>, sqlx::Error>>,
    first: bool,
    limit: i64,
    count: impl FnOnce() -> C,
) -> Result<(Vec<T>, Option<i64>), sqlx::Error>
where
    C: Future<Output = Result<i64, sqlx::Error>>,
{
    let found = page.await?;
    let total = match (first, found.len() as i64) {
        (false, _) => None,
        (true, n) if n < limit => Some(n),
        (true, _) => Some(count().await?),
    };
    Ok((found, total))
}

/// A display name (synchronization, API token): trimmed, 1-200 characters, no control
/// characters.
pub(crate) fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::Invalid(
            "name must be 1-200 characters, without control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

pub fn router() -> Router<AppState> {
    let api = Router::new()
        .route("/auth/login", post(sign_in::login))
        .route("/auth/logout", post(sign_in::logout))
        .route("/me", get(sign_in::me))
        .route("/synchronizations", get(syncs::list).post(syncs::create))
        .route(
            "/synchronizations/{id}",
            get(syncs::read).patch(syncs::update).delete(syncs::delete),
        )
        .route("/synchronizations/{id}/secret", post(syncs::rotate_secret))
        .route("/synchronizations/{id}/agents", get(syncs::agents))
        .route(
            "/synchronizations/{id}/runs",
            get(runs::list).post(runs::start),
        )
        .route("/events", get(events::stream))
        .route("/runs/{id}", get(runs::read))
        .route("/runs/{id}/changes", get(runs::changes))
        .route("/runs/{id}/approve", post(runs::approve))
        .route("/runs/{id}/reject", post(runs::reject))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/users", get(users::search).post(users::create))
        .route(
            "/users/{id}",
            get(users::read).patch(users::update).delete(users::delete),
        )
        .route("/users/{id}/groups", get(groups::of_user))
        .route("/users/{id}/runs", get(runs::of_user))
        .route("/groups", get(groups::search).post(groups::create))
        .route(
            "/groups/{id}",
            get(groups::read)
                .patch(groups::update)
                .delete(groups::delete),
        )
        .route("/groups/{id}/members", get(groups::members))
        .route("/groups/{id}/runs", get(runs::of_group))
        .route(
            "/groups/{id}/members/{member}",
            axum::routing::put(groups::add_member).delete(groups::remove_member),
        )
        .route("/admins", get(admins::list).post(admins::create))
        .route(
            "/admins/{id}",
            axum::routing::patch(admins::update).delete(admins::delete),
        )
        .route("/admins/{id}/password", post(admins::reset_password))
        .route(
            "/me/password",
            axum::routing::put(admins::change_own_password),
        )
        .route("/audit", get(audit::list))
        .route(
            "/audit/settings",
            get(audit::settings).put(audit::set_settings),
        )
        .route(
            "/notifications/endpoints",
            get(notifications::list).post(notifications::create),
        )
        .route(
            "/notifications/endpoints/{id}",
            axum::routing::patch(notifications::update).delete(notifications::delete),
        )
        .route(
            "/notifications/endpoints/{id}/secret",
            post(notifications::rotate_secret),
        )
        .route(
            "/notifications/endpoints/{id}/test",
            post(notifications::send_test),
        )
        .route("/notifications/deliveries", get(notifications::deliveries))
        .route(
            "/notifications/settings",
            get(notifications::settings).put(notifications::set_settings),
        )
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", axum::routing::delete(tokens::delete))
        .route("/downloads", get(downloads::list))
        .route("/downloads/{platform}", get(downloads::get))
        .route("/agent/connect", get(agent_connect::connect))
        .route("/authenticate", post(passthrough::authenticate))
        .route("/openapi.json", get(openapi::serve))
        .fallback(|| async { ApiError::NotFound("route") });
    Router::new()
        .nest("/api/v1", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::endpoint))
        .merge(web::router())
}
