//! The tenant's audit log: read it (filters, keyset pages, CSV export) and set how long
//! it is kept (architecture §3.4). Nothing here changes or deletes an entry.

use crate::audit::{self, Action};
use crate::caller::Caller;
use crate::db::audit::{self as store, AuditEntry, Filter};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::role::Role;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The most rows one CSV export holds; `x-next-before` continues past it.
const CSV_MAX_ROWS: i64 = 100_000;
/// Retention a tenant may choose, in days.
const RETENTION_DAYS: std::ops::RangeInclusive<i32> = 30..=3650;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<String>,
    limit: Option<i64>,
    /// `json` (the default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
pub struct Page {
    entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page; absent on the last one.
    next_before: Option<String>,
}

fn time_param(name: &str, v: Option<&str>) -> ApiResult<Option<OffsetDateTime>> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name} must be an RFC 3339 time such as 2026-12-01T00:00:00Z, not `{s}`"
                ))
            })
        })
        .transpose()
}

/// An action, or an object whose actions all match; anything else is refused with the
/// list, so a typo does not look like an empty log.
fn action_param(v: Option<&str>) -> ApiResult<Option<String>> {
    let Some(a) = v.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let known = |a: &str| {
        Action::ALL
            .iter()
            .any(|k| k.as_str() == a || k.as_str().split_once('.').map(|(o, _)| o) == Some(a))
    };
    if !known(a) {
        let mut objects: Vec<&str> = Action::ALL
            .iter()
            .filter_map(|k| k.as_str().split_once('.').map(|(o, _)| o))
            .collect();
        objects.dedup();
        return Err(ApiError::BadRequest(format!(
            "action `{a}` is not known: give an action such as user.deleted, or one of {}",
            objects.join(", ")
        )));
    }
    Ok(Some(a.to_owned()))
}

fn text_param(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let filter = Filter {
        actor: text_param(q.actor),
        action: action_param(q.action.as_deref())?,
        target: text_param(q.target),
        from: time_param("from", q.from.as_deref())?,
        to: time_param("to", q.to.as_deref())?,
    };
    let before = q
        .before
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                ApiError::BadRequest(format!("before must be a `next_before` value, not `{s}`"))
            })
        })
        .transpose()?;
    match q.format.as_deref() {
        None | Some("json") => {
            let limit = super::page_limit(q.limit, 100, 1000)?;
            let entries = store::list(&state.db, caller.tenant_id, &filter, before, limit).await?;
            let next_before = (entries.len() as i64 == limit)
                .then(|| entries.last().map(|e| e.id.to_string()))
                .flatten();
            Ok(Json(Page {
                entries,
                next_before,
            })
            .into_response())
        }
        Some("csv") => {
            let limit = super::page_limit(q.limit, CSV_MAX_ROWS, CSV_MAX_ROWS)?;
            let entries = store::list(&state.db, caller.tenant_id, &filter, before, limit).await?;
            csv_response(&entries, limit)
        }
        Some(other) => Err(ApiError::BadRequest(format!(
            "format must be `json` or `csv`, not `{other}`"
        ))),
    }
}

/// A spreadsheet opening the file must not run a value as a formula: a cell starting
/// with one of these gets a leading apostrophe (OWASP's advice on CSV injection).
fn cell(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    }
}

fn csv_response(entries: &[AuditEntry], limit: i64) -> ApiResult<Response> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(anyhow::Error::new(e).context("CSV"));
    w.write_record([
        "id",
        "at",
        "actor_kind",
        "actor_id",
        "actor_name",
        "action",
        "target_kind",
        "target_id",
        "target_name",
        "address",
        "request_id",
        "details",
    ])
    .map_err(internal)?;
    for e in entries {
        let at = e.at.format(&Rfc3339).unwrap_or_default();
        let opt = |v: &Option<String>| cell(v.as_deref().unwrap_or(""));
        w.write_record([
            e.id.to_string(),
            at,
            cell(&e.actor_kind),
            e.actor_id.map(|i| i.to_string()).unwrap_or_default(),
            cell(&e.actor_name),
            cell(&e.action),
            opt(&e.target_kind),
            opt(&e.target_id),
            opt(&e.target_name),
            opt(&e.address),
            opt(&e.request_id),
            cell(&e.details.0.to_string()),
        ])
        .map_err(internal)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("CSV: {e}")))?;
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"audit-log.csv\""),
    );
    if entries.len() as i64 == limit
        && let Some(last) = entries.last()
    {
        h.insert(
            "x-next-before",
            HeaderValue::from_str(&last.id.to_string()).expect("digits"),
        );
    }
    Ok(resp)
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AuditSettings)]
pub struct Settings {
    /// Days an entry is kept (30-3650); older ones are removed within a day after.
    retention_days: i32,
}

pub async fn settings(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Settings>> {
    Ok(Json(Settings {
        retention_days: store::retention_days(&state.db, caller.tenant_id).await?,
    }))
}

pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Settings>,
) -> ApiResult<Json<Settings>> {
    caller.require(Role::SystemAdmin)?;
    if !RETENTION_DAYS.contains(&body.retention_days) {
        return Err(ApiError::Invalid(format!(
            "retention_days must be between {} and {}, not {}",
            RETENTION_DAYS.start(),
            RETENTION_DAYS.end(),
            body.retention_days
        )));
    }
    let old = store::retention_days(&state.db, caller.tenant_id).await?;
    store::set_retention_days(&state.db, caller.tenant_id, body.retention_days).await?;
    caller
        .audit(Action::AuditRetentionChanged)
        .details(json!({ "changes": audit::changes(
            &json!({ "retention_days": old }),
            &json!({ "retention_days": body.retention_days }),
        ) }))
        .record(&state.db)
        .await;
    // A shorter retention applies now, not at the next hourly sweep.
    let removed = store::sweep(&state.db, crate::db::now()).await?;
    tracing::info!(
        retention_days = body.retention_days,
        removed,
        "audit retention changed"
    );
    Ok(Json(body))
}
