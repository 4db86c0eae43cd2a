"""Personas defined once: every permission test uses these people.

Tarascon and Miramas are two communes of department 13; Nîmes is in another department.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts.models import Role, User
from tests.factories import CommuneFactory, DepartmentFactory, MembershipFactory, UserFactory

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# One Playwright/Chromium for the whole session, shared by every app's browser tests: two
# sync_playwright() instances cannot run in one process.
# tests.clamd: a real ClamAV daemon (session-scoped) for the antivirus tests.
pytest_plugins = ["tests.browser.fixtures", "tests.clamd"]


@dataclass
class World:
    department: object
    other_department: object
    tarascon: object
    miramas: object
    nimes: object
    referent: User
    member: User
    member_without_grant: User
    agent: User
    other_agent: User
    liaison: User
    coordinator: User
    dpo: User
    admin: User
    other_referent: User
    other_department_liaison: User


def make_user(
    email: str, role: Role, *, commune=None, department=None, read_charter=True, **extra
) -> User:
    """A person with one confirmed role; ``read_charter``: they acknowledged the charter in
    force where they work (the model one at least), as people at work would have."""
    user = UserFactory(email=email, **extra)
    MembershipFactory(user=user, role=role, commune=commune, department=department)
    TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    if read_charter:
        acknowledge_charters(user)
    return user


@pytest.fixture
def world(db) -> World:
    department = DepartmentFactory(code="13", name="Bouches-du-Rhône")
    other_department = DepartmentFactory(code="30", name="Gard")
    tarascon = CommuneFactory(
        insee_code="13108", name="Tarascon", department=department, reference_prefix="TAR"
    )
    miramas = CommuneFactory(
        insee_code="13063", name="Miramas", department=department, reference_prefix="MIR"
    )
    nimes = CommuneFactory(
        insee_code="30189", name="Nîmes", department=other_department, reference_prefix="NIM"
    )
    return World(
        department=department,
        other_department=other_department,
        tarascon=tarascon,
        miramas=miramas,
        nimes=nimes,
        referent=make_user("referent@tarascon.test", Role.REFERENT, commune=tarascon),
        member=make_user("member@tarascon.test", Role.CELL_MEMBER, commune=tarascon),
        member_without_grant=make_user("member2@tarascon.test", Role.CELL_MEMBER, commune=tarascon),
        agent=make_user("agent@tarascon.test", Role.REPORTING_AGENT, commune=tarascon),
        other_agent=make_user("agent2@tarascon.test", Role.REPORTING_AGENT, commune=tarascon),
        liaison=make_user("liaison@pref13.test", Role.LIAISON, department=department),
        coordinator=make_user(
            "coordinator@tarascon.test", Role.TRAINING_COORDINATOR, commune=tarascon
        ),
        dpo=make_user("dpo@pref13.test", Role.DPO, department=department),
        admin=make_user("admin@cmer.test", Role.TECH_ADMIN, is_staff=True, is_superuser=True),
        other_referent=make_user("referent@miramas.test", Role.REFERENT, commune=miramas),
        other_department_liaison=make_user(
            "liaison@pref30.test", Role.LIAISON, department=other_department
        ),
    )


def acknowledge_charters(*users: User) -> None:
    from cmer.permissions import forget_roles
    from conventions.gates import pending_charters_for
    from conventions.models import CharterAcknowledgement

    for user in users:
        for version in pending_charters_for(user):
            CharterAcknowledgement.objects.create(user=user, charter=version)
        forget_roles(user)  # a test may add a membership to this very object afterwards


def login(client: Client, user: User) -> Client:
    """Log ``user`` in with a verified second factor, as after a real TOTP step."""
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def step_up(client: Client) -> Client:
    """As if the person had just typed a fresh code (cmer.accounts.stepup): for tests of acts
    behind step-up that are not about step-up itself (tests/accounts/test_stepup.py is)."""
    from cmer.accounts.stepup import STEPUP_SESSION_KEY

    session = client.session
    session[STEPUP_SESSION_KEY] = time.time()
    session.save()
    return client


@pytest.fixture
def as_user(client):
    def _as(user: User) -> Client:
        fresh = Client()
        return login(fresh, user)

    return _as


@pytest.fixture(autouse=True)
def _french_unless_asked():
    """Each test starts in French: a request in English activates it for the thread, and a
    later test calling code outside a request would otherwise run in English."""
    from django.utils import translation

    with translation.override(django_settings.LANGUAGE_CODE):
        yield


@pytest.fixture(autouse=True)
def _eager_celery_unless_worker_test(request, settings):
    """Tasks run in-process in tests, except in tests that talk to a real worker."""
    from cmer.celery import app

    if request.node.get_closest_marker("worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = previous
