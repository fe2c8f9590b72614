-- What an update changed, field by field with old and new values (PostgreSQL's
-- migration 0017 says more). JSON text here.
ALTER TABLE run_changes ADD COLUMN fields TEXT;

DROP VIEW run_change_list;
CREATE VIEW run_change_list AS
SELECT run_id, seq AS row_seq, 1 AS ord, seq, subject, user_id, external_id, username,
       operation, outcome, group_id, group_name, member_group_id, fields
FROM run_changes;
