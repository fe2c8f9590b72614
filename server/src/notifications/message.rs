//! What a notification says: the JSON body a webhook receives (the same for every
//! endpoint told of one event), and the e-mail made from it.

use crate::db::notifications::{FinishedRun, Watched};
use crate::vocabulary::{NotificationEvent, RunStatus};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// `public_url` + `#/…`: the page showing the subject, when the server knows its address.
fn link(public_url: Option<&str>, fragment: &str) -> Value {
    match public_url {
        Some(base) => json!(format!("{}/#/{fragment}", base.trim_end_matches('/'))),
        None => Value::Null,
    }
}

/// The event a finished run makes, if any (a cancelled run was someone's own doing).
pub fn run_event(run: &FinishedRun) -> Option<NotificationEvent> {
    match run.status {
        RunStatus::Failed => Some(NotificationEvent::RunFailed),
        RunStatus::Held => Some(NotificationEvent::RunHeld),
        RunStatus::Succeeded => Some(NotificationEvent::RunSucceeded),
        RunStatus::Running | RunStatus::Cancelled => None,
    }
}

fn base(
    event: NotificationEvent,
    event_id: Uuid,
    now: OffsetDateTime,
    tenant: (Uuid, &str),
    sync: (Uuid, &str),
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("event".into(), json!(event.as_str()));
    m.insert("event_id".into(), json!(event_id));
    m.insert("occurred_at".into(), json!(rfc3339(now)));
    m.insert("tenant".into(), json!({"id": tenant.0, "name": tenant.1}));
    m.insert(
        "synchronization".into(),
        json!({"id": sync.0, "name": sync.1}),
    );
    m
}

pub fn run_payload(
    event: NotificationEvent,
    event_id: Uuid,
    run: &FinishedRun,
    now: OffsetDateTime,
    public_url: Option<&str>,
) -> Value {
    let c = &run.counts.0;
    let summary = match event {
        NotificationEvent::RunFailed => format!(
            "Run of {} failed: {}",
            run.sync_name,
            run.error.as_deref().unwrap_or("no reason recorded")
        ),
        NotificationEvent::RunHeld => format!(
            "Run of {} is held: {} deletion(s) wait for approval ({})",
            run.sync_name,
            c.held,
            run.held_reason.as_deref().unwrap_or("the deletion guard")
        ),
        _ => format!(
            "Run of {} succeeded: {} created, {} updated, {} deleted, {} disabled",
            run.sync_name, c.created, c.updated, c.deleted, c.disabled
        ),
    };
    let mut m = base(
        event,
        event_id,
        now,
        (run.tenant_id, &run.tenant_name),
        (run.synchronization_id, &run.sync_name),
    );
    m.insert("summary".into(), json!(summary));
    m.insert("url".into(), link(public_url, &format!("runs/{}", run.id)));
    m.insert(
        "run".into(),
        json!({
            "id": run.id,
            "status": run.status,
            "triggered_by": run.triggered_by,
            "dry_run": run.dry_run,
            "error": run.error,
            "counts": c,
            "started_at": rfc3339(run.started_at),
            "finished_at": run.finished_at.map(rfc3339),
        }),
    );
    Value::Object(m)
}

pub fn offline_payload(
    event_id: Uuid,
    w: &Watched,
    since: OffsetDateTime,
    now: OffsetDateTime,
    public_url: Option<&str>,
) -> Value {
    let minutes = (now - since).whole_minutes();
    let mut m = base(
        NotificationEvent::AgentOffline,
        event_id,
        now,
        (w.tenant_id, &w.tenant_name),
        (w.id, &w.name),
    );
    m.insert(
        "summary".into(),
        json!(format!(
            "No agent of {} has been connected for {minutes} minutes",
            w.name
        )),
    );
    m.insert("url".into(), link(public_url, &format!("syncs/{}", w.id)));
    m.insert("agent_last_seen_at".into(), json!(rfc3339(since)));
    Value::Object(m)
}

pub fn stale_payload(
    event_id: Uuid,
    w: &Watched,
    since: OffsetDateTime,
    now: OffsetDateTime,
    public_url: Option<&str>,
) -> Value {
    let hours = (now - since).whole_minutes() as f64 / 60.0;
    let mut m = base(
        NotificationEvent::SyncStale,
        event_id,
        now,
        (w.tenant_id, &w.tenant_name),
        (w.id, &w.name),
    );
    let what = if w.last_success_at.is_some() {
        "no successful run"
    } else {
        "no successful run yet"
    };
    m.insert(
        "summary".into(),
        json!(format!(
            "{} is stale: {what} for {hours:.1} h (scheduled every {} min)",
            w.name,
            w.schedule_minutes.unwrap_or_default()
        )),
    );
    m.insert("url".into(), link(public_url, &format!("syncs/{}", w.id)));
    m.insert(
        "last_success_at".into(),
        json!(w.last_success_at.map(rfc3339)),
    );
    m.insert("schedule_minutes".into(), json!(w.schedule_minutes));
    Value::Object(m)
}

pub fn test_payload(
    event_id: Uuid,
    tenant: (Uuid, &str),
    by: &str,
    now: OffsetDateTime,
    public_url: Option<&str>,
) -> Value {
    json!({
        "event": NotificationEvent::Test.as_str(),
        "event_id": event_id,
        "occurred_at": rfc3339(now),
        "tenant": {"id": tenant.0, "name": tenant.1},
        "summary": format!("A test notification sent by {by}"),
        "url": link(public_url, "notifications"),
    })
}

/// The subject and plain-text body of the e-mail for `payload`.
pub fn email(payload: &Value) -> (String, String) {
    let text = |k: &str| payload[k].as_str().unwrap_or_default().to_owned();
    let summary = text("summary");
    let subject = format!("[ad-connect] {summary}");
    let mut body = format!("{summary}\n\n");
    if let Some(name) = payload["synchronization"]["name"].as_str() {
        body.push_str(&format!("Synchronization: {name}\n"));
    }
    if let Some(run) = payload.get("run") {
        body.push_str(&format!(
            "Run: {} ({}, started by {})\n",
            run["id"].as_str().unwrap_or_default(),
            run["status"].as_str().unwrap_or_default(),
            run["triggered_by"].as_str().unwrap_or_default()
        ));
        let c = &run["counts"];
        body.push_str(&format!(
            "Read {}, created {}, updated {}, deleted {}, disabled {}, held {}, errors {}\n",
            c["read"],
            c["created"],
            c["updated"],
            c["deleted"],
            c["disabled"],
            c["held"],
            c["errors"]
        ));
    }
    body.push_str(&format!(
        "Tenant: {}\n",
        payload["tenant"]["name"].as_str().unwrap_or_default()
    ));
    body.push_str(&format!("When: {}\n", text("occurred_at")));
    match payload["url"].as_str() {
        Some(url) => body.push_str(&format!("\nOpen it: {url}\n")),
        None => body.push_str("\n(Set ADC_PUBLIC_URL on the server for a link to the page.)\n"),
    }
    body.push_str("\nSent by ad-connect; a system-admin changes what you receive on its Notifications page.\n");
    (subject, body)
}
