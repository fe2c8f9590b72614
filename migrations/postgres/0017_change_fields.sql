-- What an update changed (issue 15 point 4): the fields, each with its old and new
-- value, as the server saw them when it applied (or planned, or skipped) the update:
-- `[{"field": "email", "old": "a@x", "new": "b@x"}, …]`. NULL for other changes.
ALTER TABLE run_changes ADD COLUMN fields JSONB;

CREATE OR REPLACE VIEW run_change_list AS
SELECT c.run_id,
       c.seq AS row_seq,
       COALESCE(m.ord, 1) AS ord,
       c.seq - COALESCE(cardinality(c.member_ids), 1) + COALESCE(m.ord, 1) AS seq,
       c.subject,
       COALESCE(m.id, c.user_id) AS user_id,
       COALESCE(m.external_id, c.external_id) AS external_id,
       COALESCE(m.name, c.username) AS username,
       c.operation,
       c.outcome,
       c.group_id,
       c.group_name,
       c.member_group_id,
       c.fields
FROM run_changes c
LEFT JOIN LATERAL unnest(c.member_ids, c.member_external_ids, c.member_names)
     WITH ORDINALITY AS m(id, external_id, name, ord) ON true;
