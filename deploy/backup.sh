#!/bin/sh
# Back up CMER: the database (pg_dump custom format) and the private files (attachments, signed
# PDFs; already encrypted on disk), with the audit chain's head recorded just before.
#
#   docker compose run --rm ops deploy/backup.sh /backups      (README "Backup")
#   deploy/backup.sh DIRECTORY                                  (without Docker)
#
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD (a role that can read every table: the
# superuser or the owner role), CMER_DB_NAME (cmer), PRIVATE_STORAGE_ROOT (var/private), and the
# application's settings (DATABASE_URL and the keys) for verify_audit.
# Writes DIRECTORY/cmer-YYYYMMDDTHHMMSSZ/: database.dump, private-files.tar.gz, audit-head.txt,
# SHA256SUMS. Exit 0, or 3 if the audit chain did not verify (the backup is still written: it is
# evidence).
set -eu
cd "$(dirname "$0")/.."
destination_root="${1:?usage: backup.sh DIRECTORY}"
database="${CMER_DB_NAME:-cmer}"
private_files="${PRIVATE_STORAGE_ROOT:-var/private}"
python="${PYTHON:-python}"
destination="$destination_root/cmer-$(date -u +%Y%m%dT%H%M%SZ)"
umask 077
mkdir -p "$destination"

# The head first: verify_audit chains what is pending, then reads the head; a restore must find
# this entry, unchanged, at this position.
chain_ok=1
"$python" manage.py verify_audit --no-record > "$destination/audit-head.txt" 2>&1 || chain_ok=0

pg_dump --format=custom --no-password --dbname="$database" --file="$destination/database.dump"
# After the dump: a file written meanwhile is an orphan after a restore, which is harmless.
mkdir -p "$private_files"
tar -C "$private_files" -czf "$destination/private-files.tar.gz" .
(cd "$destination" && sha256sum database.dump private-files.tar.gz audit-head.txt > SHA256SUMS)

cat <<MESSAGE
Backup written: $destination
  $(cat "$destination/audit-head.txt")
Keep the four keys (SECRET_KEY, FIELD_ENCRYPTION_KEY, BLIND_INDEX_KEY, AUDIT_CHECKPOINT_KEY)
apart from this backup: it cannot be read without FIELD_ENCRYPTION_KEY, and whoever holds both
reads everything. Copy the backup off this server.
MESSAGE
if [ "$chain_ok" -eq 0 ]; then
  echo "WARNING: the audit chain did not verify (audit-head.txt); tell the DPO." >&2
  exit 3
fi
