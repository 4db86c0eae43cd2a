#!/bin/sh
# Restore a backup of deploy/backup.sh into an empty database and an empty private-files
# directory, then check it: the audit chain verifies and still holds the head recorded at backup
# time, one referral and one attachment decrypt with the keys of the environment.
#
#   docker compose run --rm ops deploy/restore.sh /backups/cmer-20261130T220000Z   (README)
#   deploy/restore.sh BACKUP_DIRECTORY                                              (without Docker)
#
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD of a superuser (roles and database are
# (re)built by deploy/postgres/init.sql with CMER_DB_NAME, CMER_OWNER_DB_PASSWORD,
# CMER_APP_DB_PASSWORD), PRIVATE_STORAGE_ROOT, and the application's settings: DATABASE_URL (the
# app role on CMER_DB_NAME) and the four keys **of the backed-up installation**.
set -eu
cd "$(dirname "$0")/.."
source_dir="${1:?usage: restore.sh BACKUP_DIRECTORY}"
database="${CMER_DB_NAME:-cmer}"
private_files="${PRIVATE_STORAGE_ROOT:-var/private}"
python="${PYTHON:-python}"
fail() { echo "restore: $*" >&2; exit 1; }

(cd "$source_dir" && sha256sum --check --quiet SHA256SUMS) || fail "checksums do not match"
if [ -d "$private_files" ] && [ -n "$(ls -A "$private_files")" ]; then
  fail "$private_files is not empty: restore into an empty volume"
fi

echo "== roles and database $database (deploy/postgres/init.sql)"
psql -X -q -v ON_ERROR_STOP=1 --no-password --dbname=postgres -f deploy/postgres/init.sql
tables=$(psql -X -tA --no-password --dbname="$database" \
  -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ "$tables" = 0 ] || fail "database $database already has $tables tables: restore into an empty one"

echo "== database"
pg_restore --exit-on-error --single-transaction --no-password --dbname="$database" \
  "$source_dir/database.dump"

echo "== private files"
mkdir -p "$private_files"
tar -C "$private_files" -xzf "$source_dir/private-files.tar.gz"

echo "== checks"
"$python" manage.py verify_audit --no-record || fail "the restored audit chain does not verify"
"$python" deploy/restore_check.py "$source_dir/audit-head.txt"
echo "Restore of $source_dir into $database: OK"
