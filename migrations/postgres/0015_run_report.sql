-- Why the deletion guard held a run's deletions, with the numbers ("100 of 300 users,
-- 33 % — the guard allows 20 %"): the admin decides on it, so the page shows it beside
-- Approve and Reject.
ALTER TABLE runs ADD COLUMN held_reason TEXT;

-- Where a running run stands, for the page's progress: its phase (waiting, manifest,
-- reading, applying, deletions), the entries the agent has read so far, and how many
-- the manifest held (what the read is expected to find).
ALTER TABLE runs ADD COLUMN phase TEXT;
ALTER TABLE runs ADD COLUMN read_so_far BIGINT;
ALTER TABLE runs ADD COLUMN expected BIGINT;
