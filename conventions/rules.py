"""Business rules shared by the forms (clear messages) and the actions (checked again, in the
transaction): dates, overlapping conventions, signature dates, what a real PDF is."""

from __future__ import annotations

import datetime
import hashlib
import warnings
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .models import Convention, add_months

# A convention's fields that its drafting side fills in (ConventionForm, with the commune) and
# that the actions copy onto the row and check again (``normalise_and_check``).
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
MAX_PDF_BYTES = 20 * 1024 * 1024
PDF_MAGIC = b"%PDF-"
CHUNK = 1024 * 1024


def sha256_of(stream: IO[bytes]) -> str:
    """SHA-256 of a file-like object, read in chunks from the start."""
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def check_pdf(uploaded: Any) -> int:
    """Raise ValidationError unless ``uploaded`` is a readable PDF of at most 20 MB.

    The name and the browser's content type prove nothing: the bytes must start with the PDF
    signature and pypdf must parse every page. Returns the number of pages.
    """
    if uploaded.size > MAX_PDF_BYTES:
        raise ValidationError(_("Le fichier dépasse 20 Mo."), code="too_big")
    uploaded.seek(0)
    head = uploaded.read(len(PDF_MAGIC))
    uploaded.seek(0)
    if head != PDF_MAGIC:
        raise ValidationError(
            _("Ce fichier n'est pas un PDF. Déposez le PDF de la convention signée."),
            code="not_pdf",
        )
    from pypdf import PdfReader

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(uploaded, strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ValidationError(
                    _("Ce PDF est protégé par un mot de passe : déposez une version non protégée."),
                    code="encrypted",
                )
            pages = len(reader.pages)
            for page in reader.pages:
                page.get_contents()
    except ValidationError:
        raise
    except Exception as exc:  # pypdf raises many types on a damaged file
        raise ValidationError(
            _("Ce PDF est endommagé ou illisible. Déposez à nouveau le fichier d'origine."),
            code="corrupt",
        ) from exc
    finally:
        uploaded.seek(0)
    if pages == 0:
        raise ValidationError(_("Ce PDF ne contient aucune page."), code="empty")
    return pages


def _date(day: datetime.date) -> str:
    return formats.date_format(day, "SHORT_DATE_FORMAT")


def end_from_duration(effective: datetime.date, months: int) -> datetime.date:
    """A convention of N months starting on the 1st of January ends on the 31st of December."""
    return add_months(effective, months) - datetime.timedelta(days=1)


def normalise_and_check(instance: Convention, data: dict[str, Any]) -> None:
    """Check a convention's fields together; fill ``end_date`` from the duration.

    ``data`` is a form's cleaned data (modified in place). Raises ValidationError.
    """
    kind = data.get("kind") or instance.kind
    commune = data.get("commune") or (instance.commune if instance.commune_id else None)
    parent = data.get("parent")
    effective = data.get("effective_date")
    end = data.get("end_date")
    months = data.get("duration_months")
    errors: list[ValidationError] = []

    if kind == Convention.Kind.PROTOCOL and parent is not None:
        errors.append(
            ValidationError(_("Un protocole d'installation ne modifie aucune convention."))
        )
    if kind in (Convention.Kind.AMENDMENT, Convention.Kind.RENEWAL):
        if parent is None:
            errors.append(
                ValidationError(
                    _("Un avenant ou un renouvellement indique la convention qu'il modifie.")
                )
            )
        elif commune is not None and parent.commune_id != commune.pk:
            errors.append(ValidationError(_("La convention modifiée est d'une autre commune.")))
        elif parent.kind == Convention.Kind.AMENDMENT:
            errors.append(ValidationError(_("Rattachez l'avenant au protocole, pas à un avenant.")))
        elif instance.pk and parent.pk == instance.pk:
            errors.append(ValidationError(_("Une convention ne peut se modifier elle-même.")))

    if effective is not None:
        if months:
            computed = end_from_duration(effective, months)
            if end is not None and end != computed:
                errors.append(
                    ValidationError(
                        _(
                            "La date de fin ne correspond pas à la durée indiquée (%(date)s) : "
                            "laissez l'une des deux vide."
                        )
                        % {"date": _date(computed)}
                    )
                )
            else:
                end = computed
                data["end_date"] = computed
        if end is not None and end < effective:
            errors.append(
                ValidationError(_("La date de fin ne peut précéder la date d'effet."), code="dates")
            )
        if end is None and kind != Convention.Kind.AMENDMENT:
            errors.append(ValidationError(_("Indiquez une date de fin ou une durée en mois.")))
    if data.get("tacit_renewal") and end is None:
        errors.append(ValidationError(_("La reconduction tacite suppose une date de fin.")))
    if errors:
        raise ValidationError(errors)
    if kind != Convention.Kind.AMENDMENT and commune is not None and effective is not None:
        check_no_overlap(
            commune,
            effective,
            end,
            tacit=bool(data.get("tacit_renewal")),
            exclude_pk=instance.pk,
        )


def _period(convention: Convention) -> tuple[datetime.date, datetime.date | None]:
    """A convention's period for overlap checks; None as end means open (tacit renewals)."""
    if convention.renews_tacitly:
        return convention.effective_date, None
    end = convention.end_date
    if convention.status == Convention.Status.TERMINATED and convention.terminated_on:
        end = min(end, convention.terminated_on) if end else convention.terminated_on
    return convention.effective_date, end


def check_no_overlap(
    commune: Any,
    effective: datetime.date,
    end: datetime.date | None,
    *,
    tacit: bool = False,
    exclude_pk: int | None = None,
) -> None:
    """No two signed protocols / renewals of a commune may cover the same day.

    Only signed ones count (terminated ones up to their termination): a draft, or one awaiting
    signatures, blocks nobody, so one party's unsigned draft cannot stop the other's, and
    nobody needs to abandon the other party's draft to make room. ``do_mark_signed`` checks
    again, so two overlapping drafts can never both be signed.
    """
    new_end = None if tacit else end
    others = (
        Convention.objects.filter(commune=commune)
        .exclude(kind=Convention.Kind.AMENDMENT)
        .exclude(status__in=[Convention.Status.DRAFT, Convention.Status.AWAITING_SIGNATURES])
        .exclude(status=Convention.Status.TERMINATED, signed_at__isnull=True)
    )
    if exclude_pk:
        others = others.exclude(pk=exclude_pk)
    for other in others:
        start, other_end = _period(other)
        if other.status == Convention.Status.TERMINATED and other_end is not None:
            # A terminated convention covers nothing after its termination date.
            other_end = other_end - datetime.timedelta(days=1)
            if other_end < start:
                continue
        if (new_end is None or start <= new_end) and (other_end is None or effective <= other_end):
            if other.renews_tacitly:
                detail = _(
                    "« %(ref)s » se reconduit tacitement : enregistrez d'abord la notification "
                    "de sa non-reconduction, ou résiliez-la."
                ) % {"ref": other}
            else:
                detail = _("« %(ref)s » couvre déjà la période du %(start)s au %(end)s.") % {
                    "ref": other,
                    "start": _date(start),
                    "end": _date(other_end) if other_end else "…",
                }
            raise ValidationError(
                _("Une autre convention de la commune couvre déjà cette période. ") + detail,
                code="overlap",
            )


def check_signature_date(convention: Convention, day: datetime.date) -> None:
    drafted = timezone.localtime(convention.created_at).date()
    if day < drafted:
        raise ValidationError(
            _(
                "La date de signature ne peut précéder la rédaction de la convention "
                "(%(date)s). Vérifiez la date."
            )
            % {"date": _date(drafted)},
            code="before_draft",
        )
    if day > timezone.localdate():
        raise ValidationError(_("La date de signature ne peut être dans le futur."), code="future")
