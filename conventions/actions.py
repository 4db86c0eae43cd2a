"""Write side of conventions: each action is atomic, audited, and queues tasks on commit.

Rules are checked again inside the transaction (``rules.py``), with the commune or convention row
locked, so that two people cannot create overlapping conventions or the same document version.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from cmer.accounts.models import Commune, Department
from cmer.audit.core import record_event
from cmer.audit.models import Event

from . import rules
from .models import (
    CharterAcknowledgement,
    CharterVersion,
    Convention,
    Signatory,
    SignedDocument,
)

CONVENTION_FIELDS = (
    "kind",
    "parent",
    "title",
    "reference",
    "effective_date",
    "end_date",
    "duration_months",
    "tacit_renewal",
    "renewal_months",
    "notice_period_days",
)


def _lock(convention: Convention) -> Convention:
    return Convention.objects.select_for_update().get(pk=convention.pk)


def _event(request: HttpRequest | None, user: Any, target: Any, **data: Any) -> None:
    record_event(Event.CHANGE, request=request, actor=user, target=target, data=data)


def do_create_convention(
    commune: Commune,
    data: dict[str, Any],
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Convention:
    """Create a draft convention for ``commune`` (fields from a valid ConventionForm)."""
    with transaction.atomic():
        Commune.objects.select_for_update().get(pk=commune.pk)  # serialise overlap checks
        convention = Convention(commune=commune, created_by=acting_user)
        for name in CONVENTION_FIELDS:
            if name in data:
                setattr(convention, name, data[name])
        checked = {name: getattr(convention, name) for name in CONVENTION_FIELDS}
        checked["commune"] = commune
        rules.normalise_and_check(convention, checked)
        convention.end_date = checked.get("end_date")
        convention.save()
        _event(request, acting_user, convention, convention="created")
    return convention


def do_update_convention(
    convention: Convention,
    data: dict[str, Any],
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Convention:
    with transaction.atomic():
        Commune.objects.select_for_update().get(pk=convention.commune_id)
        current = _lock(convention)
        if not current.is_editable:
            raise ValidationError(
                _("Une convention signée ne se modifie plus : ajoutez un avenant.")
            )
        for name in CONVENTION_FIELDS:
            if name in data and name != "kind":
                setattr(current, name, data[name])
        checked = {name: getattr(current, name) for name in CONVENTION_FIELDS}
        checked["commune"] = current.commune
        rules.normalise_and_check(current, checked)
        current.end_date = checked.get("end_date")
        current.save()
        _event(request, acting_user, current, convention="updated")
    return current


def do_add_signatory(
    convention: Convention,
    data: dict[str, Any],
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Signatory:
    with transaction.atomic():
        current = _lock(convention)
        if not current.is_editable:
            raise ValidationError(_("Les signataires d'une convention signée sont figés."))
        signatory = Signatory.objects.create(
            convention=current,
            name=data["name"],
            capacity=data["capacity"],
            capacity_detail=data.get("capacity_detail", ""),
        )
        _event(request, acting_user, current, signatory="added", signatory_id=signatory.pk)
    return signatory


def do_remove_signatory(
    signatory: Signatory, *, acting_user: Any, request: HttpRequest | None = None
) -> None:
    with transaction.atomic():
        current = _lock(signatory.convention)
        if not current.is_editable:
            raise ValidationError(_("Les signataires d'une convention signée sont figés."))
        _event(request, acting_user, current, signatory="removed", signatory_id=signatory.pk)
        signatory.delete()


def do_record_signature(
    signatory: Signatory,
    signed_on: datetime.date,
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Signatory:
    with transaction.atomic():
        current = _lock(signatory.convention)
        if not current.is_editable:
            raise ValidationError(_("Cette convention est déjà signée."))
        rules.check_signature_date(current, signed_on)
        signatory = Signatory.objects.select_for_update().get(pk=signatory.pk)
        signatory.signed_on = signed_on
        signatory.save()
        _event(request, acting_user, current, signatory="signed", signatory_id=signatory.pk)
    return signatory


def do_request_signatures(
    convention: Convention, *, acting_user: Any, request: HttpRequest | None = None
) -> Convention:
    """Draft → awaiting signatures: the text is final, signatories are listed."""
    with transaction.atomic():
        current = _lock(convention)
        if current.status != Convention.Status.DRAFT:
            raise ValidationError(_("Seul un brouillon peut être envoyé à la signature."))
        if not current.signatories.exists():
            raise ValidationError(_("Ajoutez d'abord les signataires de la convention."))
        current.status = Convention.Status.AWAITING_SIGNATURES
        current.save()
        _event(request, acting_user, current, status=current.status)
    return current


def do_mark_signed(
    convention: Convention, *, acting_user: Any, request: HttpRequest | None = None
) -> Convention:
    """Awaiting signatures → signed, once every signatory has signed and the PDF is uploaded.

    It is then in force from its effective date (computed, see ``Convention.state_on``).
    """
    with transaction.atomic():
        Commune.objects.select_for_update().get(pk=convention.commune_id)
        current = _lock(convention)
        if current.status != Convention.Status.AWAITING_SIGNATURES:
            raise ValidationError(_("La convention n'est pas en attente de signatures."))
        if current.signatories.filter(signed_on__isnull=True).exists():
            raise ValidationError(_("Tous les signataires n'ont pas encore signé."))
        if not current.documents.exists():
            raise ValidationError(_("Déposez d'abord le PDF signé."))
        if current.counts_for_gate:
            rules.check_no_overlap(
                current.commune,
                current.effective_date,
                current.end_date,
                tacit=current.renews_tacitly,
                exclude_pk=current.pk,
            )
        current.status = Convention.Status.SIGNED
        current.signed_at = timezone.now()
        current.save()
        _event(request, acting_user, current, status=current.status)
    return current


def do_terminate_convention(
    convention: Convention,
    *,
    reason: str,
    terminated_on: datetime.date,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Convention:
    with transaction.atomic():
        current = _lock(convention)
        if current.status == Convention.Status.TERMINATED:
            raise ValidationError(_("Cette convention est déjà résiliée."))
        if not reason.strip():
            raise ValidationError(_("Indiquez le motif de la résiliation."))
        drafted = timezone.localtime(current.created_at).date()
        if terminated_on < drafted and current.signed_at is None:
            raise ValidationError(_("La résiliation ne peut précéder la rédaction."))
        if terminated_on < current.effective_date and current.signed_at is not None:
            raise ValidationError(_("La résiliation ne peut précéder la date d'effet."))
        current.status = Convention.Status.TERMINATED
        current.terminated_on = terminated_on
        current.termination_reason = reason.strip()
        current.save()
        # The reason is free text: the trail keeps that a termination happened, not its words.
        _event(request, acting_user, current, status=current.status)
    return current


def do_record_non_renewal(
    convention: Convention,
    notified_on: datetime.date,
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Convention:
    """Stop a tacit renewal: the convention ends with the period the notice can still reach.

    A notice given after the notice deadline of the running period takes effect at the end of
    the next one.
    """
    with transaction.atomic():
        current = _lock(convention)
        if not current.renews_tacitly:
            raise ValidationError(_("Cette convention ne se reconduit pas tacitement."))
        end = current.period_end_on(notified_on)
        deadline = current.notice_deadline_on(notified_on)
        if end is not None and deadline is not None and notified_on > deadline:
            end = current.period_end_on(end + datetime.timedelta(days=1))
        current.end_date = end
        current.non_renewal_notified_on = notified_on
        current.save()
        _event(request, acting_user, current, non_renewal="notified")
    return current


def do_upload_document(
    convention: Convention,
    uploaded: Any,
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> SignedDocument:
    """Store a new version of the signed PDF with its SHA-256; older versions stay.

    The file is checked again here. If anything fails after the file was written, the file is
    removed: a failed upload leaves no orphan file.
    """
    pages = rules.check_pdf(uploaded)
    digest = rules.sha256_of(uploaded)
    document: SignedDocument | None = None
    try:
        with transaction.atomic():
            current = _lock(convention)
            if current.status == Convention.Status.TERMINATED:
                raise ValidationError(_("Cette convention est résiliée."))
            latest = current.documents.aggregate(latest=Max("version"))["latest"] or 0
            document = SignedDocument(
                convention=current,
                version=latest + 1,
                sha256=digest,
                size=uploaded.size,
                pages=pages,
                uploaded_by=acting_user,
            )
            document.file.save("signed.pdf", uploaded, save=False)
            document.save()
            _event(
                request,
                acting_user,
                document,
                document="uploaded",
                version=document.version,
                sha256=digest,
            )
    except BaseException:
        if document is not None and document.file.name:
            default_storage.delete(document.file.name)
        raise
    return document


def do_publish_charter(
    scope: Commune | Department,
    text: str,
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> CharterVersion:
    """Publish a new version of the charter of a commune or department: everyone asks again."""
    with transaction.atomic():
        if isinstance(scope, Commune):
            Commune.objects.select_for_update().get(pk=scope.pk)
            existing = CharterVersion.objects.filter(commune=scope)
            fields: dict[str, Any] = {"commune": scope}
        else:
            Department.objects.select_for_update().get(pk=scope.pk)
            existing = CharterVersion.objects.filter(department=scope)
            fields = {"department": scope}
        latest = existing.aggregate(latest=Max("version"))["latest"] or 0
        version = CharterVersion.objects.create(
            version=latest + 1, text=text.strip(), published_by=acting_user, **fields
        )
        _event(request, acting_user, version, charter="published", version=version.version)
    return version


def do_acknowledge_charters(
    user: Any, versions: Iterable[CharterVersion], *, request: HttpRequest | None = None
) -> list[CharterAcknowledgement]:
    """Record that ``user`` read and accepted each charter version (once per version)."""
    done = []
    for version in versions:
        try:
            with transaction.atomic():
                ack = CharterAcknowledgement.objects.create(user=user, charter=version)
                _event(
                    request,
                    user,
                    ack,
                    charter="acknowledged",
                    charter_version=version.pk,
                )
        except IntegrityError:
            continue  # already acknowledged (double submit)
        done.append(ack)
    return done
