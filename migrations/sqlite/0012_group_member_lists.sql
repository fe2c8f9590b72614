-- Each group keeps the list of its direct members its synchronization's manifest sends,
-- current while `member_list_version` equals `members_version`, which these triggers
-- advance on any change to the group's members (PostgreSQL's migration 0014 says why).
ALTER TABLE groups ADD COLUMN members_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN member_list TEXT;
ALTER TABLE groups ADD COLUMN member_list_version INTEGER;

CREATE TRIGGER group_users_added AFTER INSERT ON group_users BEGIN
    UPDATE groups SET members_version = members_version + 1 WHERE id = NEW.group_id;
END;
CREATE TRIGGER group_users_removed AFTER DELETE ON group_users BEGIN
    UPDATE groups SET members_version = members_version + 1 WHERE id = OLD.group_id;
END;
CREATE TRIGGER group_groups_added AFTER INSERT ON group_groups BEGIN
    UPDATE groups SET members_version = members_version + 1 WHERE id = NEW.parent_id;
END;
CREATE TRIGGER group_groups_removed AFTER DELETE ON group_groups BEGIN
    UPDATE groups SET members_version = members_version + 1 WHERE id = OLD.parent_id;
END;
CREATE TRIGGER users_identity_changed AFTER UPDATE OF external_id, synchronization_id ON users
WHEN OLD.external_id IS NOT NEW.external_id OR OLD.synchronization_id IS NOT NEW.synchronization_id
BEGIN
    UPDATE groups SET members_version = members_version + 1
     WHERE id IN (SELECT group_id FROM group_users WHERE user_id = NEW.id);
END;
CREATE TRIGGER groups_identity_changed AFTER UPDATE OF external_id, synchronization_id ON groups
WHEN OLD.external_id IS NOT NEW.external_id OR OLD.synchronization_id IS NOT NEW.synchronization_id
BEGIN
    UPDATE groups SET members_version = members_version + 1
     WHERE id IN (SELECT parent_id FROM group_groups WHERE child_id = NEW.id);
END;
