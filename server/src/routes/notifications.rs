//! Notifications (system-admin): webhook endpoints and e-mail recipients with the events
//! they receive, a test send, the delivery log, and the tenant's thresholds
//! (architecture §3.5). System-admin only: a webhook URL is often a credential itself.

use crate::audit::{self, Action, Target};
use crate::caller::Caller;
use crate::db::notifications::{self as store, Delivery, Endpoint, NewDelivery, Thresholds};
use crate::db::{now, tenants};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, on_unique};
use crate::notifications::{email, message, webhook};
use crate::role::Role;
use crate::secrets;
use crate::state::AppState;
use crate::vocabulary::NotificationEvent;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::types::Json as DbJson;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEndpoint {
    /// `webhook` or `email`.
    kind: String,
    /// The URL, or the e-mail address.
    target: String,
    #[serde(default)]
    events: Option<Vec<NotificationEvent>>,
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointChange {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    events: Option<Vec<NotificationEvent>>,
    #[serde(default)]
    enabled: Option<bool>,
}

/// An endpoint with its webhook key: the one answer that holds it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NotificationEndpointWithSecret)]
pub struct WithSecret {
    #[serde(flatten)]
    endpoint: Endpoint,
    /// The key of the `X-ADC-Signature` HMAC, shown this once (webhooks only).
    secret: Option<String>,
}

fn events(asked: Option<Vec<NotificationEvent>>) -> ApiResult<DbJson<Vec<String>>> {
    let list = asked.unwrap_or_else(|| NotificationEvent::DEFAULT.to_vec());
    if list.contains(&NotificationEvent::Test) {
        return Err(ApiError::Invalid(
            "`test` is not subscribed to: the Send test button sends it to one endpoint".into(),
        ));
    }
    let mut names: Vec<String> = list.iter().map(|e| e.as_str().to_owned()).collect();
    names.sort();
    names.dedup();
    Ok(DbJson(names))
}

fn target(state: &AppState, kind: &str, target: &str) -> ApiResult<String> {
    match kind {
        "webhook" => {
            let url = webhook::check_url(target.trim()).map_err(ApiError::Invalid)?;
            if !state.config.webhook_allow_private
                && let Some(host) = url.host_str()
                && (host.eq_ignore_ascii_case("localhost")
                    || host
                        .trim_matches(['[', ']'])
                        .parse()
                        .is_ok_and(webhook::is_private))
            {
                return Err(ApiError::Invalid(format!(
                    "`{host}` is a private or loopback address: webhooks go to public addresses (the server's ADC_WEBHOOK_ALLOW_PRIVATE allows others)"
                )));
            }
            Ok(target.trim().to_owned())
        }
        "email" => {
            if state.config.smtp.is_none() {
                return Err(ApiError::Conflict(
                    "this server sends no e-mail: its operator sets ADC_SMTP_HOST and ADC_SMTP_FROM first".into(),
                ));
            }
            email::check_address(target).map_err(ApiError::Invalid)
        }
        other => Err(ApiError::Invalid(format!(
            "kind must be `webhook` or `email`, not `{other}`"
        ))),
    }
}

async fn find(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Endpoint> {
    store::get_endpoint(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("notification endpoint"))
}

/// How the audit log names an endpoint. Any role reads the audit log, and a webhook's
/// path or query is often a credential (a chat service's hook URL), so a webhook is
/// named by its scheme and host only; an e-mail address as it is.
fn shown(e: &Endpoint) -> String {
    if e.kind != "webhook" {
        return e.target.clone();
    }
    match reqwest::Url::parse(&e.target) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or_default()),
        Err(_) => "a webhook".into(),
    }
}

fn audited(e: &Endpoint) -> serde_json::Value {
    json!({ "kind": e.kind, "target": shown(e), "events": e.events.0, "enabled": e.enabled })
}

fn endpoint_target(e: &Endpoint) -> Target {
    Target::endpoint(e.id, &shown(e))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Endpoint>>> {
    caller.require(Role::SystemAdmin)?;
    Ok(Json(
        store::list_endpoints(&state.db, caller.tenant_id).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewEndpoint>,
) -> ApiResult<(StatusCode, Json<WithSecret>)> {
    caller.require(Role::SystemAdmin)?;
    let target = target(&state, &body.kind, &body.target)?;
    let secret = (body.kind == "webhook").then(|| secrets::random_token(32));
    let e = Endpoint {
        id: Uuid::new_v4(),
        tenant_id: caller.tenant_id,
        kind: body.kind,
        target,
        secret: secret.as_ref().map(|s| s.expose().to_owned()),
        events: events(body.events)?,
        enabled: body.enabled.unwrap_or(true),
        created_at: now(),
    };
    store::insert_endpoint(&state.db, &e)
        .await
        .map_err(|err| on_unique(err, format!("`{}` is an endpoint already", e.target)))?;
    caller
        .audit(Action::NotificationEndpointCreated)
        .target(endpoint_target(&e))
        .details(audited(&e))
        .record(&state.db)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(WithSecret {
            endpoint: e,
            secret: secret.map(|s| s.expose().to_owned()),
        }),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<EndpointChange>,
) -> ApiResult<Json<Endpoint>> {
    caller.require(Role::SystemAdmin)?;
    let mut e = find(&state, &caller, id).await?;
    let before = audited(&e);
    if let Some(t) = body.target {
        e.target = target(&state, &e.kind, &t)?;
    }
    if body.events.is_some() {
        e.events = events(body.events)?;
    }
    if let Some(enabled) = body.enabled {
        e.enabled = enabled;
    }
    store::update_endpoint(&state.db, &e)
        .await
        .map_err(|err| on_unique(err, format!("`{}` is an endpoint already", e.target)))?;
    caller
        .audit(Action::NotificationEndpointChanged)
        .target(endpoint_target(&e))
        .details(json!({ "changes": audit::changes(&before, &audited(&e)) }))
        .record(&state.db)
        .await;
    Ok(Json(e))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let e = find(&state, &caller, id).await?;
    if !store::delete_endpoint(&state.db, caller.tenant_id, id).await? {
        return Err(ApiError::NotFound("notification endpoint"));
    }
    caller
        .audit(Action::NotificationEndpointDeleted)
        .target(endpoint_target(&e))
        .details(audited(&e))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A new key for a webhook; the old one stops being used at once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WithSecret>> {
    caller.require(Role::SystemAdmin)?;
    let mut e = find(&state, &caller, id).await?;
    if e.kind != "webhook" {
        return Err(ApiError::Conflict(
            "only a webhook has a signing key".into(),
        ));
    }
    let secret = secrets::random_token(32);
    e.secret = Some(secret.expose().to_owned());
    store::update_endpoint(&state.db, &e).await?;
    caller
        .audit(Action::NotificationSecretRotated)
        .target(endpoint_target(&e))
        .record(&state.db)
        .await;
    Ok(Json(WithSecret {
        endpoint: e,
        secret: Some(secret.expose().to_owned()),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = NotificationTestQueued)]
pub struct TestQueued {
    /// Follow it in the delivery log.
    delivery_id: Uuid,
}

/// Queues a `test` event to one endpoint, whatever it subscribes to (even disabled).
pub async fn send_test(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<TestQueued>)> {
    caller.require(Role::SystemAdmin)?;
    let e = find(&state, &caller, id).await?;
    let tenant = tenants::by_id(&state.db, caller.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let t = now();
    let event_id = Uuid::new_v4();
    let payload = message::test_payload(
        event_id,
        (tenant.id, &tenant.name),
        &caller.name,
        t,
        state.config.public_url.as_deref(),
    );
    let delivery = NewDelivery {
        id: Uuid::new_v4(),
        tenant_id: caller.tenant_id,
        endpoint_id: e.id,
        event_id,
        event: NotificationEvent::Test.as_str().to_owned(),
        payload,
        at: t,
    };
    store::enqueue(&state.db, &delivery).await?;
    caller
        .audit(Action::NotificationTestSent)
        .target(endpoint_target(&e))
        .details(json!({ "delivery_id": delivery.id }))
        .record(&state.db)
        .await;
    Ok((
        StatusCode::ACCEPTED,
        Json(TestQueued {
            delivery_id: delivery.id,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    endpoint: Option<Uuid>,
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    limit: Option<i64>,
}

pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<Vec<Delivery>>> {
    caller.require(Role::SystemAdmin)?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s @ ("pending" | "delivered" | "failed")) => Some(s),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status must be pending, delivered or failed, not `{other}`"
            )));
        }
    };
    let limit = super::page_limit(q.limit, 100, 500)?;
    Ok(Json(
        store::deliveries(&state.db, caller.tenant_id, q.endpoint, status, limit).await?,
    ))
}

/// The tenant's thresholds, and what the server's operator set for notifications.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = NotificationSettings)]
pub struct Settings {
    /// `agent.offline` after this many minutes without any agent connected (1-10080).
    agent_offline_minutes: i32,
    /// `synchronization.stale` after this many schedule intervals without a successful
    /// run (1-100).
    stale_factor: i32,
    /// Whether e-mail recipients can be added (the server's SMTP settings). Read-only.
    #[serde(default, skip_deserializing)]
    email_available: bool,
    /// Whether messages link to the page (the server's ADC_PUBLIC_URL). Read-only.
    #[serde(default, skip_deserializing)]
    links_available: bool,
}

fn settings_view(state: &AppState, t: Thresholds) -> Settings {
    Settings {
        agent_offline_minutes: t.agent_offline_minutes,
        stale_factor: t.stale_factor,
        email_available: state.config.smtp.is_some(),
        links_available: state.config.public_url.is_some(),
    }
}

pub async fn settings(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Settings>> {
    caller.require(Role::SystemAdmin)?;
    let t = store::thresholds(&state.db, caller.tenant_id).await?;
    Ok(Json(settings_view(&state, t)))
}

pub async fn set_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Settings>,
) -> ApiResult<Json<Settings>> {
    caller.require(Role::SystemAdmin)?;
    if !(1..=10080).contains(&body.agent_offline_minutes) {
        return Err(ApiError::Invalid(format!(
            "agent_offline_minutes must be between 1 and 10080 (a week), not {}",
            body.agent_offline_minutes
        )));
    }
    if !(1..=100).contains(&body.stale_factor) {
        return Err(ApiError::Invalid(format!(
            "stale_factor must be between 1 and 100, not {}",
            body.stale_factor
        )));
    }
    let old = store::thresholds(&state.db, caller.tenant_id).await?;
    let new = Thresholds {
        agent_offline_minutes: body.agent_offline_minutes,
        stale_factor: body.stale_factor,
    };
    store::set_thresholds(&state.db, caller.tenant_id, new).await?;
    caller
        .audit(Action::NotificationSettingsChanged)
        .details(json!({ "changes": audit::changes(
            &serde_json::to_value(old).unwrap_or_default(),
            &serde_json::to_value(new).unwrap_or_default(),
        ) }))
        .record(&state.db)
        .await;
    Ok(Json(settings_view(&state, new)))
}
