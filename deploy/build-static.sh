#!/bin/sh
# The image's static files, collected with production settings (DEBUG off, manifest storage, so
# staticfiles.json exists). Run by the Dockerfile and by the CI smoke test (deploy/smoke.sh).
# CMER_STATIC_BUILD gives this one process throwaway secrets and refuses any other command.
set -eu
cd "$(dirname "$0")/.."
CMER_STATIC_BUILD=true DJANGO_DEBUG=false "${PYTHON:-python}" manage.py collectstatic --no-input -v0
test -s "${STATIC_ROOT:-var/staticfiles}/staticfiles.json"
