-- Runs once, when the postgres container initializes an empty data volume (docker-entrypoint-initdb.d).
-- The read-only role for billing queries: `chorus init` grants it SELECT on the billing views
-- (migrations/0002_billing.sql and later). It has no password until the operator sets one:
--   ALTER ROLE chorus_billing PASSWORD '...';
CREATE ROLE chorus_billing LOGIN;
