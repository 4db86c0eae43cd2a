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

from cmer import antivirus
from cmer.accounts.models import Commune, Department
from cmer.audit.core import record_event
from cmer.audit.models import Event
from cmer.queue import enqueue_on_commit

from . import rules
from .models import (
    CharterAcknowledgement,
    CharterVersion,
    Convention,
    Side,
    Signatory,
    SignedDocument,
)
from .rules import CONVENTION_FIELDS
from .sides import SideRefused, acting_side, require_side, side_label, sides_of


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
    """Create a draft convention for ``commune`` (fields from a valid ConventionForm).

    The draft belongs to the side its author acts for (``created_side``): until both sides
    have signed, only that side edits it, sends it for signature or abandons it.
    """
    side = acting_side(acting_user, commune, data.get("side"))
    with transaction.atomic():
        Commune.objects.select_for_update().get(pk=commune.pk)  # serialise overlap checks
        convention = Convention(commune=commune, created_by=acting_user, created_side=side)
        for name in CONVENTION_FIELDS:
            if name in data:
                setattr(convention, name, data[name])
        checked = {name: getattr(convention, name) for name in CONVENTION_FIELDS}
        checked["commune"] = commune
        rules.normalise_and_check(convention, checked)
        convention.end_date = checked.get("end_date")
        convention.save()
        _event(request, acting_user, convention, convention="created", side=side)
    return convention


def _require_drafting_side(user: Any, convention: Convention) -> None:
    """Only the side that drafted a convention may edit it, send it or abandon it."""
    try:
        require_side(user, convention.commune, convention.created_side)
    except SideRefused:
        raise SideRefused(
            _(
                "Ce projet a été rédigé par %(side)s : seule cette partie peut le modifier, "
                "l'envoyer à la signature ou l'abandonner. Rien n'a été modifié."
            )
            % {"side": side_label(convention.created_side)}
        ) from None


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
        _require_drafting_side(acting_user, current)
        if current.signatories.filter(signature_recorded_by__isnull=False).exists():
            # A side signed this text: changing it now would make them sign something else.
            raise ValidationError(
                _(
                    "Une signature est déjà enregistrée sur ce texte : il ne se modifie plus. "
                    "Résiliez ce projet et rédigez-en un nouveau."
                )
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
    """Add a signatory on the acting user's own side (a prefect only by the prefecture, a mayor
    only by the commune)."""
    capacity = data["capacity"]
    commune = convention.commune
    if capacity in Signatory.PREFECTURE_CAPACITIES:
        office_side: Side | None = Side.PREFECTURE
        refusal = _(
            "Un préfet, un préfet de police ou un procureur signe pour l'État : seul le "
            "correspondant de la préfecture l'ajoute et enregistre sa signature. "
            "Rien n'a été modifié."
        )
    elif capacity in Signatory.COMMUNE_CAPACITIES:
        office_side = Side.COMMUNE
        refusal = _(
            "Le maire signe pour la commune : seul le référent municipal l'ajoute et "
            "enregistre sa signature. Rien n'a été modifié."
        )
    else:
        office_side = None
    if office_side is not None:
        # The office decides the side; asking for the other one, or not holding it, is refused.
        asked = data.get("side") or office_side
        if asked != office_side or office_side not in sides_of(acting_user, commune):
            raise SideRefused(refusal)
        side = office_side
    else:
        side = require_side(
            acting_user, commune, data.get("side") or acting_side(acting_user, commune)
        )
    with transaction.atomic():
        current = _lock(convention)
        if not current.is_editable:
            raise ValidationError(_("Les signataires d'une convention signée sont figés."))
        signatory = Signatory.objects.create(
            convention=current,
            side=side,
            name=data["name"],
            capacity=capacity,
            capacity_detail=data.get("capacity_detail", ""),
            added_by=acting_user,
        )
        _event(
            request,
            acting_user,
            current,
            signatory="added",
            signatory_id=signatory.pk,
            side=side,
        )
    return signatory


def do_remove_signatory(
    signatory: Signatory, *, acting_user: Any, request: HttpRequest | None = None
) -> None:
    """Remove a signatory of one's own side (with its signature) while the convention is open."""
    require_side(acting_user, signatory.convention.commune, signatory.side)
    with transaction.atomic():
        current = _lock(signatory.convention)
        if not current.is_editable:
            raise ValidationError(_("Les signataires d'une convention signée sont figés."))
        _event(
            request,
            acting_user,
            current,
            signatory="removed",
            signatory_id=signatory.pk,
            side=signatory.side,
        )
        signatory.delete()


def do_record_signature(
    signatory: Signatory,
    signed_on: datetime.date,
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Signatory:
    """Record that ``signatory`` signed on ``signed_on``: only by their own side's representative.

    The signature covers the latest PDF version present now; a version uploaded later is not
    covered, so the convention cannot be declared signed until each side records it again.
    Someone who recorded a signature for the other side cannot record this one: no single
    person engages both parties (DESIGN.md invariant 8).
    """
    require_side(acting_user, signatory.convention.commune, signatory.side)
    with transaction.atomic():
        current = _lock(signatory.convention)
        if not current.is_editable:
            raise ValidationError(_("Cette convention est déjà signée."))
        if current.status != Convention.Status.AWAITING_SIGNATURES:
            raise ValidationError(
                _("Envoyez d'abord la convention à la signature : son texte est alors arrêté.")
            )
        signatory = Signatory.objects.select_for_update().get(pk=signatory.pk)
        if (
            current.signatories.exclude(side=signatory.side)
            .filter(signature_recorded_by=acting_user)
            .exists()
        ):
            raise SideRefused(
                _(
                    "Vous avez enregistré la signature de l'autre partie : une même personne "
                    "ne peut engager les deux parties. Rien n'a été modifié."
                )
            )
        latest = current.documents.order_by("-version").first()
        if latest is None:
            raise ValidationError(
                _(
                    "Déposez d'abord le PDF signé : chaque partie enregistre sa signature sur "
                    "une version précise du texte."
                )
            )
        rules.check_signature_date(current, signed_on)
        signatory.signed_on = signed_on
        signatory.signature_recorded_by = acting_user
        signatory.signature_recorded_at = timezone.now()
        signatory.signed_document = latest
        signatory.save()
        _event(
            request,
            acting_user,
            current,
            signatory="signed",
            signatory_id=signatory.pk,
            side=signatory.side,
            document_version=latest.version,
            sha256=latest.sha256,
        )
    return signatory


def do_request_signatures(
    convention: Convention, *, acting_user: Any, request: HttpRequest | None = None
) -> Convention:
    """Draft → awaiting signatures: the text is final, signatories are listed."""
    with transaction.atomic():
        current = _lock(convention)
        _require_drafting_side(acting_user, current)
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
    """Awaiting signatures → signed, once both sides recorded their signatures on the latest PDF.

    Either side may declare it, but only when the other side's signatures are recorded by the
    other side itself: nobody puts a protocol in force alone. It is then in force from its
    effective date (computed, see ``Convention.state_on``).
    """
    acting_side(acting_user, convention.commune)
    with transaction.atomic():
        Commune.objects.select_for_update().get(pk=convention.commune_id)
        current = _lock(convention)
        if current.status != Convention.Status.AWAITING_SIGNATURES:
            raise ValidationError(_("La convention n'est pas en attente de signatures."))
        signatories = list(current.signatories.select_related("signed_document"))
        for side in (Side.COMMUNE, Side.PREFECTURE):
            own = [s for s in signatories if s.side == side]
            if not own or not all(s.is_recorded for s in own):
                raise ValidationError(
                    _(
                        "La signature de %(side)s n'est pas encore enregistrée : seule cette "
                        "partie peut l'enregistrer."
                    )
                    % {"side": side_label(side)}
                )
        latest = current.documents.order_by("-version").first()
        if latest is None:
            raise ValidationError(_("Déposez d'abord le PDF signé."))
        stale = [s for s in signatories if s.signed_document_id != latest.pk]
        if stale:
            raise ValidationError(
                _(
                    "La version %(version)s du PDF a été déposée après une signature : chaque "
                    "partie doit enregistrer à nouveau sa signature sur cette version."
                )
                % {"version": latest.version}
            )
        commune_recorders = {s.signature_recorded_by_id for s in signatories if s.side == "commune"}
        if any(
            s.signature_recorded_by_id in commune_recorders
            for s in signatories
            if s.side == Side.PREFECTURE
        ):
            raise ValidationError(
                _("Une même personne a enregistré les signatures des deux parties.")
            )
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
        _event(
            request, acting_user, current, status=current.status, document_version=latest.version
        )
    return current


def do_terminate_convention(
    convention: Convention,
    *,
    reason: str,
    terminated_on: datetime.date,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Convention:
    """Terminate a convention: who, when and why are recorded; the other side is told by e-mail.

    A signed convention may be terminated by either party (a party may leave a protocol; the
    e-mail tells the other). One never signed by both is still the drafting side's project: only
    that side abandons it. Documents are never touched: every uploaded version stays.
    """
    with transaction.atomic():
        current = _lock(convention)
        if current.signed_at is None:
            _require_drafting_side(acting_user, current)
            side = Side(current.created_side)
        else:
            side = acting_side(acting_user, current.commune)
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
        current.terminated_by = acting_user
        current.terminated_at = timezone.now()
        current.terminated_side = side
        current.save()
        # The reason is free text: the trail keeps that a termination happened, not its words.
        _event(request, acting_user, current, status=current.status, side=side)
        from .tasks import send_termination_notice

        enqueue_on_commit(send_termination_notice, current.pk)
    return current


def do_record_non_renewal(
    convention: Convention,
    notified_on: datetime.date,
    *,
    acting_user: Any,
    request: HttpRequest | None = None,
) -> Convention:
    """Stop a tacit renewal: the convention ends with the period the notice can still reach.

    Either party may give notice; the other is told by e-mail (it ends the convention too).

    A notice given after the notice deadline of the running period takes effect at the end of
    the next one.
    """
    side = acting_side(acting_user, convention.commune)
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
        _event(request, acting_user, current, non_renewal="notified", side=side)
        from .tasks import send_non_renewal_notice

        enqueue_on_commit(send_non_renewal_notice, current.pk, str(side))
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
    side = acting_side(acting_user, convention.commune)
    pages = rules.check_pdf(uploaded)
    # Before the transaction: a detection's audit entry outlives the refusal (cmer.antivirus).
    antivirus.require_clean(
        uploaded,
        where="conventions.signed_document",
        acting_user=acting_user,
        request=request,
        target=convention,
    )
    digest = rules.sha256_of(uploaded)
    document: SignedDocument | None = None
    try:
        with transaction.atomic():
            current = _lock(convention)
            if current.status == Convention.Status.TERMINATED:
                raise ValidationError(_("Cette convention est résiliée."))
            if current.status == Convention.Status.SIGNED:
                # The text both parties signed stays the text in force: a change is an amendment.
                raise ValidationError(
                    _(
                        "Le texte signé par les deux parties ne se remplace pas : "
                        "ajoutez un avenant."
                    )
                )
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
                side=side,
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
