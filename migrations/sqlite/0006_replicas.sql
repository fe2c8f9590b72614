-- Each replica's public key (see the PostgreSQL migration); SQLite has one replica.
CREATE TABLE replicas (
    name        TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    started_at  TEXT NOT NULL
);
