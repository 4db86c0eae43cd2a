-- The database and its two roles (see README "Production"), from the environment only:
--   CMER_OWNER_DB_PASSWORD, CMER_APP_DB_PASSWORD  required, at least 16 characters
--   CMER_DB_NAME (cmer), CMER_OWNER_DB_ROLE (cmer_owner), CMER_APP_DB_ROLE (cmer_app)
-- Run as a superuser with psql ≥ 15 (\getenv): by deploy/postgres/init.sh at the first start of
-- the db container, by deploy/restore.sh before a restore, by deploy/smoke.py in CI:
--   psql -v ON_ERROR_STOP=1 -d postgres -f deploy/postgres/init.sql
-- Idempotent: existing roles keep their objects and get the passwords of the environment, so
-- .env stays the one place where the passwords live.
--
--   owner: owns the schema, runs migrations (the `migrate` service), never serves requests;
--   app:   the web, worker and beat processes. It does not own any table, so it cannot disable
--          triggers; on the audit tables it reads, and adds pending entries (see below).
\set ON_ERROR_STOP on

\getenv db_name CMER_DB_NAME
\if :{?db_name}
\else
  \set db_name cmer
\endif
\getenv owner_role CMER_OWNER_DB_ROLE
\if :{?owner_role}
\else
  \set owner_role cmer_owner
\endif
\getenv app_role CMER_APP_DB_ROLE
\if :{?app_role}
\else
  \set app_role cmer_app
\endif
\getenv owner_password CMER_OWNER_DB_PASSWORD
\getenv app_password CMER_APP_DB_PASSWORD
\if :{?owner_password}
\else
  \set owner_password ''
\endif
\if :{?app_password}
\else
  \set app_password ''
\endif

-- Refuse to create roles with a missing or short password (psql stops on the error).
SELECT length(:'owner_password') < 16 OR length(:'app_password') < 16 AS weak_password \gset
\if :weak_password
  DO $$ BEGIN RAISE EXCEPTION
    'CMER_OWNER_DB_PASSWORD and CMER_APP_DB_PASSWORD must be set, 16 characters or more (.env)';
  END $$;
\endif

SELECT format('CREATE ROLE %I', :'owner_role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner_role') \gexec
SELECT format('CREATE ROLE %I', :'app_role')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') \gexec
ALTER ROLE :"owner_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'owner_password';
ALTER ROLE :"app_role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'app_password';

SELECT format('CREATE DATABASE %I OWNER %I', :'db_name', :'owner_role')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db_name') \gexec
REVOKE ALL ON DATABASE :"db_name" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"db_name" TO :"app_role";

\connect :"db_name"
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT ALL ON SCHEMA public TO :"owner_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
-- The audit tables: the audit migrations (cmer/audit/migrations/0003, 0005, 0007) leave the app
-- role (settings AUDIT_APP_DB_ROLE) SELECT on them and INSERT on audit_pending only (entries not
-- chained yet; the database gives their id and time); the chain, the checkpoints and the
-- verification records are written only by SECURITY DEFINER functions owned by the owner role
-- (cmer_audit_seal, cmer_audit_add_checkpoint, cmer_audit_add_verification), which the app role
-- may EXECUTE. Triggers refuse UPDATE, DELETE and TRUNCATE to everyone, and only the owner could
-- disable them (the retention purge does so inside its own transaction). The app role must never
-- be granted membership of the owner role.
