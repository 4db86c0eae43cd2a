"""The register of processing activities (GDPR art. 30) for the DPO, built from the installation.

Nothing in it is typed by hand that the installation already knows: retention periods come from
the retention rule table (settings), recipients from the roles and their active holders, the
encrypted fields from walking every model for ``EncryptedTextField``, the hosting from the
database and storage settings. When a setting or a model changes, the register changes with it
(tests/core/test_register.py). Fixed text (purposes, legal basis) is the processing's own.
No personal data: counts of holders, never names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from cmer.accounts.models import COMMUNE_ROLES, Commune, Department, Membership, Role
from cmer.crypto import EncryptedTextField

DOMAIN_APPS = ("cases", "meetings", "training", "conventions", "accounts")

ROLE_ACCESS = {
    Role.REPORTING_AGENT: _("ses propres signalements jusqu'au dépôt, puis leur statut"),
    Role.CELL_MEMBER: _(
        "les signalements accordés nominativement (motif, échéance) et les réunions où il est "
        "invité"
    ),
    Role.REFERENT: _("tous les signalements et réunions de sa commune"),
    Role.LIAISON: _("les signalements transmis à la préfecture par les communes du département"),
    Role.TRAINING_COORDINATOR: _("les sessions de formation et les présences, aucun signalement"),
    Role.DPO: _("le journal d'audit et les rapports de conservation, pas le contenu"),
    Role.TECH_ADMIN: _("les comptes, communes et paramètres, jamais le contenu des dossiers"),
}


@dataclass
class Register:
    generated_at: Any
    controllers: list[str]
    purposes: list[str]
    legal_basis: list[str]
    people: list[str]
    data: list[dict[str, Any]]
    recipients: list[dict[str, Any]]
    retention: list[dict[str, Any]]
    security: list[str]
    hosting: list[tuple[str, str]]
    encrypted: list[tuple[str, str]] = field(default_factory=list)


def encrypted_fields() -> list[tuple[str, str]]:
    """(model, field) for every ``EncryptedTextField`` of every installed model."""
    found = []
    for model in apps.get_models():
        for model_field in model._meta.get_fields():
            if isinstance(model_field, EncryptedTextField):
                found.append((str(model._meta.verbose_name), str(model_field.verbose_name)))
    return sorted(found)


def data_categories() -> list[dict[str, Any]]:
    """Per model of the domain apps: its fields in words, the encrypted ones marked."""
    rows = []
    for app_label in DOMAIN_APPS:
        for model in apps.get_app_config(app_label).get_models():
            fields = []
            for model_field in model._meta.concrete_fields:
                if model_field.primary_key or not model_field.verbose_name:
                    continue
                name = str(model_field.verbose_name)
                if name == model_field.name.replace("_", " "):
                    continue  # technical column without a label (keys, indexes)
                fields.append(
                    {"name": name, "encrypted": isinstance(model_field, EncryptedTextField)}
                )
            if fields:
                rows.append({"model": str(model._meta.verbose_name_plural), "fields": fields})
    return rows


def retention_rows() -> list[dict[str, Any]]:
    """The retention rules in force, from the retention rule table (cmer.retention)."""
    from cmer.retention.policy import age_rule_enabled
    from cmer.retention.rules import rule_table

    return [
        {
            "label": row.label,
            "applies_to": row.applies_to,
            "period": row.period,
            "action": row.action,
            "enabled": row.enabled,
        }
        for row in rule_table(age_rule_enabled=age_rule_enabled())
    ]


def recipients() -> list[dict[str, Any]]:
    """Each role, what it may see and how many people hold it today (no names)."""
    held = dict(
        Membership.objects.active()
        .values_list("role")
        .annotate(n=Count("user", distinct=True))
        .order_by()
    )
    return [
        {
            "role": str(role.label),
            "scope": str(_("commune")) if role in COMMUNE_ROLES else str(_("département")),
            "access": str(ROLE_ACCESS[role]),
            "holders": held.get(role.value, 0),
        }
        for role in Role
    ]


def hosting() -> list[tuple[str, str]]:
    database = settings.DATABASES["default"]
    engine = database["ENGINE"].rsplit(".", 1)[-1]
    host = database.get("HOST") or _("fichier local")
    return [
        (_("Base de données"), f"{engine} — {host} / {database.get('NAME')}"),
        (_("Fichiers joints"), str(settings.PRIVATE_STORAGE_ROOT)),
        (_("Adresse publique"), settings.SITE_URL),
    ]


def security_measures(encrypted: list[tuple[str, str]]) -> list[str]:
    measures = [
        _(
            "Chiffrement au repos (Fernet) de %(n)s champs, liste ci-dessous ; index aveugles "
            "à clé pour la recherche de personnes."
        )
        % {"n": len(encrypted)},
        _(
            "Connexion par mot de passe et second facteur (TOTP) obligatoire ; verrouillage après "
            "%(n)s échecs."
        )
        % {"n": settings.AXES_FAILURE_LIMIT},
        _("Session fermée après %(idle)s minutes d'inactivité et %(total)s heures au plus.")
        % {
            "idle": settings.SESSION_IDLE_SECONDS // 60,
            "total": settings.SESSION_ABSOLUTE_SECONDS // 3600,
        },
        _(
            "Accès limité au besoin d'en connaître (rôles par commune, accès nominatifs avec motif "
            "et échéance) ; tout refus répond comme une page inexistante."
        ),
        _(
            "Journal d'audit chaîné (SHA-256), en ajout seul pour le rôle de l'application, points "
            "de contrôle signés ; conservé au moins %(n)s mois."
        )
        % {"n": getattr(settings, "AUDIT_MIN_RETENTION_MONTHS", 6)},
    ]
    if settings.CLAMAV_SOCKET:
        measures.append(_("Analyse antivirus de chaque fichier déposé."))
    else:
        measures.append(_("Analyse antivirus des fichiers déposés : désactivée (poste local)."))
    if getattr(settings, "SECURE_HSTS_SECONDS", 0):
        measures.append(_("HTTPS imposé (HSTS)."))
    return [str(m) for m in measures]


def build() -> Register:
    encrypted = encrypted_fields()
    departments = [str(d) for d in Department.objects.order_by("code")]
    communes = Commune.objects.count()
    return Register(
        generated_at=timezone.localtime(),
        controllers=[
            _("Préfecture de %(department)s et communes signataires d'un protocole (%(n)s)")
            % {"department": name, "n": communes}
            for name in departments
        ],
        purposes=[
            _("Repérer et signaler tôt les signes de basculement vers la violence."),
            _("Organiser l'échange d'informations entre la commune et l'État."),
            _("Suivre les mesures d'accompagnement décidées par la cellule."),
            _("Former les agents au repérage ; gérer les conventions préfecture–commune."),
        ],
        legal_basis=[
            _(
                "Mission d'intérêt public (RGPD art. 6-1-e) ; données sensibles : motif d'intérêt "
                "public important (art. 9-2-g)."
            ),
            _(
                "Instruction du 13 novembre 2018 ; référentiel CNIL des traitements de prévention "
                "en mairie (AU-038)."
            ),
        ],
        people=[
            _("Personnes signalées (souvent mineures) et leur entourage cité."),
            _("Agents signalants, membres de la cellule, référents, correspondants."),
            _("Personnes formées."),
            _("Signataires des conventions."),
        ],
        data=data_categories(),
        recipients=recipients(),
        retention=retention_rows(),
        security=security_measures(encrypted),
        hosting=hosting(),
        encrypted=encrypted,
    )
