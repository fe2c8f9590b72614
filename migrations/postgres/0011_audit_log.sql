-- The tenant's audit log (issue: operations): who did what, to what, from where. Rows
-- are only ever added; the retention sweep is the one thing that deletes them, and
-- only rows older than the shortest retention a tenant may choose (30 days).
CREATE TABLE audit_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    at          TIMESTAMPTZ NOT NULL,
    actor_kind  TEXT NOT NULL,
    actor_id    UUID,
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    target_name TEXT,
    address     TEXT,
    request_id  TEXT,
    details     JSONB NOT NULL
);
-- Newest first per tenant (keyset paging), and by time for the retention sweep.
CREATE INDEX audit_entries_tenant_id ON audit_entries (tenant_id, id);
CREATE INDEX audit_entries_at ON audit_entries (at);

ALTER TABLE tenants ADD COLUMN audit_retention_days INTEGER NOT NULL DEFAULT 365;

CREATE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'audit entries are never changed';
    END IF;
    IF OLD.at > now() - interval '30 days' THEN
        RAISE EXCEPTION 'audit entries younger than 30 days are never deleted';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
