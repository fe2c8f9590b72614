-- The tenant's audit log (postgres/0011_audit_log.sql). Times are stored as sqlx writes
-- them ("YYYY-MM-DD HH:MM:SS.ffffff+00:00"), which compares in order with datetime().
CREATE TABLE audit_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id),
    at          TEXT NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    BLOB,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    target_name TEXT,
    address     TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL
);
CREATE INDEX audit_entries_tenant_id ON audit_entries (tenant_id, id);
CREATE INDEX audit_entries_at ON audit_entries (at);

ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER NOT NULL DEFAULT 365;

CREATE TRIGGER audit_entries_never_changed BEFORE UPDATE ON audit_entries
BEGIN
    SELECT RAISE(ABORT, 'audit entries are never changed');
END;

CREATE TRIGGER audit_entries_kept_30_days BEFORE DELETE ON audit_entries
    WHEN OLD.at > datetime('now', '-30 days')
BEGIN
    SELECT RAISE(ABORT, 'audit entries younger than 30 days are never deleted');
END;
