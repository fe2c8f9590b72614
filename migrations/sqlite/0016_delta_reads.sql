-- Delta reads (issue 17): where the next run may continue reading the directory from.
-- `watermark` is the agent's opaque token (an RFC 4533 cookie), valid only for the read
-- settings `watermark_fingerprint` names (base DN, scope, filter, mapping); it is
-- written only when a run succeeds. `full_read_at` is when the last full read
-- succeeded, and `full_read_hours` how often one is due (0: every run reads in full):
-- a full read is what proves deletions a delta read cannot.
ALTER TABLE synchronizations ADD COLUMN watermark TEXT;
ALTER TABLE synchronizations ADD COLUMN watermark_fingerprint TEXT;
ALTER TABLE synchronizations ADD COLUMN full_read_at TEXT;
ALTER TABLE synchronizations ADD COLUMN full_read_hours INTEGER NOT NULL DEFAULT 24;

-- Which kind of read a run was ('full' or 'delta') and why, for the report and page.
ALTER TABLE runs ADD COLUMN read_kind TEXT;
ALTER TABLE runs ADD COLUMN read_reason TEXT;
