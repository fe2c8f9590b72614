-- What the admin page hears live (Server-Sent Events, `GET /api/v1/events`): every
-- change to a run or to the agents connected, told to every replica on the channel
-- `adc_page_changes` when its transaction commits (and never when it rolls back).
-- Triggers, so that no code path that changes a run can forget to say so. The payload
-- names the tenant (each replica passes an event only to that tenant's pages) and what
-- changed; the page reads the rest through REST, as its caller may.
CREATE FUNCTION notify_page_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM pg_notify('adc_page_changes', json_build_object(
        'tenant_id', r.tenant_id,
        'kind', TG_ARGV[0],
        'synchronization_id', r.synchronization_id,
        'run_id', CASE WHEN TG_ARGV[0] = 'run' THEN r.id END)::text);
    RETURN NULL;
END $$;

-- Not on `notified` or `connection_id`: nothing the page shows.
CREATE TRIGGER runs_page_change
    AFTER INSERT OR DELETE OR UPDATE OF status, counts, phase, read_so_far, expected, decision, held_reason, error
    ON runs FOR EACH ROW EXECUTE FUNCTION notify_page_change('run');
CREATE TRIGGER agent_connections_page_change
    AFTER INSERT OR DELETE ON agent_connections
    FOR EACH ROW EXECUTE FUNCTION notify_page_change('agents');

-- The Notifications page's delivery log, live too.
CREATE FUNCTION notify_delivery_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('adc_page_changes', json_build_object(
        'tenant_id', NEW.tenant_id, 'kind', 'deliveries',
        'synchronization_id', NULL, 'run_id', NULL)::text);
    RETURN NULL;
END $$;
-- Not on a claim (`claimed_until`, `claimed_by`): nothing the page shows.
CREATE TRIGGER notification_deliveries_page_change
    AFTER INSERT OR UPDATE OF status, attempts, last_error, delivered_at
    ON notification_deliveries FOR EACH ROW EXECUTE FUNCTION notify_delivery_change();
