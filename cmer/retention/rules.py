"""The retention rules of the installation, in one place (CNIL AU-038, DESIGN.md "Lifecycles").

Everything that says how long something is kept reads it here: the daily job
(``cmer.retention.runner``), the DPO's page, the register of processing, the statistics (which use
only what survives anonymisation). The periods come from settings (environment variables, safe
defaults); ``read_environment`` is called by ``cmer/settings.py`` and refuses, at start-up, a value
outside the law's bounds with a message naming the variable.

This module imports nothing from the apps or the database: the settings module imports it.

Rules (``Rule``):

- ``draft``: a referral never submitted is deleted ``RETENTION_DRAFT_DAYS`` after its last change.
- ``archive``: a closed referral (archived or not) is anonymised ``RETENTION_ARCHIVE_YEARS`` after
  it was archived (or closed, if nobody archived it): the intermediate archive of AU-038.
- ``age_limit``: a referral is anonymised on the person's ``RETENTION_AGE_LIMIT``-th birthday
  (25), whatever its status, while the DPO keeps the rule on (``cmer.retention.policy``).
- ``state_info``: information from the State not linked to a referral (a municipal employee, a
  person the social services support) is erased ``RETENTION_ARCHIVE_YEARS`` after the commune
  received it; one the liaison never sent is deleted ``RETENTION_DRAFT_DAYS`` after its creation.
- ``training``: attendance records, imported attendance files and attestations are deleted
  ``RETENTION_TRAINING_YEARS`` after the session.
- ``convention``: a convention's signed documents are deleted ``RETENTION_CONVENTION_YEARS`` after
  its end (expiry or termination).
- ``audit``: audit entries are purged by ``manage.py purge_audit`` under the owner role, never
  younger than ``AUDIT_MIN_RETENTION_MONTHS``; the daily job does not touch the trail.

A legal hold (``cases.models.LegalHold``) suspends the referral rules for one referral until its
end date, or until the DPO lifts it earlier with a reason.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _


class Rule(StrEnum):
    DRAFT = "draft"
    ARCHIVE = "archive"
    AGE_LIMIT = "age_limit"
    STATE_INFO = "state_info"
    TRAINING = "training"
    CONVENTION = "convention"
    AUDIT = "audit"


# The rules the daily job applies, in the order it applies them (and the certificate lists them).
APPLIED_RULES: tuple[Rule, ...] = (
    Rule.DRAFT,
    Rule.ARCHIVE,
    Rule.AGE_LIMIT,
    Rule.STATE_INFO,
    Rule.TRAINING,
    Rule.CONVENTION,
)
# Rules about referrals: a legal hold suspends them.
REFERRAL_RULES: tuple[Rule, ...] = (Rule.DRAFT, Rule.ARCHIVE, Rule.AGE_LIMIT)

# What anonymisation erases on a referral besides every encrypted field (found by type, see
# ``cases.retention``): the blind indexes and the clear fields that describe the facts or the
# filing service. Every other column survives, so statistics computed from them (reference,
# dates, categories, status, urgency, age group and bracket, source, outcome, commune) stay the
# same after anonymisation: statistics must read nothing else.
REFERRAL_CLEAR_FIELDS_ERASED: tuple[str, ...] = (
    "name_index",
    "name_year_index",
    "facts_date",
    "author_service",
)

LABELS = {
    Rule.DRAFT: _("Brouillons jamais déposés"),
    Rule.ARCHIVE: _("Signalements clos : fin de l'archive intermédiaire"),
    Rule.AGE_LIMIT: _("Signalements : 25 ans de la personne"),
    Rule.STATE_INFO: _("Informations de l'État sans signalement lié"),
    Rule.TRAINING: _("Formations : présences, fichiers importés, attestations"),
    Rule.CONVENTION: _("Conventions : documents signés"),
    Rule.AUDIT: _("Journal d'audit"),
}


@dataclass(frozen=True)
class Bound:
    default: int
    low: int
    high: int
    # Why the bound, in French then English (the start-up message is bilingual, like the others).
    why_fr: str
    why_en: str


BOUNDS: dict[str, Bound] = {
    "RETENTION_ARCHIVE_YEARS": Bound(
        3,
        0,
        3,
        "la CNIL (AU-038) limite l'archive intermédiaire à 3 ans",
        "the CNIL (AU-038) caps the intermediate archive at 3 years",
    ),
    "RETENTION_AGE_LIMIT": Bound(
        25,
        18,
        25,
        "la règle d'âge (AU-038) efface les données au plus tard aux 25 ans de la personne, "
        "jamais avant sa majorité",
        "the age rule (AU-038) erases the data at the latest on the person's 25th birthday, "
        "never before they come of age",
    ),
    "RETENTION_DRAFT_DAYS": Bound(
        30,
        1,
        90,
        "un brouillon non déposé ne se garde pas au-delà de quelques semaines",
        "an unsubmitted draft is not kept beyond a few weeks",
    ),
    "RETENTION_TRAINING_YEARS": Bound(
        5,
        1,
        10,
        "durée de conservation des présences et attestations de formation",
        "retention of training attendance and attestations",
    ),
    "RETENTION_CONVENTION_YEARS": Bound(
        10,
        1,
        30,
        "durée de conservation des documents d'une convention après sa fin",
        "retention of a convention's documents after its end",
    ),
    "AUDIT_MIN_RETENTION_MONTHS": Bound(
        6,
        6,
        120,
        "la CNIL recommande de garder les traces d'accès au moins 6 mois",
        "the CNIL recommends keeping access traces for at least 6 months",
    ),
}
# Whether the 25th-birthday rule applies when the DPO has never switched it (the DPO's switch,
# with its reason, then wins: cmer.retention.policy).
AGE_RULE_SETTING = "RETENTION_AGE_RULE"


def _refuse(name: str, fr: str, en: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"{name} : {fr}. / {name}: {en}. Voir README « Durées de conservation ». "
        '/ See README "Retention".'
    )


def read_environment(environ: Mapping[str, str]) -> dict[str, int | bool]:
    """The retention settings from the environment, checked against their bounds.

    Raises ImproperlyConfigured naming the variable for a value that is not a whole number, or
    that contradicts the law (an archive longer than 3 years, an age rule below 18)."""
    values: dict[str, int | bool] = {}
    for name, bound in BOUNDS.items():
        raw = (environ.get(name) or "").strip()
        if not raw:
            values[name] = bound.default
            continue
        try:
            value = int(raw)
        except ValueError:
            raise _refuse(
                name,
                f"nombre entier attendu, reçu {raw!r}",
                f"a whole number is expected, got {raw!r}",
            ) from None
        if not bound.low <= value <= bound.high:
            raise _refuse(
                name,
                f"{value} refusé, valeur admise de {bound.low} à {bound.high} ({bound.why_fr})",
                f"{value} refused, allowed from {bound.low} to {bound.high} ({bound.why_en})",
            )
        values[name] = value
    raw = (environ.get(AGE_RULE_SETTING) or "").strip().lower()
    if raw in {"", "1", "true", "yes", "on"}:
        values[AGE_RULE_SETTING] = True
    elif raw in {"0", "false", "no", "off"}:
        values[AGE_RULE_SETTING] = False
    else:
        raise _refuse(
            AGE_RULE_SETTING,
            f"true ou false attendu, reçu {raw!r}",
            f"true or false expected, got {raw!r}",
        )
    return values


@dataclass(frozen=True)
class Periods:
    """The periods in force (from django.conf.settings, read when called)."""

    archive_years: int
    age_limit: int
    age_rule_default: bool
    draft_days: int
    training_years: int
    convention_years: int
    audit_min_months: int


def periods() -> Periods:
    from django.conf import settings

    def get(name: str) -> int:
        return int(getattr(settings, name, BOUNDS[name].default))

    return Periods(
        archive_years=get("RETENTION_ARCHIVE_YEARS"),
        age_limit=get("RETENTION_AGE_LIMIT"),
        age_rule_default=bool(getattr(settings, AGE_RULE_SETTING, True)),
        draft_days=get("RETENTION_DRAFT_DAYS"),
        training_years=get("RETENTION_TRAINING_YEARS"),
        convention_years=get("RETENTION_CONVENTION_YEARS"),
        audit_min_months=get("AUDIT_MIN_RETENTION_MONTHS"),
    )


def add_years(day: datetime.date, years: int) -> datetime.date:
    """``day`` plus whole years; 29 February becomes 28 February in a common year (the earlier
    day: nothing is kept a day too long)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def subtract_years(day: datetime.date, years: int) -> datetime.date:
    return add_years(day, -years)


@dataclass(frozen=True)
class RuleRow:
    """One line of the rule table (DPO page, register of processing, certificate)."""

    rule: Rule
    label: str
    applies_to: str
    period: str
    action: str
    settings: tuple[str, ...]
    applied_by_daily_job: bool
    enabled: bool


def rule_table(*, age_rule_enabled: bool | None = None) -> list[RuleRow]:
    """The rules in force, in words, from the settings. ``age_rule_enabled``: the DPO's switch
    (``cmer.retention.policy.age_rule_enabled()``); the settings' default when None."""
    p = periods()
    if age_rule_enabled is None:
        age_rule_enabled = p.age_rule_default
    rows = [
        RuleRow(
            Rule.DRAFT,
            str(LABELS[Rule.DRAFT]),
            str(_("Signalement resté à l'état de brouillon")),
            str(_("%(n)s jours après sa dernière modification")) % {"n": p.draft_days},
            str(_("supprimé, avec ses pièces jointes")),
            ("RETENTION_DRAFT_DAYS",),
            True,
            True,
        ),
        RuleRow(
            Rule.ARCHIVE,
            str(LABELS[Rule.ARCHIVE]),
            str(
                _(
                    "Signalement clos : archive intermédiaire, consultée ponctuellement et avec un "
                    "motif"
                )
            ),
            str(_("%(n)s ans après l'archivage (ou la clôture s'il n'a pas été archivé)"))
            % {"n": p.archive_years},
            str(_("anonymisé")),
            ("RETENTION_ARCHIVE_YEARS",),
            True,
            True,
        ),
        RuleRow(
            Rule.AGE_LIMIT,
            str(LABELS[Rule.AGE_LIMIT]),
            str(_("Tout signalement dont la date de naissance ou l'âge est connu")),
            str(_("le jour des %(n)s ans de la personne")) % {"n": p.age_limit},
            str(_("anonymisé")),
            ("RETENTION_AGE_LIMIT", AGE_RULE_SETTING),
            True,
            bool(age_rule_enabled),
        ),
        # Information the State gave the mayor about a person of the commune, outside any
        # referral (instruction of 13 November 2018). AU-038 keeps a person's data while they
        # are followed, then in the intermediate archive: such information has no follow-up of
        # its own in the cell (nothing closes it), so its archive starts when the commune
        # receives it and lasts as long as a referral's, the most AU-038 allows. Then the
        # person and the information are erased, as a referral's content; the row stays with
        # what DESIGN.md says the system records of a disclosure (the case, on whose agreement,
        # when, by whom, to which commune), like an anonymised referral's reference and dates.
        # One the liaison never sent was never shared: it goes like a forgotten draft. No legal
        # hold applies (a hold is placed on a referral).
        RuleRow(
            Rule.STATE_INFO,
            str(LABELS[Rule.STATE_INFO]),
            str(
                _(
                    "Information donnée au maire par l'État sur une personne (agent, candidat, "
                    "personne suivie par les services sociaux), sans signalement lié"
                )
            ),
            str(
                _(
                    "%(n)s ans après sa réception par la commune ; jamais envoyée : %(d)s jours "
                    "après sa création"
                )
            )
            % {"n": p.archive_years, "d": p.draft_days},
            str(
                _(
                    "personne et information effacées (restent le cas, les accords, les dates, "
                    "la commune) ; jamais envoyée : supprimée"
                )
            ),
            ("RETENTION_ARCHIVE_YEARS", "RETENTION_DRAFT_DAYS"),
            True,
            True,
        ),
        RuleRow(
            Rule.TRAINING,
            str(LABELS[Rule.TRAINING]),
            str(_("Présences, fichiers de présences importés, attestations d'une session")),
            str(_("%(n)s ans après la session")) % {"n": p.training_years},
            str(_("supprimés (la session reste, sans participants)")),
            ("RETENTION_TRAINING_YEARS",),
            True,
            True,
        ),
        RuleRow(
            Rule.CONVENTION,
            str(LABELS[Rule.CONVENTION]),
            str(_("Documents signés d'une convention expirée ou résiliée")),
            str(_("%(n)s ans après la fin de la convention")) % {"n": p.convention_years},
            str(_("supprimés (la convention reste, sans ses fichiers)")),
            ("RETENTION_CONVENTION_YEARS",),
            True,
            True,
        ),
        RuleRow(
            Rule.AUDIT,
            str(LABELS[Rule.AUDIT]),
            str(_("Entrées du journal d'audit")),
            str(_("au moins %(n)s mois, purge par mois entiers")) % {"n": p.audit_min_months},
            str(_("purgées par « manage.py purge_audit » (rôle propriétaire de la base)")),
            ("AUDIT_MIN_RETENTION_MONTHS",),
            False,
            True,
        ),
    ]
    return rows
