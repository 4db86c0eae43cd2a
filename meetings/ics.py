"""The ``.ics`` attached to invitations (RFC 5545), written by hand: one event, no agenda.

The event says when and where the cell meets and nothing about what it discusses. Its UID is
stable per meeting and its SEQUENCE follows ``Meeting.sequence``, so calendars update or cancel
the same event when the meeting is rescheduled or cancelled.
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _utc(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    # Lines longer than 75 octets are folded (RFC 5545 §3.1).
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 74:
            parts.append(current.decode("utf-8"))
            current = b""
        current += encoded
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def meeting_ics(meeting: Any, *, summary: str, cancelled: bool, url: str) -> str:
    host = urlsplit(settings.SITE_URL).hostname or "cmer.invalid"
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//CMER//Reunions de la cellule//FR",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancelled else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:cmer-meeting-{meeting.pk}@{host}",
        f"SEQUENCE:{meeting.sequence}",
        f"DTSTAMP:{_utc(datetime.datetime.now(datetime.UTC))}",
        f"DTSTART:{_utc(meeting.starts_at)}",
        f"DTEND:{_utc(meeting.ends_at)}",
        f"SUMMARY:{_escape(summary)}",
        f"LOCATION:{_escape(meeting.place)}",
        f"URL:{url}",
        "CLASS:CONFIDENTIAL",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
