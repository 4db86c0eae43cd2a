"""The trail in plain French for the DPO: one sentence per entry, no internal code, no English.

An entry stores identifiers (``what=detail``, ``level=view_referral``, ``grantee_id=7``): this
module turns them into "consultation de la fiche", "accès accordé à Marc Membre (lecture)
jusqu'au 30/12/2026". What it does not know is left out rather than shown raw. Names of people
come from the accounts in one query per page (``describe`` takes the users already fetched).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import ForeignObjectRel
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from .models import AuditEntry, Event

# ``what`` of a read or an export (record_access, record_event's data) → what the person did.
# Every ``what`` the code records under those two events has its line here
# (tests/audit/test_labels.py reads them from the sources).
READS = {
    "detail": gettext_lazy("consultation de la fiche"),
    "status": gettext_lazy("consultation du statut"),
    "draft": gettext_lazy("consultation du brouillon"),
    "archive": gettext_lazy("consultation de la fiche archivée"),
    "download": gettext_lazy("téléchargement d'une pièce jointe"),
    "attachment_export": gettext_lazy("export d'une pièce jointe"),
    "list": gettext_lazy("affichage dans une liste"),
    "person_search": gettext_lazy("recherche par personne"),
    "verify": gettext_lazy("vérification d'un document"),
    "charter_acknowledgements": gettext_lazy(
        "consultation des prises de connaissance de la charte"
    ),
    "attendance": gettext_lazy("consultation des présences"),
    "import_preview": gettext_lazy("aperçu d'un import de présences"),
    "import_original_file": gettext_lazy("téléchargement du fichier importé"),
    "attestation_pdf": gettext_lazy("téléchargement d'une attestation"),
    "attestations_zip": gettext_lazy("téléchargement des attestations"),
    "attestation_verification": gettext_lazy("vérification d'une attestation"),
    "audit_csv": gettext_lazy("export CSV du journal d'audit"),
    "audit_pdf": gettext_lazy("export PDF du journal d'audit"),
    "audit_checkpoints": gettext_lazy("téléchargement des points de contrôle"),
    "audit_pdf_download": gettext_lazy("téléchargement d'un export PDF du journal d'audit"),
    "training_stats": gettext_lazy("export des statistiques de formation"),
    "attendance_import": gettext_lazy("import des présences"),
    "retention_certificate": gettext_lazy("téléchargement d'un certificat de destruction"),
    "dossier_pdf": gettext_lazy("export PDF du dossier"),
    "minutes": gettext_lazy("consultation du compte rendu"),
    "edit_form": gettext_lazy("ouverture du formulaire de modification"),
    "calendar": gettext_lazy("consultation du calendrier des réunions"),
    "minutes_pdf": gettext_lazy("export PDF du compte rendu de réunion"),
    "attendance_sheet": gettext_lazy("export de la feuille d'émargement"),
    "sign_in_sheet": gettext_lazy("export de la liste d'émargement d'une session"),
    "referral_statistics": gettext_lazy("export des statistiques des signalements"),
    "activity_report": gettext_lazy("export PDF du rapport d'activité"),
    "register_pdf": gettext_lazy("export PDF du registre des traitements"),
}
LEVELS = {
    "view_referral": gettext_lazy("lecture"),
    "contribute_referral": gettext_lazy("lecture et notes"),
}
ACTIONS = {
    AuditEntry.Action.CREATE: gettext_lazy("création"),
    AuditEntry.Action.UPDATE: gettext_lazy("modification"),
    AuditEntry.Action.DELETE: gettext_lazy("suppression"),
    AuditEntry.Action.ACCESS: gettext_lazy("consultation"),
}


def people_of(entries: Iterable[AuditEntry]) -> dict[int, str]:
    """Full names of the people named in these entries' data (grantees), in one query."""
    from cmer.accounts.models import User

    ids: set[int] = set()
    for entry in entries:
        data: dict[str, Any] = (
            entry.additional_data if isinstance(entry.additional_data, dict) else {}
        )
        if isinstance(data.get("grantee_id"), int):
            ids.add(data["grantee_id"])
    if not ids:
        return {}
    return {
        user.pk: user.get_full_name() or user.email
        for user in User.objects.filter(pk__in=ids).only("pk", "first_name", "last_name", "email")
    }


def _date(value: Any) -> str:
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return ""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return date_format(moment.date(), "SHORT_DATE_FORMAT")


def _field_names(entry: AuditEntry) -> list[str]:
    """Verbose names of the fields a change touched (never their values)."""
    content_type = _content_type(entry.content_type_id)
    model = content_type.model_class() if content_type is not None else None
    names: list[str] = []
    for name in sorted(entry.changes or {}):
        try:
            field = model._meta.get_field(name) if model else None
            # A reverse relation has no verbose name: its name, as for a field removed since.
            if field is None or isinstance(field, ForeignObjectRel):
                names.append(name)
            else:
                names.append(str(field.verbose_name))
        except Exception:  # a field removed since: its name is still no content
            names.append(name)
    return names


# Sentences only an app can write (a transmission's shared items are labelled by the cases app):
# registered from the app's ``ready()`` so that the audit core imports no app.
_SENTENCES: dict[str, Callable[[dict[str, Any]], str]] = {}


def register_sentence(event: str, sentence: Callable[[dict[str, Any]], str]) -> None:
    """``sentence(data)`` describes the entries of ``event`` from their ``additional_data``."""
    _SENTENCES[str(event)] = sentence


def _content_type(content_type_id: int) -> ContentType | None:
    try:
        return ContentType.objects.get_for_id(content_type_id)
    except ContentType.DoesNotExist:
        return None


def type_name(content_type_id: int) -> str:
    """The object type's French name; an id no content type has (no database constraint holds
    it: ``models.AuditRecord``) reads "type inconnu" rather than breaking the DPO's page."""
    content_type = _content_type(content_type_id)
    return content_type.name if content_type is not None else _("type inconnu")


def _person(data: dict[str, Any], people: dict[int, str]) -> str:
    grantee = data.get("grantee_id")
    return (people.get(grantee, "") if isinstance(grantee, int) else "") or _("un membre")


def describe(entry: AuditEntry, people: dict[int, str]) -> str:
    """One French sentence for the entry (the "événement" column)."""
    data: dict[str, Any] = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    event = entry.event
    what = data.get("what")
    if event in (Event.ACCESS, Event.EXPORT) and what in READS:
        return str(READS[what])
    if event == Event.GRANT:
        person = _person(data, people)
        text = _("accès accordé à %(person)s") % {"person": person}
        if data.get("level") in LEVELS:
            text += f" ({LEVELS[data['level']]})"
        if data.get("expires_at"):
            text += " " + _("jusqu'au %(date)s") % {"date": _date(data["expires_at"])}
        return text
    if event == Event.REVOKE:
        person = _person(data, people)
        return _("accès retiré à %(person)s (motif enregistré, chiffré)") % {"person": person}
    if event in _SENTENCES:
        return _SENTENCES[event](data)
    if event == Event.TRANSMIT:
        return _("transmission à la préfecture")
    if event == Event.ARCHIVE_READ:
        return _("ouverture de l'archive (motif enregistré, chiffré)")
    if event == Event.DENIED:
        return _("accès refusé")
    if event == Event.CHANGE:
        action = str(ACTIONS.get(entry.action, _("modification")))
        fields = _field_names(entry) if entry.action == AuditEntry.Action.UPDATE else []
        if fields:
            return _("%(action)s (%(fields)s)") % {"action": action, "fields": ", ".join(fields)}
        return action
    return str(entry.get_event_display())


def details(entry: AuditEntry) -> str:
    """What else the DPO needs to read the entry, in French (counts, the address typed at a
    failed login); nothing raw."""
    data: dict[str, Any] = entry.additional_data if isinstance(entry.additional_data, dict) else {}
    parts: list[str] = []
    if isinstance(data.get("rows"), int):
        parts.append(_("%(n)s lignes") % {"n": data["rows"]})
    if isinstance(data.get("references"), list):
        count = len(data["references"])
        if data.get("what") == "person_search":
            parts.append(
                ngettext("%(n)s dossier trouvé", "%(n)s dossiers trouvés", count) % {"n": count}
            )
        else:
            parts.append(
                ngettext("%(n)s dossier affiché", "%(n)s dossiers affichés", count) % {"n": count}
            )
    if data.get("attempted_email"):
        parts.append(_("adresse saisie : %(email)s") % {"email": data["attempted_email"]})
    if data.get("integrity") == "ok":
        parts.append(_("intégrité vérifiée"))
    elif data.get("integrity") == "missing":  # an integrity alarm: the file was not served
        parts.append(_("fichier introuvable, non servi"))
    elif data.get("integrity") == "mismatch":
        parts.append(_("fichier altéré, non servi"))
    if entry.event == Event.RETENTION and isinstance(data.get("counts"), dict):
        parts.extend(_retention_details(data))
    return " ; ".join(parts)


def _retention_details(data: dict[str, Any]) -> list[str]:
    """A retention run's counts per rule, in words (``cmer.retention.rules.LABELS``)."""
    from cmer.retention.rules import LABELS, Rule

    parts = [
        f"{LABELS[Rule(rule)]} : {count}"
        for rule, count in data["counts"].items()
        if rule in set(Rule) and isinstance(count, int)
    ]
    if isinstance(data.get("held"), int):
        parts.append(_("sous gel : %(n)s") % {"n": data["held"]})
    if isinstance(data.get("files"), int):
        parts.append(_("fichiers effacés : %(n)s") % {"n": data["files"]})
    if data.get("status") == "failed":
        parts.append(_("exécution interrompue"))
    return parts


def object_names(entries: Iterable[AuditEntry]) -> dict[str, str]:
    """What was recorded under a draft's provisional name (``brouillon-<id>``) shown under the
    reference the referral has since received, in one query: "TAR-2026-0001 (alors brouillon)"."""
    from django.apps import apps

    ids = {}
    for entry in entries:
        name = entry.object_repr or ""
        if name.startswith("brouillon-") and name[10:].isdigit():
            ids[int(name[10:])] = name
    if not ids:
        return {}
    referral = apps.get_model("cases", "Referral")
    found = dict(referral.objects.filter(pk__in=ids).values_list("pk", "reference"))
    return {
        ids[pk]: (_("%(reference)s (alors brouillon)") % {"reference": reference})
        if reference
        else _("brouillon non déposé")
        for pk, reference in found.items()
    }


def rows(entries: Iterable[AuditEntry], *, reference: str = "") -> Iterator[dict[str, Any]]:
    """The DPO's table (page, CSV, PDF), one dict per entry, in French: names of people and of
    drafts fetched once per chunk of 2,000. In a search by ``reference`` every row is about
    that referral (``about.about_reference``): one that lists it, or an object pointing to it,
    shows the reference as its object."""
    chunk: list[AuditEntry] = []
    for entry in entries:
        chunk.append(entry)
        if len(chunk) == 2000:
            yield from _chunk_rows(chunk, reference)
            chunk = []
    yield from _chunk_rows(chunk, reference)


def _chunk_rows(entries: list[AuditEntry], reference: str) -> Iterator[dict[str, Any]]:
    people = people_of(entries)
    names = object_names(entries)
    for entry in entries:
        name = names.get(entry.object_repr) or reference or entry.object_repr
        yield {
            "id": entry.pk,
            # None until the entry is chained (seconds after it was recorded; sealing.py).
            "position": entry.position,
            "time": timezone.localtime(entry.timestamp),
            "event": describe(entry, people),
            "actor": entry.actor_email or "",
            "type": type_name(entry.content_type_id),
            "object": name,
            "address": entry.remote_addr or "",
            "details": details(entry),
        }
