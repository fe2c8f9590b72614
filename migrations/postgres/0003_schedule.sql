-- When the schedule next starts a run; NULL: at the next check.
ALTER TABLE synchronizations ADD COLUMN next_run_at TIMESTAMPTZ;
