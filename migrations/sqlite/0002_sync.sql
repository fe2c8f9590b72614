-- The tenant's directory and the runs that keep it in step (architecture §5).

CREATE TABLE users (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- NULL for users created by hand (provider `manual`) or detached.
    synchronization_id  BLOB REFERENCES synchronizations(id) ON DELETE SET NULL,
    external_id         TEXT,
    username            TEXT NOT NULL,
    username_key        TEXT NOT NULL,        -- lower-case, for matching
    email               TEXT,
    display_name        TEXT,
    given_name          TEXT,
    surname             TEXT,
    enabled             INTEGER NOT NULL,     -- the cloud's state
    source_enabled      INTEGER NOT NULL,     -- what the source said last
    removed_from_source INTEGER NOT NULL,     -- disabled because it left the source
    source_dn           TEXT,
    extra               TEXT NOT NULL,
    content_hash        TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (tenant_id, username_key)
);
CREATE UNIQUE INDEX users_external ON users (tenant_id, synchronization_id, external_id);

CREATE TABLE runs (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    synchronization_id  BLOB NOT NULL REFERENCES synchronizations(id) ON DELETE CASCADE,
    status              TEXT NOT NULL,        -- running | succeeded | failed | held | cancelled
    trigger_source      TEXT NOT NULL,        -- api | schedule | agent
    triggered_by        TEXT NOT NULL,
    dry_run             INTEGER NOT NULL,
    full_resync         INTEGER NOT NULL,
    settings            TEXT NOT NULL,        -- effective settings with their sources
    connection_id       BLOB,
    read_complete       INTEGER NOT NULL,
    counts              TEXT NOT NULL,
    error               TEXT,
    decision            TEXT,                 -- approved | rejected, for held runs
    started_at          TEXT NOT NULL,
    finished_at         TEXT
);
CREATE INDEX runs_sync ON runs (synchronization_id, started_at);
-- At most one active run per synchronization (architecture §5.3 step 1).
CREATE UNIQUE INDEX runs_one_active ON runs (synchronization_id) WHERE status = 'running';

CREATE TABLE run_changes (
    run_id       BLOB NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    user_id      BLOB,
    external_id  TEXT,
    username     TEXT NOT NULL,
    operation    TEXT NOT NULL,   -- create | update | delete | disable
    outcome      TEXT NOT NULL,   -- applied | planned | held | skipped: … | conflict: … | error: …
    PRIMARY KEY (run_id, seq)
);
