-- ad-connect schema, PostgreSQL flavour. Keep in step with migrations/sqlite.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE admins (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email          TEXT NOT NULL UNIQUE,  -- stored lower-case; sign-in names no tenant
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('system-admin', 'operator', 'viewer')),
    created_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,         -- SHA-256 of the cookie value
    admin_id    UUID NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('system-admin', 'operator', 'viewer')),
    token_hash    TEXT NOT NULL UNIQUE,   -- SHA-256: the token has 256 bits of entropy
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

CREATE TABLE synchronizations (
    id                UUID PRIMARY KEY,   -- the Application ID
    tenant_id         UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    secret_hash       TEXT NOT NULL,      -- argon2id PHC string
    secret_version    INTEGER NOT NULL,
    settings          JSONB NOT NULL,
    schedule_minutes  INTEGER,
    guard             JSONB NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE agent_connections (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    synchronization_id UUID NOT NULL REFERENCES synchronizations(id) ON DELETE CASCADE,
    hostname           TEXT NOT NULL,
    agent_version      TEXT NOT NULL,
    protocol_version   INTEGER NOT NULL,
    remote_addr        TEXT NOT NULL,
    settings           JSONB NOT NULL,
    connected_at       TIMESTAMPTZ NOT NULL,
    last_heartbeat_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX agent_connections_sync ON agent_connections (synchronization_id);
