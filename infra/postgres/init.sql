-- One schema and one login role per service, each role limited to its own schema.
-- docker-compose runs this once, on an empty data volume (/docker-entrypoint-initdb.d), as the
-- superuser of the `platform` database; a test runs it against a fresh database
-- (shared/teststack/tests/postgres_roles.rs). Rerunnable: roles are made only when missing.
--
-- Each service connects as its own role (DATABASE_URL=postgres://<service>:<password>@…),
-- owns its schema (its migrations create the tables there), and has no privilege on the
-- others' schemas, on `public`, or to create schemas. The passwords below are for the
-- compose stack on one machine: set real ones (ALTER ROLE … PASSWORD) in production.

DO $roles$
DECLARE
    service text;
BEGIN
    FOREACH service IN ARRAY ARRAY['identity', 'auth', 'authz', 'audit'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = service) THEN
            EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', service, service);
        END IF;
        -- Its own schema, owned by it: everything in it is its own.
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', service, service);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', service, service);
    END LOOP;
    -- Nothing else in this database for anyone but its owner: no new schemas (never granted),
    -- no temporary tables, nothing in `public` (PostgreSQL 15 already denies CREATE there).
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    REVOKE ALL ON SCHEMA public FROM PUBLIC;
END
$roles$;
