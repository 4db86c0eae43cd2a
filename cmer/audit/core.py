"""The audit core: the one API every app uses to put something in the trail.

- ``register(Model, sensitive=(...))``: django-auditlog tracks every create/update/delete; sensitive
  fields are fully masked (only the fact that they changed is kept).
- ``record_access(request, obj)``: a read of a confidential object.
- ``record_event(event, ...)``: security events (login, failed login, grant, denial, export, …).

Nothing here ever stores a clear value of identity, facts, notes or attachments: callers pass
objects whose ``__str__`` is a reference, and ``data`` holds identifiers and reasons only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditlog.registry import auditlog
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from . import writing
from .models import AuditEntry, Event, _commune_id_of

MASK = "[masqué]"


def mask_value(value: Any) -> str:
    """AUDITLOG_MASK_CALLABLE: auditlog's default keeps half the value; we keep nothing."""
    return MASK


def sensitive_fields(model: type[models.Model]) -> set[str]:
    """Fields whose value never enters the trail: every encrypted field (by its type, so that
    a new one is masked without anyone remembering to list it) and those the model declares
    in ``audit_sensitive_fields`` (clear columns that still hold personal content)."""
    from cmer.crypto import EncryptedTextField

    declared = set(getattr(model, "audit_sensitive_fields", ()))
    encrypted = {f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)}
    return declared | encrypted


def register(
    model: type[models.Model],
    *,
    sensitive: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> None:
    """Track every change of ``model``. Sensitive fields (``sensitive_fields``, plus
    ``sensitive``) appear as "[masqué]" in the trail; ``exclude`` ones not at all."""
    if auditlog.contains(model):
        return
    excluded = set(exclude)
    masked = (sensitive_fields(model) | set(sensitive)) - excluded
    auditlog.register(model, mask_fields=sorted(masked), exclude_fields=sorted(excluded))


def audit_repr(instance: models.Model) -> str:
    """How an object is named in the trail: its ``audit_repr`` if the model defines one (an
    attachment, a grant, a timeline entry: the reference of their referral, so that the DPO's
    search by reference finds every entry about it), else ``str()``. Never content."""
    value = getattr(instance, "audit_repr", None)
    return str(value if value is not None else instance)[:200]


def client_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # Behind the production proxy REMOTE_ADDR is set by gunicorn from the trusted proxy header.
    return request.META.get("REMOTE_ADDR") or None


def _actor_and_address(request: HttpRequest | None, actor: Any | None) -> tuple[Any, str | None]:
    """Actor and address from the request. Inside AuditlogMiddleware or ``set_actor()``, the
    missing ones are filled by django-auditlog's own pre_save receiver on the entry, which is
    connected only while that context is active (its context variable itself outlives it, so it
    is not read here: a stale actor from an earlier request would be attributed the entry)."""
    if actor is None and request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            actor = user
    return actor, client_address(request)


def record_event(
    event: Event | str,
    *,
    request: HttpRequest | None = None,
    actor: Any | None = None,
    target: models.Model | None = None,
    target_model: type[models.Model] | None = None,
    target_pk: str | int | None = None,
    data: dict[str, Any] | None = None,
    commune: Any | None = None,
) -> AuditEntry:
    """Write one security or domain event (appended at once, chained soon after: ``sealing.py``).

    ``data`` holds identifiers and reasons, never content. ``commune`` (a Commune or its id)
    scopes the entry for the DPO; by default it is the target's ``audit_commune_id`` /
    ``commune_id``.
    """
    actor, address = _actor_and_address(request, actor)
    commune_id = getattr(commune, "pk", commune)
    if commune_id is None and target is not None:
        commune_id = _commune_id_of(target)
    if target is not None:
        content_type = ContentType.objects.get_for_model(target, for_concrete_model=False)
        object_pk = str(target.pk)
        object_repr = audit_repr(target)
    else:
        model = target_model
        if model is None:
            from django.contrib.auth import get_user_model

            model = get_user_model()
        content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
        object_pk = "" if target_pk is None else str(target_pk)
        object_repr = object_pk
    action = AuditEntry.Action.ACCESS if event != Event.CHANGE else AuditEntry.Action.UPDATE
    entry = _new_entry(
        event=str(event),
        action=int(action),
        content_type_id=content_type.pk,
        object_pk=object_pk,
        object_id=int(object_pk) if object_pk.isdigit() else None,
        object_repr=object_repr[:200],
        actor_id=getattr(actor, "pk", None),
        actor_email=getattr(actor, "email", None),
        remote_addr=address,
        additional_data=data or None,
        commune_id=commune_id,
    )
    # The related objects at hand, as keyword construction would keep them (django-auditlog's
    # pre_save receiver reads ``entry.actor``: no query for it).
    _CONTENT_TYPE.set_cached_value(entry, content_type)
    if actor is not None:
        _ACTOR.set_cached_value(entry, actor)
    writing.append(entry)
    return entry


_CONTENT_TYPE = AuditEntry._meta.get_field("content_type")
_ACTOR = AuditEntry._meta.get_field("actor")
_SLOTS: dict[str, int] = {}
_DEFAULTS: list[Any] = []


def _new_entry(**values: Any) -> AuditEntry:
    """``AuditEntry(**values)`` for the attribute names of its columns, built positionally:
    Model.__init__ then skips its keyword machinery (a third of the time; a recorded read is
    the most frequent write of the application). Columns not given take their defaults."""
    if not _SLOTS:
        fields = AuditEntry._meta.concrete_fields
        _DEFAULTS.extend(f.get_default() for f in fields)  # (the time is taken per entry)
        _SLOTS.update({f.attname: index for index, f in enumerate(fields)})
    row = _DEFAULTS.copy()
    row[_SLOTS["timestamp"]] = timezone.now()
    for name, value in values.items():
        row[_SLOTS[name]] = value
    return AuditEntry(*row)


def record_access(
    request: HttpRequest | None,
    obj: models.Model,
    *,
    what: str = "detail",
    actor: Any | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Record that the current user read ``obj`` (a detail page, a download, a PDF, …)."""
    payload = {"what": what, **(data or {})}
    return record_event(Event.ACCESS, request=request, actor=actor, target=obj, data=payload)


def record_denial(
    request: HttpRequest | None, model: type[models.Model], pk: str | int | None
) -> AuditEntry:
    """A 404 produced by a permission rule on an object that exists: recorded under the
    object's own name and commune (a referral's reference, so that the DPO finds the denial
    when searching for it), never its bare id."""
    target = None
    if pk is not None:
        try:
            target = model._base_manager.filter(pk=pk).first()
        except (ValueError, TypeError):
            target = None
    if target is not None:
        return record_event(Event.DENIED, request=request, target=target)
    return record_event(Event.DENIED, request=request, target_model=model, target_pk=pk)


def entries_for_object(obj: models.Model, *, events: Iterable[str] = ()) -> QuerySet[AuditEntry]:
    """Entries about one object, newest first ("who accessed this referral").

    Served by the (content_type, object_pk, timestamp) index. The caller decides who may see
    them (the referent of the object's commune, the DPO); slice the result.
    """
    content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
    queryset = AuditEntry.objects.filter(content_type=content_type, object_pk=str(obj.pk))
    if events:
        queryset = queryset.filter(event__in=[str(event) for event in events])
    return queryset.order_by("-timestamp", "-id")
