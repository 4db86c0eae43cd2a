"""Step-up (issue 17 point 3): a fresh code, valid 5 minutes, in this session only, before
exporting personal data, changing one's password / second factor / address, or deciding an
access request. A wrong code or a crafted POST without one does nothing."""

from __future__ import annotations

import datetime
import time
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts.demo import current_code
from cmer.accounts.memberships import version_of
from cmer.accounts.models import MembershipStatus, Role
from cmer.accounts.stepup import STEPUP_FIELD
from cmer.audit.models import AuditEntry, Event
from tests.conftest import login
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

CSV = reverse("audit:export", args=["csv"])
STEPUP = reverse("accounts:stepup")
# Tomorrow morning: the personas' memberships start today.
START = datetime.datetime.combine(
    datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1),
    datetime.time(9, 0, 5),
    datetime.UTC,
)
# django-otp throttles a device for a second after a wrong code.
THROTTLE = datetime.timedelta(seconds=2)


def code_of(user) -> str:
    return current_code(TOTPDevice.objects.get(user=user, confirmed=True))


def exports() -> int:
    return AuditEntry.objects.filter(event=Event.EXPORT).count()


def is_challenge(response) -> bool:
    return response.status_code == 403 and "accounts/stepup.html" in [
        t.name for t in response.templates
    ]


def test_an_export_asks_for_a_code_then_works_for_five_minutes_in_this_session(world):
    with time_machine.travel(START, tick=False) as clock:
        dpo = login(Client(), world.dpo)
        response = dpo.post(CSV, {"event": "access"})
        assert is_challenge(response)
        page = response.content.decode()
        assert "Confirmez avec votre code" in page
        # The form re-posts what was asked, to the same address, with the code.
        assert f'action="{CSV}"' in page
        assert 'name="event" value="access"' in page
        assert exports() == 0

        response = dpo.post(CSV, {"event": "access", STEPUP_FIELD: code_of(world.dpo)})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        # The file says whose it is and when (the PDF says it too: "Établi le … par …").
        first_line = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()[0]
        day = START.astimezone(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y")
        assert first_line.startswith(f"Export établi le {day} 10:00 par ")
        assert f"<{world.dpo.email}>" in first_line
        entry = AuditEntry.objects.get(event=Event.EXPORT)
        assert entry.actor == world.dpo and entry.additional_data["event"] == "access"

        clock.shift(datetime.timedelta(minutes=4, seconds=59))
        assert dpo.post(CSV, {}).status_code == 200  # still within the 5 minutes
        assert exports() == 2
        clock.shift(datetime.timedelta(seconds=2))
        assert is_challenge(dpo.post(CSV, {}))  # 5 min 1 s: a new code is needed
        assert exports() == 2


def test_the_code_counts_for_this_session_only(world):
    with time_machine.travel(START, tick=False):
        first, second = login(Client(), world.dpo), login(Client(), world.dpo)
        assert first.post(CSV, {STEPUP_FIELD: code_of(world.dpo)}).status_code == 200
        assert first.post(CSV, {}).status_code == 200
        assert is_challenge(second.post(CSV, {}))
        assert exports() == 2


def test_a_wrong_or_reused_code_is_refused_clearly_and_nothing_happens(world):
    with time_machine.travel(START, tick=False) as clock:
        dpo = login(Client(), world.dpo)
        response = dpo.post(CSV, {"event": "access", STEPUP_FIELD: "123456"})
        assert is_challenge(response)
        page = response.content.decode()
        assert "Code incorrect ou déjà utilisé : rien n&#x27;a été fait" in page
        assert 'name="event" value="access"' in page  # the request is kept for a new try
        assert exports() == 0
        assert AuditEntry.objects.filter(event=Event.OTP_FAILED, actor=world.dpo).exists()
        clock.shift(THROTTLE)
        # A code is accepted once: the same six digits cannot open another session's window.
        code = code_of(world.dpo)
        assert dpo.post(CSV, {STEPUP_FIELD: code}).status_code == 200
        other = login(Client(), world.dpo)
        assert is_challenge(other.post(CSV, {STEPUP_FIELD: code}))
        clock.shift(datetime.timedelta(seconds=30))
        assert other.post(CSV, {STEPUP_FIELD: code_of(world.dpo)}).status_code == 200


def test_a_backup_code_works_once(world):
    device = StaticDevice.objects.create(user=world.dpo, name="backup", confirmed=True)
    StaticToken.objects.create(device=device, token="abcd2345")
    dpo = login(Client(), world.dpo)
    assert dpo.post(CSV, {STEPUP_FIELD: "ABCD 2345"}).status_code == 200
    assert not StaticToken.objects.filter(device=device).exists()
    assert is_challenge(login(Client(), world.dpo).post(CSV, {STEPUP_FIELD: "abcd2345"}))


def test_a_download_goes_to_the_code_page_and_back(world):
    from cmer.audit.models import AuditExport

    prepared = AuditExport.objects.create(
        requested_by=world.dpo, filters={}, status=AuditExport.Status.READY, content=b"%PDF-1.7"
    )
    url = reverse("audit:export_download", args=[prepared.pk])
    with time_machine.travel(START, tick=False) as clock:
        dpo = login(Client(), world.dpo)
        response = dpo.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{STEPUP}?next={quote(url, safe='')}"
        page = dpo.get(response["Location"])
        assert page.status_code == 200
        assert f'name="next" value="{url}"' in page.content.decode()
        response = dpo.post(STEPUP, {"next": url, STEPUP_FIELD: "000000"})
        assert response.status_code == 200
        assert "Code incorrect" in response.content.decode()
        clock.shift(THROTTLE)
        response = dpo.post(STEPUP, {"next": url, STEPUP_FIELD: code_of(world.dpo)})
        assert response.status_code == 302 and response["Location"] == url
        download = dpo.get(url)
        assert download.status_code == 200 and download["Content-Type"] == "application/pdf"


def test_the_code_page_never_sends_elsewhere(world):
    client = login(Client(), world.agent)
    response = client.post(
        STEPUP, {"next": "https://evil.example/x", STEPUP_FIELD: code_of(world.agent)}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get(STEPUP + "?next=//evil.example/").status_code == 200
    assert client.put(STEPUP).status_code == 405
    assert Client().get(STEPUP)["Location"].startswith("/comptes/connexion/")


def test_who_may_not_see_the_object_gets_404_not_a_code_prompt(world):
    """Step-up comes after the access check: a prompt would tell that the object exists."""
    for persona in ("referent", "agent", "liaison", "coordinator", "admin"):
        client = login(Client(), getattr(world, persona))
        assert client.post(CSV, {}).status_code == 404, persona
    membership = MembershipFactory(
        user=UserFactory(email="n@tarascon.test"),
        role=Role.CELL_MEMBER,
        commune=world.tarascon,
        requested=True,
        requested_by=world.admin,
    )
    url = reverse("memberships:confirm", args=[membership.pk])
    assert login(Client(), world.other_referent).post(url, {}).status_code == 404
    assert login(Client(), world.referent).post(
        "/roles/demandes/999999/confirmer/"
    ).status_code == (404)


def test_a_crafted_decision_without_a_code_is_refused(world):
    membership = MembershipFactory(
        user=UserFactory(email="n@tarascon.test"),
        role=Role.CELL_MEMBER,
        commune=world.tarascon,
        requested=True,
        requested_by=world.admin,
    )
    referent = login(Client(), world.referent)
    confirm = reverse("memberships:confirm", args=[membership.pk])
    refuse = reverse("memberships:refuse", args=[membership.pk])
    assert is_challenge(referent.post(confirm, {"version": version_of(membership)}))
    response = referent.post(refuse, {"version": version_of(membership), "reason": "Inconnu"})
    assert is_challenge(response)
    assert referent.get(refuse)["Location"].startswith(STEPUP)
    response = referent.post(
        confirm, {"version": version_of(membership), STEPUP_FIELD: "999999"}, follow=True
    )
    assert is_challenge(response)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.REQUESTED
    # With the code, the same request confirms.
    time.sleep(1.1)  # django-otp throttles the device for a second after a wrong code
    response = referent.post(
        confirm, {"version": version_of(membership), STEPUP_FIELD: code_of(world.referent)}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CONFIRMED


def test_own_account_changes_ask_for_a_code(world):
    client = login(Client(), world.agent)
    for name in (
        "accounts:password_change",
        "accounts:reset_second_factor",
        "accounts:backup_codes",
        "accounts:change_email",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(STEPUP), name
    new = "a brand new passphrase 2026"
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert is_challenge(response)
    page = response.content.decode()
    assert new not in page and PASSWORD not in page  # passwords are never written back
    assert "n'ont pas été conservés" in page
    world.agent.refresh_from_db()
    assert world.agent.check_password(PASSWORD)
    assert is_challenge(
        client.post(reverse("accounts:reset_second_factor"), {"password": PASSWORD})
    )
    assert TOTPDevice.objects.filter(user=world.agent, confirmed=True).exists()
    response = client.post(
        reverse("accounts:change_email"), {"email": "x@tarascon.test", "password": PASSWORD}
    )
    assert is_challenge(response)
    world.agent.refresh_from_db()
    assert world.agent.email == "agent@tarascon.test"
    # After the code, the form; the change then needs the password as before.
    client.post(STEPUP, {"next": "/", STEPUP_FIELD: code_of(world.agent)})
    assert client.get(reverse("accounts:password_change")).status_code == 200
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    world.agent.refresh_from_db()
    assert world.agent.check_password(new)


def test_training_exports_ask_for_a_code(world, settings, tmp_path):
    from tests.training.factories import AttendanceFactory, TraineeFactory, TrainingSessionFactory

    session = TrainingSessionFactory(
        commune=world.tarascon, created_by=world.coordinator, status="held"
    )
    attendance = AttendanceFactory(
        session=session, trainee=TraineeFactory(department=world.department), status="present"
    )
    coordinator = login(Client(), world.coordinator)
    url = reverse("training:attestation_pdf", args=[attendance.pk])
    assert coordinator.get(url)["Location"].startswith(STEPUP)
    bundle = reverse("training:bundle_request", args=[session.pk])
    assert is_challenge(coordinator.post(bundle))
    from training.models import AttestationBundle

    assert not AttestationBundle.objects.exists()
    # Another commune's coordinator: 404 as before, no prompt.
    assert login(Client(), world.other_referent).get(url).status_code == 404
