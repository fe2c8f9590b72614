-- ad-connect schema, SQLite flavour. UUIDs are 16-byte BLOBs, times RFC 3339 TEXT
-- (as sqlx stores them), JSON as TEXT. Keep in step with migrations/postgres.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE admins (
    id             BLOB PRIMARY KEY,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,  -- stored lower-case; sign-in names no tenant
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('system-admin', 'operator', 'viewer')),
    created_at     TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,         -- SHA-256 of the cookie value
    admin_id    BLOB NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id            BLOB PRIMARY KEY,
    tenant_id     BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('system-admin', 'operator', 'viewer')),
    token_hash    TEXT NOT NULL UNIQUE,   -- SHA-256: the token has 256 bits of entropy
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

CREATE TABLE synchronizations (
    id                BLOB PRIMARY KEY,   -- the Application ID
    tenant_id         BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    secret_hash       TEXT NOT NULL,      -- argon2id PHC string
    secret_version    INTEGER NOT NULL,
    settings          TEXT NOT NULL,
    schedule_minutes  INTEGER,
    guard             TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE agent_connections (
    id                 BLOB PRIMARY KEY,
    tenant_id          BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    synchronization_id BLOB NOT NULL REFERENCES synchronizations(id) ON DELETE CASCADE,
    hostname           TEXT NOT NULL,
    agent_version      TEXT NOT NULL,
    protocol_version   INTEGER NOT NULL,
    remote_addr        TEXT NOT NULL,
    settings           TEXT NOT NULL,
    connected_at       TEXT NOT NULL,
    last_heartbeat_at  TEXT NOT NULL
);
CREATE INDEX agent_connections_sync ON agent_connections (synchronization_id);
