from __future__ import annotations

import factory
from django.utils import timezone

from cmer.accounts.models import Commune, Department, Membership, MembershipStatus, Role, User

PASSWORD = "correct horse battery staple 2026"

# The people concerned by referrals in tests (tests/cases/helpers.py) are named Jeanne Dupont: a
# staff member drawn with the same name would make every "the name never shows" assertion fail
# by chance, so staff names are drawn from the rest of Faker's list.
_PERSON_NAMES = {"jeanne", "dupont"}


def _staff_name(kind: str):
    faker = factory.Faker._get_faker(locale="fr_FR")

    def draw(_obj: object) -> str:
        while (name := getattr(faker, kind)()).lower() in _PERSON_NAMES:
            pass
        return name

    return factory.LazyAttribute(draw)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    first_name = _staff_name("first_name")
    last_name = _staff_name("last_name")
    password = factory.django.Password(PASSWORD)


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"{(n % 90) + 10}")
    name = factory.Sequence(lambda n: f"Département {n}")


class CommuneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Commune
        django_get_or_create = ("insee_code",)

    insee_code = factory.Sequence(lambda n: f"{90000 + n}")
    name = factory.Sequence(lambda n: f"Commune {n}")
    department = factory.SubFactory(DepartmentFactory)
    reference_prefix = factory.Sequence(
        lambda n: "C" + "".join(chr(65 + int(d)) for d in f"{n:03d}")
    )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.CELL_MEMBER
    commune = factory.SubFactory(CommuneFactory)
    department = None
    starts_on = factory.LazyFunction(lambda: timezone.localdate())
    # Confirmed by default (on a written basis, as seed_demo and the bootstrap command do), so
    # that tests about something else get a role in force. Four-eyes tests use the traits.
    status = MembershipStatus.CONFIRMED
    decision_reason = "Jeu d'essai"

    class Params:
        # Asked by the technical administrator (pass requested_by), waiting for a confirmation.
        requested = factory.Trait(
            status=MembershipStatus.REQUESTED,
            decision_reason="",
            requested_at=factory.LazyFunction(timezone.now),
        )
