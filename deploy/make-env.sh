#!/bin/sh
# Print a complete .env for docker-compose.yml with freshly generated secrets:
#   deploy/make-env.sh cmer.mairie-exemple.fr acme dsi@mairie-exemple.fr > .env && chmod 600 .env
#   deploy/make-env.sh localhost internal > .env        (a trial on one machine)
# Every variable is explained in README "Production". Keep a copy of the four keys
# (SECRET_KEY, FIELD_ENCRYPTION_KEY, BLIND_INDEX_KEY, AUDIT_CHECKPOINT_KEY) apart from the
# backups: without FIELD_ENCRYPTION_KEY a backup cannot be read, and whoever holds both reads it.
# Needs python3 (standard library only). Used by deploy/smoke.py in CI.
set -eu
domain="${1:?usage: make-env.sh DOMAIN [acme|internal|files] [ACME_EMAIL]}"
tls="${2:-acme}"
email="${3:-}"
case "$tls" in
  acme) [ -n "$email" ] || { echo "acme needs an e-mail address for expiry notices" >&2; exit 2; } ;;
  internal | files) ;;
  *) echo "TLS mode must be acme, internal or files" >&2; exit 2 ;;
esac
secret() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
# Hex passwords: they go into DATABASE_URL without any escaping.
password() { python3 -c "import secrets; print(secrets.token_hex(24))"; }
fernet=$(python3 -c "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())")
cat <<ENV
# CMER production settings, generated $(date -u +%Y-%m-%dT%H:%M:%S+00:00). Never commit this file.
# --- name and certificates (deploy/caddy/Caddyfile)
CMER_DOMAIN=$domain
CMER_TLS=$tls
ACME_EMAIL=$email
ALLOWED_HOSTS=$domain
CSRF_TRUSTED_ORIGINS=https://$domain
SITE_URL=https://$domain
# --- the four keys: keep a copy apart from the backups (README "Backup")
SECRET_KEY=$(secret 50)
FIELD_ENCRYPTION_KEY=$fernet
BLIND_INDEX_KEY=$(secret 32)
AUDIT_CHECKPOINT_KEY=$(secret 32)
# --- database (deploy/postgres/init.sql reads these at the first start of db)
POSTGRES_PASSWORD=$(password)
CMER_DB_NAME=cmer
CMER_OWNER_DB_PASSWORD=$(password)
CMER_APP_DB_PASSWORD=$(password)
DATABASE_CONN_MAX_AGE=60
# --- behind the proxy
PROXY_COUNT=1
SECURE_SSL_REDIRECT=true
SECURE_HSTS_SECONDS=31536000
# --- e-mail (notifications, invitation and reset links)
EMAIL_HOST=smtp.$domain
EMAIL_PORT=587
EMAIL_USE_TLS=true
EMAIL_HOST_USER=
EMAIL_HOST_PASSWORD=
DEFAULT_FROM_EMAIL=cmer@$domain
# --- operations
LOG_LEVEL=INFO
AUDIT_SEAL_INTERVAL=0.5
SESSION_IDLE_SECONDS=900
SESSION_ABSOLUTE_SECONDS=36000
AXES_FAILURE_LIMIT=5
AXES_COOLOFF_MINUTES=30
ENV
