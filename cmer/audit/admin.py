"""The audit trail is not in the technical administration at all.

django-auditlog registers an admin for the entry model (read-only, but with a delete path kept for
cascades): we remove it. Only the DPO reads the trail, through the audit pages, and nobody edits
it (the database refuses anyway).
"""

from __future__ import annotations

from django.contrib import admin

from .models import AuditEntry

if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)
