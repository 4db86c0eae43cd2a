-- Two database roles (see README "Production"):
--   cmer_owner: owns the schema, runs migrations (the `migrate` service), never serves requests;
--   cmer_app:   the web, worker and beat processes. It does not own any table, so it cannot
--               disable triggers; on the audit table it has INSERT and SELECT only.
CREATE ROLE cmer_owner LOGIN PASSWORD 'change-me-owner';
CREATE ROLE cmer_app LOGIN PASSWORD 'change-me-app';
CREATE DATABASE cmer OWNER cmer_owner;
\connect cmer
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cmer_app;
GRANT ALL ON SCHEMA public TO cmer_owner;
ALTER DEFAULT PRIVILEGES FOR ROLE cmer_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cmer_app;
ALTER DEFAULT PRIVILEGES FOR ROLE cmer_owner IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO cmer_app;
-- The audit tables: the audit migration (cmer/audit/migrations/0003) revokes UPDATE, DELETE,
-- TRUNCATE, TRIGGER and REFERENCES on audit_auditentry and audit_auditcheckpoint from cmer_app
-- (settings AUDIT_APP_DB_ROLE), leaving INSERT and SELECT (0005: and DELETE on audit_pending,
-- which its trigger allows only for an entry the chain holds unchanged); their triggers refuse
-- UPDATE, DELETE and TRUNCATE to everyone, and only cmer_owner could disable them (the retention purge does so inside
-- its own transaction). cmer_app must never be granted membership of cmer_owner.
