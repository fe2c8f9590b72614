-- The replica holding each agent connection (ADC_REPLICA_NAME, default host:port): a
-- replica that restarts removes its previous life's connections at once.
ALTER TABLE agent_connections ADD COLUMN replica TEXT;
CREATE INDEX agent_connections_replica ON agent_connections (replica);
