-- Users listed in natural order: user2 before user10 (issue 15 point 5). `sort_key` is
-- the tenant's ID, '/', then the username's key with each run of digits prefixed by its
-- length (`db::users::sort_key`), compared byte by byte (COLLATE "C", whatever the
-- database's collation), so an index serves the keyset pages of one tenant's range.
-- The tenant leads the key and not the index: an index led by `tenant_id` is one the
-- planner may pick for a run's lookups by username on an empty table, scanning the
-- tenant per key as the table fills (see `db::users::PG_BY_EXTERNAL_ID`). Rows that
-- predate it are filled in by the server at start (`users::fill_sort_keys`).
ALTER TABLE users ADD COLUMN sort_key TEXT;
CREATE INDEX users_natural ON users (sort_key COLLATE "C");

-- Groups the same way (`name` for `username`).
ALTER TABLE groups ADD COLUMN sort_key TEXT;
CREATE INDEX groups_natural ON groups (sort_key COLLATE "C");
