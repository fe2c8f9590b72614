-- Users listed in natural order (PostgreSQL's migration 0018 says how). SQLite
-- compares text byte by byte already.
ALTER TABLE users ADD COLUMN sort_key TEXT;
CREATE INDEX users_natural ON users (tenant_id, sort_key);

-- Groups the same way.
ALTER TABLE groups ADD COLUMN sort_key TEXT;
CREATE INDEX groups_natural ON groups (tenant_id, sort_key);
