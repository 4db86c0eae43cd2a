"""Django's ``flush`` (used by the test runner between transactional tests) empties every table,
the audit tables included, which their triggers refuse. This flush lifts the triggers inside its
own transaction, which only the tables' owner can do (ALTER TABLE on PostgreSQL): the application
role still cannot flush the trail.

On PostgreSQL it also cascades: django-auditlog's migrations create its own ``auditlog_logentry``
table even though AUDITLOG_LOGENTRY_MODEL swaps it for ours, so Django does not list it, and its
foreign keys would make a plain TRUNCATE of the user table fail."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush
from django.db import DEFAULT_DB_ALIAS, connections

from cmer.audit import protection


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        if connection.vendor == "postgresql":
            options["allow_cascade"] = True
        with protection.maintenance(connection):
            super().handle(**options)
