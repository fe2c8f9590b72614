-- Each group keeps the list of its direct members that its synchronization's manifest
-- sends (issue: groups' benchmark). Building that list from the edges joined with users
-- and groups took PostgreSQL 0.6-0.8 s for 250 000 memberships on every run, changed
-- or not. Now the manifest reads `member_list` where it is current and rebuilds only
-- the others.
--
-- Currency without races: these triggers add one to `members_version` in the
-- transaction of any change to a group's members (an edge added or removed, a
-- member's external ID or synchronization changed). The manifest reads a group's
-- version before its edges and stores the list it built only `WHERE members_version`
-- is still that version (`member_list_version` records it); a list is used only when
-- the two versions are equal.
ALTER TABLE groups ADD COLUMN members_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN member_list TEXT;
ALTER TABLE groups ADD COLUMN member_list_version BIGINT;

-- Statement triggers: one UPDATE per COPY of edges, not one per edge. Each trigger
-- names its transition table `changed` (the new rows of an INSERT, the old of a DELETE).
CREATE FUNCTION bump_members_version_user_edges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE groups SET members_version = members_version + 1
     WHERE id IN (SELECT DISTINCT group_id FROM changed);
    RETURN NULL;
END $$;
CREATE FUNCTION bump_members_version_group_edges() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE groups SET members_version = members_version + 1
     WHERE id IN (SELECT DISTINCT parent_id FROM changed);
    RETURN NULL;
END $$;

CREATE TRIGGER group_users_added AFTER INSERT ON group_users
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION bump_members_version_user_edges();
CREATE TRIGGER group_users_removed AFTER DELETE ON group_users
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION bump_members_version_user_edges();
CREATE TRIGGER group_groups_added AFTER INSERT ON group_groups
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION bump_members_version_group_edges();
CREATE TRIGGER group_groups_removed AFTER DELETE ON group_groups
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION bump_members_version_group_edges();

-- A member is named by its external ID and counted only within its synchronization:
-- a change of either changes the lists it is in.
CREATE FUNCTION bump_members_version_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE groups SET members_version = members_version + 1
     WHERE id IN (SELECT e.group_id FROM group_users e
                  JOIN changed_new n ON n.id = e.user_id JOIN changed_old o ON o.id = n.id
                  WHERE n.external_id IS DISTINCT FROM o.external_id
                     OR n.synchronization_id IS DISTINCT FROM o.synchronization_id);
    RETURN NULL;
END $$;
CREATE TRIGGER users_identity_changed AFTER UPDATE ON users
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new FOR EACH STATEMENT
    EXECUTE FUNCTION bump_members_version_users();

-- Not for the bumps above (depth 2): they change no identity, and each UPDATE of
-- groups fires this again.
CREATE FUNCTION bump_members_version_groups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    UPDATE groups SET members_version = members_version + 1
     WHERE id IN (SELECT e.parent_id FROM group_groups e
                  JOIN changed_new n ON n.id = e.child_id JOIN changed_old o ON o.id = n.id
                  WHERE n.external_id IS DISTINCT FROM o.external_id
                     OR n.synchronization_id IS DISTINCT FROM o.synchronization_id);
    RETURN NULL;
END $$;
-- (A trigger with transition tables takes no column list.)
CREATE TRIGGER groups_identity_changed AFTER UPDATE ON groups
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new FOR EACH STATEMENT
    EXECUTE FUNCTION bump_members_version_groups();
