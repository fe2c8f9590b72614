//! Notifications (architecture §3.5): finding the events — runs that ended failed, held
//! or succeeded, synchronizations without an agent, or without a successful run for too
//! long — queuing one delivery per subscribed endpoint, and sending what is due, by
//! webhook or e-mail, with retries that back off until the event is a day old.
//!
//! Every replica runs [`run`]; the database decides which one notifies an event (it is
//! claimed once) and which one sends a delivery (claimed for a while), so each is sent
//! once however many replicas there are, and a restart loses nothing.

pub mod email;
pub mod message;
pub mod webhook;

use crate::config::Config;
use crate::db::notifications::{self as store, Condition, Due, Endpoint, NewDelivery};
use crate::db::{Db, now};
use crate::metrics::DeliveryLabels;
use crate::vocabulary::NotificationEvent;
use prometheus_client::metrics::{counter::Counter, family::Family};
use serde_json::Value;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long a replica keeps a delivery it sends: longer than any attempt takes.
const CLAIM: Duration = Duration::from_secs(120);
/// Deliveries sent per round.
const BATCH: i64 = 20;

/// One delivery per enabled endpoint of `endpoints` subscribed to `event`.
pub fn fan_out(
    endpoints: &[Endpoint],
    event: NotificationEvent,
    event_id: Uuid,
    payload: &Value,
    at: OffsetDateTime,
) -> Vec<NewDelivery> {
    endpoints
        .iter()
        .filter(|e| e.enabled && e.events.0.iter().any(|x| x == event.as_str()))
        .map(|e| NewDelivery {
            id: Uuid::new_v4(),
            tenant_id: e.tenant_id,
            endpoint_id: e.id,
            event_id,
            event: event.as_str().to_owned(),
            payload: payload.clone(),
            at,
        })
        .collect()
}

/// Queues the notifications of every event that happened since the last look.
pub async fn find_events(db: &Db, config: &Config) -> Result<(), sqlx::Error> {
    let public_url = config.public_url.as_deref();
    loop {
        let t = now();
        let claimed = store::claim_finished_runs(db, 100, |run, endpoints| {
            let Some(event) = message::run_event(run) else {
                return vec![];
            };
            let id = Uuid::new_v4();
            let payload = message::run_payload(event, id, run, t, public_url);
            fan_out(endpoints, event, id, &payload, t)
        })
        .await?;
        if claimed < 100 {
            break;
        }
    }
    let t = now();
    for w in store::watched(db).await? {
        // No agent for longer than the tenant allows, since it was last connected.
        if let Some(seen) = w.agent_last_seen_at
            && !w.agent_connected
            && t - seen > time::Duration::minutes(i64::from(w.agent_offline_minutes))
            && w.offline_notified_at.is_none_or(|n| n < seen)
        {
            store::claim_condition(db, &w, Condition::AgentOffline, seen, t, |endpoints| {
                let id = Uuid::new_v4();
                let payload = message::offline_payload(id, &w, seen, t, public_url);
                fan_out(endpoints, NotificationEvent::AgentOffline, id, &payload, t)
            })
            .await?;
        }
        // Scheduled, and no successful run for the tenant's number of intervals.
        if let Some(minutes) = w.schedule_minutes {
            let since = w.last_success_at.unwrap_or(w.created_at);
            let limit = i64::from(minutes) * i64::from(w.stale_factor);
            if t - since > time::Duration::minutes(limit)
                && w.stale_notified_at.is_none_or(|n| n < since)
            {
                store::claim_condition(db, &w, Condition::Stale, since, t, |endpoints| {
                    let id = Uuid::new_v4();
                    let payload = message::stale_payload(id, &w, since, t, public_url);
                    fan_out(endpoints, NotificationEvent::SyncStale, id, &payload, t)
                })
                .await?;
            }
        }
    }
    Ok(())
}

/// When a delivery that failed `attempts` times is tried again: the base doubling each
/// time, up to 120 bases (1 h for the default 30 s); `None` once the event is older
/// than the give-up age.
pub fn retry_at(
    config: &Config,
    attempts: i32,
    created_at: OffsetDateTime,
    t: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let base = config.notify_retry_base;
    let factor = 2u32
        .saturating_pow(attempts.clamp(1, 30) as u32 - 1)
        .min(120);
    let wait = base * factor;
    let next = t + wait;
    (next - created_at < config.notify_give_up).then_some(next)
}

/// Sends what is due, a batch at a time, until nothing is.
pub async fn deliver_due(
    db: &Db,
    config: &Config,
    counted: &Family<DeliveryLabels, Counter>,
) -> Result<(), sqlx::Error> {
    loop {
        let t = now();
        let due = store::claim_due(db, &config.replica_name, t, t + CLAIM, BATCH).await?;
        if due.is_empty() {
            return Ok(());
        }
        for d in due {
            let result = send(config, &d).await;
            let t = now();
            let outcome = match result {
                Ok(()) => {
                    store::delivered(db, d.id, t).await?;
                    "delivered"
                }
                Err(error) => {
                    let next = retry_at(config, d.attempts + 1, d.created_at, t);
                    // The reason names the URL, often a credential: it goes to the
                    // delivery log (system-admins), not to the server's log.
                    tracing::info!(delivery_id = %d.id, event = d.event, kind = d.kind, attempts = d.attempts + 1, "notification not delivered; the delivery log says why");
                    store::attempt_failed(db, d.id, &error, next).await?;
                    if next.is_some() {
                        "retrying"
                    } else {
                        "gave_up"
                    }
                }
            };
            counted
                .get_or_create(&DeliveryLabels {
                    channel: d.kind.clone(),
                    outcome: outcome.into(),
                })
                .inc();
        }
    }
}

async fn send(config: &Config, d: &Due) -> Result<(), String> {
    match d.kind.as_str() {
        "webhook" => {
            let body = serde_json::to_vec(&d.payload.0).map_err(|e| e.to_string())?;
            let headers = [
                ("x-adc-event", d.event.clone()),
                ("x-adc-event-id", d.event_id.to_string()),
                ("x-adc-delivery", d.id.to_string()),
            ];
            let secret = d.secret.as_deref().unwrap_or_default();
            webhook::send(
                &d.target,
                secret,
                &headers,
                body,
                config.webhook_allow_private,
            )
            .await
        }
        "email" => {
            let Some(smtp) = &config.smtp else {
                return Err(
                    "this server has no SMTP settings (ADC_SMTP_HOST, ADC_SMTP_FROM)".into(),
                );
            };
            let (subject, body) = message::email(&d.payload.0);
            email::send(smtp, &d.target, &subject, body, &d.id.to_string()).await
        }
        other => Err(format!("unknown endpoint kind `{other}`")),
    }
}

/// This replica's share of the work: events, then deliveries, every `notify_interval`,
/// until shutdown. Old settled deliveries are removed after 30 days.
pub async fn run(
    db: Db,
    config: Config,
    counted: Family<DeliveryLabels, Counter>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(config.notify_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut swept = std::time::Instant::now() - Duration::from_secs(3600);
    let released = if db.may_be_shared() {
        store::release_claims(&db, &config.replica_name).await
    } else {
        store::release_all_claims(&db).await
    };
    match released {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            deliveries = n,
            "took back deliveries this replica was sending when it stopped"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not take back this replica's earlier deliveries")
        }
    }
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if let Err(e) = find_events(&db, &config).await {
            tracing::warn!(error = %e, "could not look for events to notify");
        }
        if let Err(e) = deliver_due(&db, &config, &counted).await {
            tracing::warn!(error = %e, "could not send notifications");
        }
        if swept.elapsed() > Duration::from_secs(3600) {
            swept = std::time::Instant::now();
            match store::sweep(&db, now() - time::Duration::days(30)).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    removed = n,
                    "removed notification deliveries older than 30 days"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "could not remove old notification deliveries")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_doubling_to_an_hour_and_stop_after_a_day() {
        let c = Config::new(None);
        let start = now();
        let waits: Vec<i64> = (1..=9)
            .map(|n| (retry_at(&c, n, start, start).unwrap() - start).whole_seconds())
            .collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        let late = start + time::Duration::hours(26);
        assert_eq!(retry_at(&c, 40, start, late), None);
        // Attempts over 24 hours: more than 24 of them before giving up.
        let mut t = start;
        let mut n = 0;
        while let Some(next) = retry_at(&c, n + 1, start, t) {
            t = next;
            n += 1;
        }
        assert!(
            n > 24 && t - start >= time::Duration::hours(24),
            "{n} attempts until {}",
            t - start
        );
    }
}
