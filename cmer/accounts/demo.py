"""Demo data for a newcomer's laptop: one department, three communes, one user per role.

Only ever used with DEBUG on (the commands refuse otherwise).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from importlib import import_module

from django.apps import apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction
from django.utils.module_loading import module_has_submodule
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import Commune, Department, Membership, MembershipStatus, Role, User


@dataclass(frozen=True)
class DemoUser:
    email: str
    first_name: str
    last_name: str
    role: Role
    scope: str  # commune prefix, department code, or "" for installation


DEMO_USERS = [
    DemoUser("referent@tarascon.demo", "Rose", "Référente", Role.REFERENT, "TAR"),
    DemoUser("membre@tarascon.demo", "Marc", "Membre", Role.CELL_MEMBER, "TAR"),
    DemoUser("agent@tarascon.demo", "Agathe", "Agent", Role.REPORTING_AGENT, "TAR"),
    DemoUser("formation@tarascon.demo", "Fabien", "Formateur", Role.TRAINING_COORDINATOR, "TAR"),
    DemoUser("liaison@prefecture.demo", "Louise", "Liaison", Role.LIAISON, "13"),
    DemoUser("dpo@prefecture.demo", "Denis", "Délégué", Role.DPO, "13"),
    DemoUser("admin@cmer.demo", "Alex", "Administrateur", Role.TECH_ADMIN, ""),
    DemoUser("referent@miramas.demo", "Mila", "Référente", Role.REFERENT, "MIR"),
    DemoUser("referent@arles.demo", "Arthur", "Référent", Role.REFERENT, "ARL"),
]

# seed_demo's memberships are confirmed on this written basis (no second person on a laptop).
DEMO_BASIS = "Données de démonstration (seed_demo)."
# One request left pending, so that the confirmation screen can be tried: the administrator asks
# for a cell member in Tarascon; the Tarascon referent confirms or refuses it.
DEMO_PENDING = DemoUser("nouveau@tarascon.demo", "Noé", "Nouveau", Role.CELL_MEMBER, "TAR")


def require_debug() -> None:
    if not settings.DEBUG:
        raise CommandError(
            "Commande de démonstration refusée : DJANGO_DEBUG est désactivé (production). "
            "/ Demo command refused: DJANGO_DEBUG is off."
        )


def base32_secret(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


def current_code(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


@transaction.atomic
def seed() -> list[tuple[DemoUser, str]]:
    require_debug()
    department, _ = Department.objects.get_or_create(
        code="13",
        defaults={
            "name": "Bouches-du-Rhône",
            "prefecture_name": "Préfecture de police des Bouches-du-Rhône",
        },
    )
    communes = {}
    for insee, name, prefix in [
        ("13108", "Tarascon", "TAR"),
        ("13063", "Miramas", "MIR"),
        ("13004", "Arles", "ARL"),
    ]:
        communes[prefix], _ = Commune.objects.get_or_create(
            insee_code=insee,
            defaults={"name": name, "department": department, "reference_prefix": prefix},
        )
    # The Arles referent also sits in the Tarascon cell: shows the commune switcher.
    extra = [("referent@arles.demo", Role.CELL_MEMBER, "TAR")]
    result = []
    for demo in DEMO_USERS:
        user = User.objects.filter(email=demo.email).first()
        if user is None:
            user = User.objects.create_user(
                demo.email,
                settings.DEMO_PASSWORD,
                first_name=demo.first_name,
                last_name=demo.last_name,
                is_staff=demo.role == Role.TECH_ADMIN,
                is_superuser=demo.role == Role.TECH_ADMIN,
            )
        scope: dict[str, Commune | Department | None] = {"commune": None, "department": None}
        if demo.scope in communes:
            scope["commune"] = communes[demo.scope]
        elif demo.scope == department.code:
            scope["department"] = department
        Membership.objects.get_or_create(
            user=user,
            role=demo.role,
            **scope,
            defaults={"status": MembershipStatus.CONFIRMED, "decision_reason": DEMO_BASIS},
        )
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Démo", confirmed=True)
        result.append((demo, base32_secret(device)))
    for email, role, prefix in extra:
        Membership.objects.get_or_create(
            user=User.objects.get(email=email),
            role=role,
            commune=communes[prefix],
            defaults={"status": MembershipStatus.CONFIRMED, "decision_reason": DEMO_BASIS},
        )
    result.append(_demo_pending_request(communes["TAR"]))
    seed_apps(communes)
    return result


def seed_apps(communes: dict[str, Commune]) -> None:
    """Each installed app's own demo data, after the people and communes above.

    An app that has some defines ``seed_demo(communes)`` in its ``demo`` module (communes by
    reference prefix); they run in ``INSTALLED_APPS`` order, in the caller's transaction. Found
    through the app registry, so that the core imports no app.
    """
    for config in apps.get_app_configs():
        if config.name == "cmer.accounts" or not module_has_submodule(config.module, "demo"):
            continue
        seeder = getattr(import_module(f"{config.name}.demo"), "seed_demo", None)
        if seeder is not None:
            seeder(communes)


def _demo_pending_request(commune: Commune) -> tuple[DemoUser, str]:
    """A new cell member asked for by the administrator, waiting for the referent."""
    from django.utils import timezone

    demo = DEMO_PENDING
    user = User.objects.filter(email=demo.email).first()
    if user is None:
        user = User.objects.create_user(
            demo.email,
            settings.DEMO_PASSWORD,
            first_name=demo.first_name,
            last_name=demo.last_name,
        )
    if not Membership.objects.filter(user=user).exists():
        Membership.objects.create(
            user=user,
            role=demo.role,
            commune=commune,
            service="Service jeunesse",
            status=MembershipStatus.REQUESTED,
            requested_by=User.objects.get(email="admin@cmer.demo"),
            requested_at=timezone.now(),
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Démo", confirmed=True)
    return demo, base32_secret(device)
