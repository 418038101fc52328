-- Once, as the PostgreSQL superuser (psql -f postgresql-setup.sql).
-- The collectors make their tables at their first start (schema version
-- in the meta table; a newer one is refused), so the role needs to own
-- the database, nothing more.
CREATE ROLE vigil LOGIN PASSWORD 'change me';
-- C collation: hosts and packages sort bytewise, as on SQLite.
CREATE DATABASE vigil OWNER vigil TEMPLATE template0 ENCODING 'UTF8'
    LC_COLLATE 'C' LC_CTYPE 'C';
-- Each collector holds 3 connections (its loop, its store thread, its
-- command listener) and one per report being made: max_connections must
-- allow 5 per collector besides the server's own.
