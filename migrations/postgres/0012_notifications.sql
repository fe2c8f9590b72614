-- Notifications (issue: operations): a tenant's webhook endpoints and e-mail recipients,
-- each subscribed to events; one delivery row per event and endpoint, queued here so it
-- survives a restart and is sent by exactly one replica (claimed with SKIP LOCKED).
CREATE TABLE notification_endpoints (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL,
    target      TEXT NOT NULL,
    -- The webhook's HMAC key (shown once at creation); NULL for e-mail.
    secret      TEXT,
    events      JSONB NOT NULL,
    enabled     BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, kind, target)
);

CREATE TABLE notification_deliveries (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants(id),
    endpoint_id     UUID NOT NULL REFERENCES notification_endpoints(id) ON DELETE CASCADE,
    event_id        UUID NOT NULL,
    event           TEXT NOT NULL,
    payload         JSONB NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_until   TIMESTAMPTZ,
    -- The replica sending it: a replica that restarts takes back its own claims.
    claimed_by      TEXT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_log ON notification_deliveries (tenant_id, created_at);
CREATE INDEX notification_deliveries_endpoint ON notification_deliveries (endpoint_id);

ALTER TABLE tenants ADD COLUMN notify_agent_offline_minutes INTEGER NOT NULL DEFAULT 15;
ALTER TABLE tenants ADD COLUMN notify_stale_factor INTEGER NOT NULL DEFAULT 2;

-- When an agent of the synchronization was last connected, and when each condition was
-- last notified: one notification per offline period and per stale period.
ALTER TABLE synchronizations ADD COLUMN agent_last_seen_at TIMESTAMPTZ;
ALTER TABLE synchronizations ADD COLUMN offline_notified_at TIMESTAMPTZ;
ALTER TABLE synchronizations ADD COLUMN stale_notified_at TIMESTAMPTZ;

-- A finished run is notified once; runs that ended before this migration count as done.
ALTER TABLE runs ADD COLUMN notified BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE runs SET notified = TRUE;
CREATE INDEX runs_to_notify ON runs (started_at) WHERE notified = FALSE;
