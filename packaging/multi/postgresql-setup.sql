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
-- A collector that vanishes without closing its connection (a host
-- powered off) keeps its session, and the SIEM export's lock with it,
-- until the server's TCP keepalive gives up: 60 + 3 x 10 s, not hours.
ALTER SYSTEM SET tcp_keepalives_idle = 60;
ALTER SYSTEM SET tcp_keepalives_interval = 10;
ALTER SYSTEM SET tcp_keepalives_count = 3;
SELECT pg_reload_conf();
