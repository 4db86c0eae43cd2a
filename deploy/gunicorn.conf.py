"""gunicorn settings that are not command-line flags (the flags are in the Dockerfile's CMD).

Log lines in UTC with offset like the rest of the application (cmer/logs.py); the access line
carries the client address the proxy saw (Caddy sets X-Forwarded-For itself), the method, the
path without its query string, the status, the size and the duration in seconds.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")

# gunicorn never decides the scheme from a header: Django alone does, with
# SECURE_PROXY_SSL_HEADER, and only when PROXY_COUNT declares the proxy (cmer/settings.py).
secure_scheme_headers: dict[str, str] = {}
forwarded_allow_ips = "127.0.0.1"

access_log_format = '%({x-forwarded-for}i)s "%(m)s %(U)s" %(s)s %(B)s %(L)s'

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "utc": {
            "()": "cmer.logs.UTCFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        }
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "utc",
            "stream": "ext://sys.stdout",
        },
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "utc",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
    "root": {"level": "INFO", "handlers": []},
}
