-- Notifications (postgres/0012_notifications.sql).
CREATE TABLE notification_endpoints (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    -- The webhook's HMAC key (shown once at creation); NULL for e-mail.
    secret      TEXT,
    events      TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, kind, target)
);

CREATE TABLE notification_deliveries (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id),
    endpoint_id     BLOB NOT NULL REFERENCES notification_endpoints(id) ON DELETE CASCADE,
    event_id        BLOB NOT NULL,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    claimed_until   TEXT,
    -- The replica sending it: a replica that restarts takes back its own claims.
    claimed_by      TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_log ON notification_deliveries (tenant_id, created_at);
CREATE INDEX notification_deliveries_endpoint ON notification_deliveries (endpoint_id);

ALTER TABLE tenants ADD COLUMN notify_agent_offline_minutes INTEGER NOT NULL DEFAULT 15;
ALTER TABLE tenants ADD COLUMN notify_stale_factor INTEGER NOT NULL DEFAULT 2;

-- When an agent of the synchronization was last connected, and when each condition was
-- last notified: one notification per offline period and per stale period.
ALTER TABLE synchronizations ADD COLUMN agent_last_seen_at TEXT;
ALTER TABLE synchronizations ADD COLUMN offline_notified_at TEXT;
ALTER TABLE synchronizations ADD COLUMN stale_notified_at TEXT;

-- A finished run is notified once; runs that ended before this migration count as done.
ALTER TABLE runs ADD COLUMN notified INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET notified = 1;
CREATE INDEX runs_to_notify ON runs (started_at) WHERE notified = 0;
