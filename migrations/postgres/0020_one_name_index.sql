-- Faster first syncs (issue 17 point 4). One index for a user's name instead of two:
-- each B-tree of the users table cost a million users' first sync about 3 s of
-- PostgreSQL's time, and two of them said the same thing: `users_tenant_id_username_key_key` (tenant, name) kept
-- names unique, `users_natural` (sort_key) listed them. `sort_key` is the tenant, '/',
-- the name's natural key and, after U+0001, the whole lower-case name
-- (`db::users::sort_key`): one (tenant, name) makes one sort key and no other, so a
-- unique `users_natural` keeps names unique as the constraint did, and a run's and
-- pass-through's lookups by name probe it with the sort key (`db::users`). The column
-- compares byte by byte (COLLATE "C"), so an equality lookup and a page in natural
-- order both use the index.
DROP INDEX users_natural;
ALTER TABLE users ALTER COLUMN sort_key TYPE TEXT COLLATE "C";
CREATE UNIQUE INDEX users_natural ON users (sort_key);
ALTER TABLE users DROP CONSTRAINT users_tenant_id_username_key_key;

-- A run's changes many to a row (migration 0013) now include users: a million users'
-- first sync stores about 250 rows of 4 096 users, each array a few hundred kilobytes,
-- which TOAST compressed with pglz (6 % of PostgreSQL's CPU in that run, to save what
-- the arrays' random UUIDs barely allow). Stored out of line without compression.
ALTER TABLE run_changes ALTER COLUMN member_ids SET STORAGE EXTERNAL;
ALTER TABLE run_changes ALTER COLUMN member_external_ids SET STORAGE EXTERNAL;
ALTER TABLE run_changes ALTER COLUMN member_names SET STORAGE EXTERNAL;
