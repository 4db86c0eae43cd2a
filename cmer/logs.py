"""One time format for every log line of web, worker and beat: ISO 8601, UTC, with its offset.

Django sets the process time zone to TIME_ZONE (Europe/Paris) when settings load, so the stock
formatters of logging, gunicorn and Celery would print local times, and two lines written in the
same second by two processes could disagree by an hour around a DST change.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime


class UTCFormatter(logging.Formatter):
    """``2026-11-30T20:31:02.123+00:00``: the offset is printed so nobody has to guess."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
