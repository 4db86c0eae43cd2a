"""Demo data of the conventions app for ``seed_demo`` (DEBUG only): a protocol in force."""

from __future__ import annotations

import datetime

from django.utils import timezone

from cmer.accounts.models import Commune, User

from .models import Convention, Side, Signatory


def seed_demo(communes: dict[str, Commune]) -> None:
    """Called by ``cmer.accounts.demo.seed_apps``."""
    seed_model_charters(communes)
    seed_protocol(communes["TAR"])


def seed_model_charters(communes: dict[str, Commune]) -> None:
    """Each demo commune and its department have the model charter in force (created with
    them, or by migration 0003 for an older demo database; idempotent), acknowledged by no
    one: each member, referent and liaison reads it at their first referral or minutes, and a
    charter pending in Tarascon holds back Tarascon only (the Arles referent's case)."""
    from .charter_model import ensure_model
    from .models import CharterVersion

    for commune in communes.values():
        ensure_model(CharterVersion, commune_id=commune.pk)
        ensure_model(CharterVersion, department_id=commune.department_id)


def seed_protocol(commune: Commune) -> None:
    """Tarascon's cell is installed by a protocol in force, so that transmission can be tried.

    Signed by both sides as the app requires: the mayor's signature recorded by the referent,
    the prefect's by the liaison (a demo database from before that rule is brought up to it).
    """
    today = timezone.localdate()
    referent = User.objects.get(email="referent@tarascon.demo")
    liaison = User.objects.get(email="liaison@prefecture.demo")
    convention = Convention.objects.filter(commune=commune, reference="DEMO-13-TAR").first()
    if convention is None:
        if Convention.objects.filter(commune=commune).exists():
            return
        convention = Convention.objects.create(
            commune=commune,
            kind=Convention.Kind.PROTOCOL,
            title="Protocole d'installation de la CMER (démonstration)",
            reference="DEMO-13-TAR",
            effective_date=today - datetime.timedelta(days=30),
            end_date=today + datetime.timedelta(days=3 * 365),
            created_by=referent,
            created_side=Side.COMMUNE,
            created_at=timezone.now() - datetime.timedelta(days=40),
        )
    for name, capacity, side, recorder in [
        ("Préfet (démonstration)", "prefect", Side.PREFECTURE, liaison),
        ("Maire (démonstration)", "mayor", Side.COMMUNE, referent),
    ]:
        Signatory.objects.update_or_create(
            convention=convention,
            capacity=capacity,
            defaults={
                "name": name,
                "side": side,
                "signed_on": today - datetime.timedelta(days=35),
                "signature_recorded_by": recorder,
                "signature_recorded_at": timezone.now() - datetime.timedelta(days=35),
            },
        )
    if convention.status != Convention.Status.SIGNED:
        convention.status = Convention.Status.SIGNED
        convention.signed_at = timezone.now() - datetime.timedelta(days=35)
        convention.save()
