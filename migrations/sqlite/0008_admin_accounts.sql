-- Admin accounts managed from REST (postgres/0010_admin_accounts.sql).
ALTER TABLE admins ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;
