FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# postgresql-client-15 (same major version as the db service): pg_dump/pg_restore for
# deploy/backup.sh and deploy/restore.sh, which run in this image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core gettext \
      postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app cmer

WORKDIR /app
COPY . .
# Static files with production settings (deploy/build-static.sh: DEBUG off, throwaway secrets
# that exist only in that process); the CI runs the same script (deploy/smoke.sh).
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && deploy/build-static.sh \
 && mkdir -p /app/var/private && chown -R cmer /app/var/private

USER cmer
EXPOSE 8000
# Explicit worker settings. 3 sync workers for 2 cores (measured in bench/RESULTS.md); a request
# is killed after 30 s: anything longer (PDF exports, zips) runs in Celery. Workers are recycled
# after about 1,000 requests to bound memory growth. Bind address and UTC logging:
# deploy/gunicorn.conf.py. No control socket (nothing uses it; the home directory is read-only).
# deploy/smoke.sh runs this very command in CI.
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "--workers", "3", "--worker-class", "sync", "--timeout", "30", "--graceful-timeout", "30", "--keep-alive", "5", "--max-requests", "1000", "--max-requests-jitter", "100", "--no-control-socket", "cmer.wsgi:application"]
