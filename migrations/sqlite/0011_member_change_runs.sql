-- The view PostgreSQL's readers use since its migration 0013 (membership changes many
-- to a row there); SQLite keeps one row per change, so the view is the table. The
-- array columns exist for one schema on both engines and stay NULL here.
ALTER TABLE run_changes ADD COLUMN member_ids TEXT;
ALTER TABLE run_changes ADD COLUMN member_external_ids TEXT;
ALTER TABLE run_changes ADD COLUMN member_names TEXT;

CREATE VIEW run_change_list AS
SELECT run_id, seq AS row_seq, 1 AS ord, seq, subject, user_id, external_id, username,
       operation, outcome, group_id, group_name, member_group_id
FROM run_changes;
