FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core gettext \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app cmer

WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && DJANGO_DEBUG=true python manage.py collectstatic --no-input -v0 \
 && mkdir -p /app/var/private && chown -R cmer /app/var

USER cmer
EXPOSE 8000
CMD ["gunicorn", "cmer.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-", "--access-logformat", "%(h)s %(t)s \"%(m)s %(U)s\" %(s)s %(L)s"]
