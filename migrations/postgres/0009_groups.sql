-- Groups and memberships (architecture §5.5).
--
-- Like `users` since 0005, the tables a run writes row by row carry no foreign keys
-- on PostgreSQL (each COPY row would run a trigger query per reference): the code
-- removes a user's or group's edges in the transaction that deletes it
-- (db/writes/mod.rs `remove_users!`, `remove_groups!`), and a deleted
-- synchronization's groups become manual (db/syncs.rs `delete`).
CREATE TABLE groups (
    id                  UUID PRIMARY KEY,
    tenant_id           UUID NOT NULL,
    -- NULL for groups created by hand (provider `manual`).
    synchronization_id  UUID,
    external_id         TEXT COLLATE "C",
    name                TEXT NOT NULL,
    name_key            TEXT COLLATE "C" NOT NULL,  -- lower-case, for matching
    description         TEXT,
    email               TEXT,
    source_dn           TEXT,
    extra               JSONB NOT NULL,
    content_hash        TEXT,
    -- Kept, with its members, because it left the source under delete-disables: it
    -- no longer counts in anyone's effective groups.
    removed_from_source BOOLEAN NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name_key)
);
CREATE UNIQUE INDEX groups_external ON groups (synchronization_id, external_id);

-- Direct members: users, and groups nested in groups.
CREATE TABLE group_users (
    group_id  UUID NOT NULL,
    user_id   UUID NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_users_user ON group_users (user_id);

CREATE TABLE group_groups (
    parent_id  UUID NOT NULL,
    child_id   UUID NOT NULL,
    PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX group_groups_child ON group_groups (child_id);

-- A change is about a user (as before), a group, or a membership; a membership's
-- member is `user_id` or `member_group_id`, its group `group_id`.
ALTER TABLE run_changes ADD COLUMN subject TEXT NOT NULL DEFAULT 'user';
ALTER TABLE run_changes ADD COLUMN group_id UUID;
ALTER TABLE run_changes ADD COLUMN group_name TEXT;
ALTER TABLE run_changes ADD COLUMN member_group_id UUID;
