-- Users listed in natural order: user2 before user10 (issue 15 point 5). `sort_key` is
-- the username's key with each run of digits prefixed by its length
-- (`db::users::natural_key`), compared byte by byte (COLLATE "C", whatever the
-- database's collation), so an index serves the keyset pages. Rows that predate it are
-- filled in by the server at start (`users::fill_sort_keys`) before it serves.
ALTER TABLE users ADD COLUMN sort_key TEXT;
CREATE INDEX users_natural ON users (tenant_id, sort_key COLLATE "C");

-- Groups the same way (`name` for `username`).
ALTER TABLE groups ADD COLUMN sort_key TEXT;
CREATE INDEX groups_natural ON groups (tenant_id, sort_key COLLATE "C");
