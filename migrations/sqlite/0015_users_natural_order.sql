-- Users and groups listed in natural order (PostgreSQL's migration 0018 says how).
-- SQLite compares text byte by byte already.
ALTER TABLE users ADD COLUMN sort_key TEXT;
CREATE INDEX users_natural ON users (sort_key);
ALTER TABLE groups ADD COLUMN sort_key TEXT;
CREATE INDEX groups_natural ON groups (sort_key);
