-- A run's membership changes, many to a row (issue: groups' benchmark). A first run of
-- a directory with 250 000 memberships wrote as many change rows, each with its tuple
-- header, primary-key entry and WAL: a third of PostgreSQL's work in that run. Now a
-- run of consecutive user-member changes of one group with one operation and outcome
-- is one row: `member_ids`, `member_external_ids` and `member_names` hold its members
-- in order, and `seq` is the last member's (the first's is seq - cardinality + 1), so
-- the primary key still finds every change after a given seq.
--
-- Readers go through the view `run_change_list`, one row per change either way;
-- SQLite stores one row per change and has the same view.
ALTER TABLE run_changes ADD COLUMN member_ids UUID[];
ALTER TABLE run_changes ADD COLUMN member_external_ids TEXT[];
ALTER TABLE run_changes ADD COLUMN member_names TEXT[];

CREATE VIEW run_change_list AS
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
       c.member_group_id
FROM run_changes c
LEFT JOIN LATERAL unnest(c.member_ids, c.member_external_ids, c.member_names)
     WITH ORDINALITY AS m(id, external_id, name, ord) ON true;
