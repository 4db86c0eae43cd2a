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
