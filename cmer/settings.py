"""CMER settings, read from environment variables.

Local defaults are safe for a laptop (DEBUG on, SQLite, eager Celery). With DEBUG off the process
refuses to start unless the secrets are given, and every transport/cookie setting is strict.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from secrets import token_urlsafe
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}.")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from exc


DEBUG = env_bool("DJANGO_DEBUG", True)
TESTING = env_bool("CMER_TESTING", "pytest" in sys.modules)

# Image build only (Dockerfile): collectstatic runs with production settings (DEBUG off, manifest
# storage) but without the real secrets, which the image must never contain. Every secret is then
# a random value made for this one process, and any command other than collectstatic is refused,
# so the flag cannot be used to start the application.
STATIC_BUILD = env_bool("CMER_STATIC_BUILD", False)
if STATIC_BUILD and (DEBUG or sys.argv[1:2] != ["collectstatic"]):
    raise ImproperlyConfigured(
        "CMER_STATIC_BUILD ne sert qu'à « manage.py collectstatic » avec DJANGO_DEBUG=false. "
        "/ CMER_STATIC_BUILD only allows `manage.py collectstatic` with DJANGO_DEBUG=false."
    )

# The documented local-only values are public (they are in this file and in the README): with
# DEBUG off they are refused even when passed explicitly. Minimum lengths are those of the key
# material: Django's own check for SECRET_KEY (50), 32 bytes for the HMAC keys.
LOCAL_ONLY_VALUES = {
    "SECRET_KEY": "insecure-local-only-key-do-not-use-in-production-0123456789abcdef",
    "FIELD_ENCRYPTION_KEY": "bG9jYWwtb25seS1maWVsZC1rZXktZG8tbm90LXVzZS0=",
    "BLIND_INDEX_KEY": "local-only-blind-index-key",
    "AUDIT_CHECKPOINT_KEY": "local-only-audit-checkpoint-key",
}
SECRET_MIN_LENGTH = {"SECRET_KEY": 50, "BLIND_INDEX_KEY": 32, "AUDIT_CHECKPOINT_KEY": 32}


def refuse_secret(name: str, reason_fr: str, reason_en: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{name} : {reason_fr} (DJANGO_DEBUG est désactivé). / {name}: {reason_en} "
        '(DJANGO_DEBUG is off). Voir README « Production ». / See README "Production".'
    )


def check_fernet_keys(name: str, value: str) -> None:
    """Each comma-separated entry must be a Fernet key: 32 bytes in url-safe base64."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in value.split(",")]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise refuse_secret(
                name,
                f"la clé n° {position} n'est pas une clé Fernet (32 octets en base64 url-safe)",
                f"key #{position} is not a Fernet key (32 url-safe base64 bytes)",
            ) from None
        if key == LOCAL_ONLY_VALUES[name]:
            raise refuse_secret(
                name,
                f"la clé n° {position} est la valeur publique réservée au poste local",
                f"key #{position} is the public local-only value",
            )


def required_in_production(name: str) -> str:
    value = os.environ.get(name, "")
    if STATIC_BUILD:
        from cryptography.fernet import Fernet

        # Thrown away with the build process: nothing usable ends up in the image.
        return value or (
            Fernet.generate_key().decode() if name == "FIELD_ENCRYPTION_KEY" else token_urlsafe(64)
        )
    if DEBUG:
        return value or LOCAL_ONLY_VALUES[name]
    if not value:
        raise ImproperlyConfigured(
            f"La variable d'environnement {name} est obligatoire quand DJANGO_DEBUG est désactivé. "
            f"/ The environment variable {name} is required when DJANGO_DEBUG is off."
        )
    if name == "FIELD_ENCRYPTION_KEY":
        check_fernet_keys(name, value)
        return value
    if value == LOCAL_ONLY_VALUES[name]:
        raise refuse_secret(
            name, "valeur publique réservée au poste local", "public local-only value"
        )
    if len(value) < SECRET_MIN_LENGTH[name]:
        raise refuse_secret(
            name,
            f"trop courte, au moins {SECRET_MIN_LENGTH[name]} caractères",
            f"too short, at least {SECRET_MIN_LENGTH[name]} characters",
        )
    return value


# Local-only defaults (LOCAL_ONLY_VALUES) apply with DEBUG on only.
SECRET_KEY = required_in_production("SECRET_KEY")
# 32 url-safe base64 bytes (Fernet format); comma-separated list, newest first, for rotation.
FIELD_ENCRYPTION_KEY = required_in_production("FIELD_ENCRYPTION_KEY")
# Key of the blind index (HMAC of normalised names) and of audit checkpoints: never in the database.
BLIND_INDEX_KEY = required_in_production("BLIND_INDEX_KEY")
AUDIT_CHECKPOINT_KEY = required_in_production("AUDIT_CHECKPOINT_KEY")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else ("build.invalid" if STATIC_BUILD else "")
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is required when DJANGO_DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "guardian",
    "auditlog",
    "csp",
    "dsfr",
    "widget_tweaks",  # used by DSFR form snippets
    "cmer.accounts",
    "cmer.audit",
    "cmer.outbox",
    "cmer.retention",
    "cases",
    "meetings",
    "training",
    "conventions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "cmer.security.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "cmer.accounts.middleware.SessionLimitsMiddleware",
    "cmer.accounts.middleware.SecondFactorRequiredMiddleware",
    "cmer.accounts.middleware.CurrentCommuneMiddleware",
    # Per-object charter gate (conventions.gates.require_charter) → the charter page.
    "conventions.gates.CharterGateMiddleware",
    "cmer.accounts.stepup.StepUpMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cmer.security.NoStoreMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    # Last: axes must see the final response of a failed login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cmer.urls"
WSGI_APPLICATION = "cmer.wsgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cmer.accounts.context_processors.cmer",
                "cmer.antivirus.context",
                "cmer.navigation.context",
                "conventions.context.charter_notice",
            ],
        },
    }
]
if TESTING:
    # An undefined variable in a template is a bug: fail the test instead of rendering "".
    TEMPLATES[0]["OPTIONS"]["string_if_invalid"] = "INVALID_TEMPLATE_VARIABLE[%s]"

FORM_RENDERER = "dsfr.forms.DsfrDjangoTemplates"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'cmer.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env_bool(
    "DATABASE_PREPARED_STATEMENTS", True
):
    # Parameters sent apart from the SQL, and a statement run five times on a connection is
    # prepared once: PostgreSQL then neither parses nor plans it again (issue 13: its CPU per
    # request fell by 40–60 %, bench/RESULTS.md). Off for a transaction-mode pooler such as
    # PgBouncer, which cannot keep a prepared statement between transactions.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # Axes first: it refuses a locked-out account before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # ANSSI / NIST: length over composition rules.
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Argon2 is deliberately slow; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sessions live in the database so that logout and deactivation destroy them server-side.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_IDLE_SECONDS = env_int("SESSION_IDLE_SECONDS", 15 * 60)
SESSION_ABSOLUTE_SECONDS = env_int("SESSION_ABSOLUTE_SECONDS", 10 * 60 * 60)
# Step-up (cmer.accounts.stepup): how long a code typed again before a sensitive act counts.
STEPUP_SECONDS = env_int("STEPUP_SECONDS", 5 * 60)
SESSION_COOKIE_AGE = SESSION_IDLE_SECONDS
# Saved when something changed in it: SessionLimitsMiddleware stores the last activity once a
# minute, which also slides the database expiry (idle limit 14-15 min, never later). Saving on
# every request cost three statements per page (BEGIN, UPDATE, COMMIT).
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

# Two-factor authentication (django-otp).
OTP_TOTP_ISSUER = "CMER"
OTP_TOTP_TOLERANCE = 1
BACKUP_CODES_COUNT = 10
# One-time links to a person's own address (cmer/accounts/tokens.py): an invitation or a
# second-factor enrolment link lasts 3 days, a password reset link 2 hours.
ENROLMENT_LINK_SECONDS = env_int("ENROLMENT_LINK_HOURS", 72) * 3600
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_HOURS", 2) * 3600

# django-axes: five failures lock the account (whatever the address) for a period.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_FORM_FIELD = "username"
# One counter per account whatever the spelling (case, surrounding spaces): cmer/accounts/auth.py.
AXES_USERNAME_CALLABLE = "cmer.accounts.auth.axes_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False
# Number of reverse proxies in front of gunicorn (compose: 1, Caddy). 0 = none: then no
# X-Forwarded-* header is trusted at all (see SECURE_PROXY_SSL_HEADER below).
PROXY_COUNT = env_int("PROXY_COUNT", 0)
AXES_IPWARE_PROXY_COUNT = PROXY_COUNT or None

# django-guardian: no anonymous user row, 404 rather than 403 when a mixin refuses.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_404 = True
GUARDIAN_MONKEY_PATCH_USER = False
GUARDIAN_MONKEY_PATCH_GROUP = False

# django-auditlog: our own entry model (append-only, see cmer/audit).
AUDITLOG_LOGENTRY_MODEL = "audit.AuditEntry"
# A process chains pending audit entries after a commit at most this often (seconds); beat
# chains the rest every 10 s (cmer/audit/sealing.py).
AUDIT_SEAL_INTERVAL = float(os.environ.get("AUDIT_SEAL_INTERVAL", "0.5"))
# An audit entry still not chained after this many seconds is an alert (cmer/audit/health.py).
AUDIT_PENDING_ALERT_SECONDS = int(os.environ.get("AUDIT_PENDING_ALERT_SECONDS", "300"))
AUDITLOG_DISABLE_REMOTE_ADDR = False

# Retention (CNIL AU-038; the rules are in cmer/retention/rules.py): archive years, age limit,
# draft days, training and convention years, audit months. A value outside the law's bounds (an
# archive longer than 3 years, an age rule below 18) stops the process here, naming the variable.
from cmer.retention.rules import read_environment as read_retention_environment  # noqa: E402

_retention = read_retention_environment(os.environ)
RETENTION_ARCHIVE_YEARS = _retention["RETENTION_ARCHIVE_YEARS"]
RETENTION_AGE_LIMIT = _retention["RETENTION_AGE_LIMIT"]
# Initial state of the 25th-birthday rule; the DPO switches it, with a reason, in the app.
RETENTION_AGE_RULE = _retention["RETENTION_AGE_RULE"]
RETENTION_DRAFT_DAYS = _retention["RETENTION_DRAFT_DAYS"]
RETENTION_TRAINING_YEARS = _retention["RETENTION_TRAINING_YEARS"]
RETENTION_CONVENTION_YEARS = _retention["RETENTION_CONVENTION_YEARS"]
AUDIT_MIN_RETENTION_MONTHS = _retention["AUDIT_MIN_RETENTION_MONTHS"]
# The database role of web, worker and beat: the audit migrations leave it INSERT/SELECT only.
AUDIT_APP_DB_ROLE = os.environ.get("AUDIT_APP_DB_ROLE", "cmer_app")
AUDITLOG_STORE_JSON_CHANGES = True
# We mask sensitive fields entirely (cmer.audit.mask): auditlog's default keeps half the value.
AUDITLOG_MASK_CALLABLE = "cmer.audit.core.mask_value"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG or TESTING
if DEBUG or TESTING:
    # whitenoise warns when STATIC_ROOT is missing; locally nothing is collected into it.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Uploaded files (attachments, signed PDFs) are never under the web root and never served by it:
# only access-checked views stream them.
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", BASE_DIR / "var" / "private"))
# No public media at all: MEDIA_* point to an empty place that nothing routes to; uploads go to
# the "default" storage below, under PRIVATE_STORAGE_ROOT.
MEDIA_ROOT = BASE_DIR / "var" / "no-public-media"
MEDIA_URL = "/no-public-media/"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_STORAGE_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            # WhiteNoise's compressed manifest storage, brotli at quality 5 (build time).
            else "cmer.staticstorage.CompressedManifestStorage"
        )
    },
}
# Antivirus (cmer/antivirus.py): clamd's socket, a path or tcp://host:port. Required with DEBUG
# off; left empty (scanning off, said on every upload page) only by the local demo and tests.
# Not a secret: required, never defaulted (an empty value means no scan at all).
CLAMAV_SOCKET = os.environ.get("CLAMAV_SOCKET", "").strip()
if not CLAMAV_SOCKET and not DEBUG and not STATIC_BUILD:
    raise ImproperlyConfigured(
        "La variable d'environnement CLAMAV_SOCKET est obligatoire quand DJANGO_DEBUG est "
        "désactivé (socket de clamd : chaque fichier déposé est analysé). / The environment "
        "variable CLAMAV_SOCKET is required when DJANGO_DEBUG is off (clamd's socket: every "
        "uploaded file is scanned)."
    )
CLAMAV_TIMEOUT = float(os.environ.get("CLAMAV_TIMEOUT", "10"))
# clamd's StreamMaxLength (Debian's default: 25M). Every upload cap (20 MB) must stay below it:
# a longer stream is cut by clamd and could not be scanned.
CLAMAV_STREAM_MAX_BYTES = env_int("CLAMAV_STREAM_MAX_BYTES", 25 * 1024 * 1024)
if CLAMAV_STREAM_MAX_BYTES <= 20 * 1024 * 1024:
    raise ImproperlyConfigured(
        "CLAMAV_STREAM_MAX_BYTES (clamd's StreamMaxLength) must be above the 20 MB upload cap."
    )
# Archive-based uploads (DOCX, XLSX, ODT…), read by cmer/archives.py: refused from their zip
# directory, before any decompression, beyond these caps; a parse stops after its time budget.
UPLOAD_ARCHIVE_MAX_MEMBERS = env_int("UPLOAD_ARCHIVE_MAX_MEMBERS", 1000)
UPLOAD_ARCHIVE_MAX_MEMBER_BYTES = env_int("UPLOAD_ARCHIVE_MAX_MEMBER_BYTES", 16 * 1024 * 1024)
UPLOAD_ARCHIVE_MAX_TOTAL_BYTES = env_int("UPLOAD_ARCHIVE_MAX_TOTAL_BYTES", 64 * 1024 * 1024)
UPLOAD_ARCHIVE_MAX_RATIO = env_int("UPLOAD_ARCHIVE_MAX_RATIO", 100)
UPLOAD_PARSE_SECONDS = float(os.environ.get("UPLOAD_PARSE_SECONDS", "5"))
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Celery: no REDIS_URL means tasks run eagerly in-process (embedded default).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
# Counters shared by every web process (cmer.ratelimit): Django's per-process memory cache would
# multiply a limit by the number of gunicorn workers. Short socket timeouts: with Redis down a
# limited page refuses at once rather than hanging (cmer.ratelimit fails closed). Tests keep the
# memory cache, so that clearing it can never touch the broker's database.
if REDIS_URL and not TESTING:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cmer-cache",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
# No result backend: no caller reads a task's result, and the Redis backend retried 20 x 1 s
# inside the request that queued a task when Redis was down. Tasks record what they did in
# PostgreSQL (bundle state, reminder rows, cmer.outbox.TaskEffect) instead.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# At-least-once delivery: a message is acknowledged after its task ran, and requeued when the
# pool process running it dies; tasks with an outside effect are made idempotent by a key in
# PostgreSQL (cmer.outbox.effects), so a redelivery sends nothing twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task of a worker killed as a whole (container kill, host crash) stays unacknowledged in
# Redis until the visibility timeout, then a running worker's sweep (every
# unacked_restore_interval seconds) puts it back: redelivered within 300 + 10 s. The time limits
# stay below it, so a task still running is never handed to a second worker. Countdowns of
# retries stay below it too (retry_backoff_max in the tasks), for the same reason.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 270)
# The soft limit leaves a task time to record its failure (30 s before the hard one).
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - max(1, min(30, CELERY_TASK_TIME_LIMIT // 9))
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < CELERY_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "CELERY_TASK_TIME_LIMIT must be at least 2 and below CELERY_VISIBILITY_TIMEOUT."
    )
# Every task, unless its decorator says otherwise: exponential retry countdowns capped below
# the visibility timeout (Celery's default cap, 600 s, would let Redis hand a message the
# worker still holds for its countdown to a second worker).
CELERY_TASK_ANNOTATIONS = {"*": {"retry_backoff_max": 120}}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    # A request publishing to a dead or unreachable Redis gives up within about 2 s (one
    # retry, cmer.queue.RETRY_POLICY); the outbox sends the task later.
    "socket_connect_timeout": 1,
    "socket_timeout": 1,
}
# Heartbeats for /healthz (cmer.heartbeat): the worker writes one from its consumer's event
# loop, beat from its scheduler loop, every CMER_HEARTBEAT_SECONDS.
CELERY_BEAT_SCHEDULER = "cmer.heartbeat:HeartbeatScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = 15
CMER_HEARTBEAT_SECONDS = env_int("CMER_HEARTBEAT_SECONDS", 30)
CMER_HEARTBEAT_STALE_SECONDS = 120
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    # Outbox: tasks the broker could not take when their transaction committed (cmer/queue.py).
    "outbox-resend-unsent": {
        "task": "cmer.outbox.resend_unsent",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Outbox: sent rows and recorded task effects older than 30 days.
    "outbox-prune": {"task": "cmer.outbox.prune", "schedule": crontab(hour=3, minute=45)},
    # Audit: chain the entries recorded since the last seal (cmer.audit.sealing).
    "audit-seal-pending": {"task": "cmer.audit.seal_pending", "schedule": 10.0},
    # Audit: verify the chain, then seal its head with an HMAC checkpoint (cmer.audit.tasks).
    "audit-daily-checkpoint": {
        "task": "cmer.audit.daily_checkpoint",
        "schedule": crontab(hour=2, minute=30),
    },
    # Retention (CNIL AU-038): anonymise, delete and certify what is due (cmer.retention).
    "retention-apply": {"task": "cmer.retention.apply", "schedule": crontab(hour=3, minute=30)},
    # Conventions: expiry reminders 60, 30 and 7 days before the end (conventions.tasks).
    "conventions-expiry-reminders": {
        "task": "conventions.plan_expiry_reminders",
        "schedule": crontab(hour=7, minute=0),
    },
    # Meetings: minutes PDFs left pending by a lost worker are queued again (idempotent build).
    "meetings-requeue-stale-pdfs": {"task": "meetings.requeue_stale_documents", "schedule": 300.0},
    # Meetings: one reminder to the owner of each action item due within two days or overdue.
    "meetings-action-reminders": {
        "task": "meetings.plan_action_reminders",
        "schedule": crontab(hour=7, minute=30),
    },
    # Training: attestation zips still pending: queued again when forgotten, failed after 1 h.
    "training-sweep-stale-bundles": {
        "task": "training.sweep_stale_bundles",
        "schedule": 300.0,
        "options": {"expires": 300},
    },
    # Training: attendance previews never confirmed are dropped (file and rows) after 48 h.
    "training-purge-stale-previews": {
        "task": "training.purge_stale_previews",
        "schedule": crontab(hour=3, minute=15),
    },
}
CELERY_TIMEZONE = TIME_ZONE

# E-mail: console locally, SMTP from the environment in production.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
# Only for EMAIL_BACKEND=…filebased.EmailBackend (deploy/smoke.py reads the enrolment link there).
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH") or None
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "cmer@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# Security headers. CSP: nonces for our scripts, never 'unsafe-inline' for scripts.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        # The DSFR logo and icons are data: SVGs.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    # The container healthcheck talks to gunicorn directly, in plain http and without the
    # proxy's header: /healthz must answer there instead of redirecting to https.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if PROXY_COUNT:
        # Only the proxy reaches gunicorn (compose publishes no port of web), and Caddy replaces
        # any X-Forwarded-Proto sent by a client with its own.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # __Host- cookies: Secure, no Domain, Path=/ — they cannot be set by a sibling subdomain.
    SESSION_COOKIE_NAME = "__Host-cmer_session"
    CSRF_COOKIE_NAME = "__Host-cmer_csrf"

SILENCED_SYSTEM_CHECKS = [
    # Lockout is per account, not per address: a whole town hall sits behind one NAT address,
    # and locking it would stop every agent. The 2FA step bounds online guessing anyway.
    "axes.W006",
    # Object grants are read by cmer.permissions (an Exists() over guardian's direct-FK tables),
    # never through has_perm(), so guardian's backend is deliberately not installed.
    "guardian.W001",
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # UTC with its offset in web, worker and beat alike (cmer/logs.py; gunicorn's access log in
    # deploy/gunicorn.conf.py, Celery's in cmer/celery.py), whatever TIME_ZONE says.
    "formatters": {
        "plain": {
            "()": "cmer.logs.UTCFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The request logger prints URLs and may print POST data on errors: keep it at WARNING
        # and never log bodies. Our URLs carry no personal data by design.
        "django.request": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Demo helpers (seed_demo, demo_code) exist only with DEBUG on.
DEMO_PASSWORD = "cmer-demo-passphrase-2026"  # noqa: S105 (public demo value, DEBUG only)
