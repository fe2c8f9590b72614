-- One index for a user's name instead of two (issue 17 point 4). Each B-tree of the
-- users table cost a million users' first sync about 3 s of PostgreSQL's time, and two
-- of them said the same thing: `users_tenant_id_username_key_key` (tenant, name) kept
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
