-- Why the deletion guard held a run's deletions, with the numbers ("100 of 300 users,
-- 33 % — the guard allows 20 %"): the admin decides on it, so the page shows it beside
-- Approve and Reject.
ALTER TABLE runs ADD COLUMN held_reason TEXT;
