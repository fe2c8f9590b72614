-- Groups and memberships (architecture §5.5). Keep in step with migrations/postgres.

CREATE TABLE groups (
    id                  BLOB PRIMARY KEY,
    tenant_id           BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    -- NULL for groups created by hand (provider `manual`).
    synchronization_id  BLOB REFERENCES synchronizations(id) ON DELETE SET NULL,
    external_id         TEXT,
    name                TEXT NOT NULL,
    name_key            TEXT NOT NULL,        -- lower-case, for matching
    description         TEXT,
    email               TEXT,
    source_dn           TEXT,
    extra               TEXT NOT NULL,
    content_hash        TEXT,
    removed_from_source INTEGER NOT NULL,     -- kept, with its members, under delete-disables
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    UNIQUE (tenant_id, name_key)
);
CREATE UNIQUE INDEX groups_external ON groups (synchronization_id, external_id);

CREATE TABLE group_users (
    group_id  BLOB NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id   BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_users_user ON group_users (user_id);

CREATE TABLE group_groups (
    parent_id  BLOB NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    child_id   BLOB NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX group_groups_child ON group_groups (child_id);

ALTER TABLE run_changes ADD COLUMN subject TEXT NOT NULL DEFAULT 'user';
ALTER TABLE run_changes ADD COLUMN group_id BLOB;
ALTER TABLE run_changes ADD COLUMN group_name TEXT;
ALTER TABLE run_changes ADD COLUMN member_group_id BLOB;
