"""E-mail + password, then a mandatory second factor."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts.demo import current_code
from cmer.audit.models import AuditEntry, Event
from tests.conftest import login, step_up
from tests.factories import PASSWORD

LOGIN = "/comptes/connexion/"
VERIFY = "/comptes/verification/"
ENROL = "/comptes/enrolement/"


def password_step(client, email, password=PASSWORD):
    return client.post(LOGIN, {"username": email, "password": password})


def code_for(device: TOTPDevice, offset_steps: int = 0) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = totp.time + offset_steps * device.step
    return f"{totp.token():06d}"


@pytest.mark.django_db
def test_password_then_totp_reaches_home(client, world):
    response = password_step(client, "Referent@Tarascon.test")
    assert response.status_code == 302
    # Password alone reaches nothing but the second-factor step.
    for url in ["/", "/comptes/compte/", "/admin/"]:
        assert client.get(url)["Location"] == VERIFY
    device = TOTPDevice.objects.get(user=world.referent)
    response = client.post(VERIFY, {"token": current_code(device)})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert AuditEntry.objects.filter(event=Event.LOGIN, actor=world.referent).exists()


@pytest.mark.django_db
def test_totp_code_works_only_once(client, world):
    device = TOTPDevice.objects.get(user=world.referent)
    code = current_code(device)
    password_step(client, world.referent.email)
    assert client.post(VERIFY, {"token": code}).status_code == 302
    other = client.__class__()
    password_step(other, world.referent.email)
    response = other.post(VERIFY, {"token": code})
    assert response.status_code == 200
    assert "déjà utilisé" in response.content.decode()
    assert other.get("/")["Location"] == VERIFY
    assert AuditEntry.objects.filter(event=Event.OTP_FAILED, actor=world.referent).exists()


@pytest.mark.django_db
def test_wrong_code_is_refused_with_a_clear_message(client, world):
    password_step(client, world.agent.email)
    response = client.post(VERIFY, {"token": "000000"})
    assert "Code incorrect" in response.content.decode()
    assert client.get("/")["Location"] == VERIFY


@pytest.mark.django_db
def test_unknown_email_and_wrong_password_get_the_same_answer(client, world):
    unknown = password_step(client, "nobody@nowhere.test", "whatever password 123")
    wrong = password_step(client.__class__(), world.referent.email, "wrong password 1234")
    assert unknown.status_code == wrong.status_code == 200
    strip = lambda r: re.sub(r'(value|nonce)="[^"]*"', "", r.content.decode())  # noqa: E731
    assert strip(unknown) == strip(wrong)
    assert SESSION_KEY not in client.session
    assert AuditEntry.objects.filter(event=Event.LOGIN_FAILED).count() == 2


@pytest.mark.django_db
def test_five_failures_lock_the_account(client, world):
    for _ in range(5):
        password_step(client, world.member.email, "not the password at all")
    response = password_step(client, world.member.email)  # right password, still locked
    assert response.status_code == 429
    assert "verrouillé" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert AuditEntry.objects.filter(event=Event.LOCKOUT).exists()
    # Another account is not affected.
    assert password_step(client.__class__(), world.agent.email).status_code == 302


@pytest.mark.django_db
def test_user_without_device_is_enrolled_before_anything_else(
    client, world, django_capture_on_commit_callbacks
):
    TOTPDevice.objects.filter(user=world.agent).delete()
    password_step(client, world.agent.email)
    assert client.get("/")["Location"] == ENROL
    # The password alone shows no QR code: the enrolment goes through the link by e-mail.
    page = client.get(ENROL)
    html = page.content.decode()
    assert "data:image/svg+xml" not in html
    assert not TOTPDevice.objects.filter(user=world.agent).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(ENROL).status_code == 302
        assert client.post(ENROL).status_code == 302  # a second click: no second e-mail
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/comptes/activation/\S+)", mail.outbox[0].body).group(1)
    step = client.get(link)["Location"]
    client.post(step, {"password": PASSWORD})
    client.get(step)
    device = TOTPDevice.objects.get(user=world.agent, confirmed=False)
    assert client.post(step, {"token": "123456"}).status_code == 200  # wrong code
    # django-otp throttles after a failure (1 s, then 2 s, …): come back a little later.
    with time_machine.travel(timezone.now() + datetime.timedelta(seconds=5)):
        device.refresh_from_db()
        response = client.post(step, {"token": current_code(device)})
    assert response.status_code == 200
    codes = re.findall(r"<li>([a-z0-9]{8})</li>", response.content.decode())
    assert len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200
    # A backup code works once, at the next login.
    client.post("/comptes/deconnexion/")
    password_step(client, world.agent.email)
    assert client.post(VERIFY, {"token": codes[0]}).status_code == 302
    assert not StaticToken.objects.filter(token=codes[0]).exists()


@pytest.mark.django_db
def test_admin_requires_second_factor_and_has_no_own_login(client, world):
    password_step(client, world.admin.email)
    assert client.get("/admin/")["Location"] == VERIFY
    response = client.__class__().get("/admin/login/?next=/admin/")
    assert response["Location"].startswith(LOGIN)
    login(client, world.admin)
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_password_reset_keeps_the_second_factor(client, world):
    client.post("/comptes/mot-de-passe-oublie/", {"email": world.agent.email})
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    link = re.search(r"https?://[^/]+(/comptes/reinitialisation/\S+)", body).group(1)
    page = client.get(link, follow=True)
    form_url = page.redirect_chain[-1][0] if page.redirect_chain else link
    new = "a brand new long passphrase 2026"
    response = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    password_step(client, world.agent.email, new)
    assert client.get("/")["Location"] == VERIFY


@pytest.mark.django_db
def test_changing_email_or_device_asks_for_the_password(client, world):
    login(client, world.agent)
    step_up(client)  # and a fresh code: tests/accounts/test_stepup.py
    response = client.post(
        "/comptes/compte/adresse/", {"email": "new@tarascon.test", "password": "wrong"}
    )
    assert response.status_code == 200
    world.agent.refresh_from_db()
    assert world.agent.email == "agent@tarascon.test"
    client.post("/comptes/compte/adresse/", {"email": "new@tarascon.test", "password": PASSWORD})
    world.agent.refresh_from_db()
    assert world.agent.email == "new@tarascon.test"

    assert client.post("/comptes/compte/second-facteur/", {"password": "nope"}).status_code == 200
    assert TOTPDevice.objects.filter(user=world.agent).exists()
    response = client.post("/comptes/compte/second-facteur/", {"password": PASSWORD})
    assert response["Location"] == ENROL
    assert not TOTPDevice.objects.filter(user=world.agent, confirmed=True).exists()
    assert client.get("/")["Location"] == ENROL


@pytest.mark.django_db
def test_logout_from_every_page(client, world):
    login(client, world.referent)
    html = client.get("/").content.decode()
    assert 'action="/comptes/deconnexion/"' in html
    key = client.session.session_key
    client.post("/comptes/deconnexion/")
    from django.contrib.sessions.models import Session

    assert not Session.objects.filter(session_key=key).exists()
    assert AuditEntry.objects.filter(event=Event.LOGOUT, actor=world.referent).exists()


@pytest.mark.django_db
def test_login_messages_in_english_when_chosen(client, world):
    client.post("/i18n/setlang/", {"language": "en", "next": LOGIN})
    response = client.get(LOGIN)
    assert response["Content-Language"] == "en"


@pytest.mark.django_db
def test_totp_from_two_minutes_ago_is_refused(client, world):
    device = TOTPDevice.objects.get(user=world.referent)
    password_step(client, world.referent.email)
    response = client.post(VERIFY, {"token": code_for(device, offset_steps=-4)})
    assert response.status_code == 200
    assert client.get("/")["Location"] == VERIFY
