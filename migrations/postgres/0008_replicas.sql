-- Each replica's public key (X25519, base64), renewed at every start: a pass-through
-- authentication relayed to the replica holding the agent is sealed to it.
CREATE TABLE replicas (
    name        TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL
);
