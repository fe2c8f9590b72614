-- Admin accounts managed from REST (issue: operations): a disabled admin cannot sign in
-- and its sessions stop; an account made or reset with a one-time password must set
-- its own before anything else.
ALTER TABLE admins ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE admins ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
