-- Names are looked up by their sort key (`db::users::sort_key`), which is unique as the
-- (tenant, name) it is made of (PostgreSQL's migration 0020, where it replaces the
-- name's own index). SQLite keeps its table's UNIQUE (tenant_id, username_key) too:
-- dropping a table constraint here means rebuilding the table.
DROP INDEX users_natural;
CREATE UNIQUE INDEX users_natural ON users (sort_key);
