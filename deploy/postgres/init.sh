#!/bin/sh
# Mounted in the db container as /docker-entrypoint-initdb.d/10-cmer.sh: runs once, when the
# data volume is empty. The passwords come from .env through compose (environment of `db`);
# init.sql reads them with \getenv, so they never appear on a command line.
set -eu
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -f /cmer-deploy/postgres/init.sql
