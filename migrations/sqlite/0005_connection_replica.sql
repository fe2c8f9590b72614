-- The replica holding each agent connection (see the PostgreSQL migration); SQLite has
-- one replica, which removes every connection record at start anyway.
ALTER TABLE agent_connections ADD COLUMN replica TEXT;
