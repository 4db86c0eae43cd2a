"""Invitation and enrolment through a one-time link to the person's own address (issue 11)."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts import identity, tasks
from cmer.accounts.demo import current_code
from cmer.accounts.models import User
from cmer.audit.models import AuditEntry, Event
from tests.factories import PASSWORD

NEW = "a passphrase chosen by the person"


def invite(admin, django_capture_on_commit_callbacks, email="new.member@tarascon.test") -> User:
    with django_capture_on_commit_callbacks(execute=True):
        user = identity.do_invite_user(User(email=email), acting_user=admin)
    return user


def link_in(message) -> str:
    return re.search(r"https?://[^/]+(/comptes/activation/\S+)", message.body)[1]


def enrolment_page(client, link):
    response = client.get(link)
    assert response.status_code == 302, response.status_code
    step = response["Location"]
    assert "/etape/" in step  # the token left the URL for the session
    return step


@pytest.mark.django_db
def test_invitation_link_lets_the_person_choose_password_and_enrol(
    client, world, django_capture_on_commit_callbacks
):
    user = invite(world.admin, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[0])
    step = enrolment_page(client, link)
    page = client.get(step).content.decode()
    assert "data:image/svg+xml" in page and 'name="new_password1"' in page
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    # A failed form saves nothing: mismatched passwords, valid code.
    response = client.post(
        step, {"new_password1": NEW, "new_password2": NEW + "x", "token": current_code(device)}
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert not user.has_usable_password()
    device.refresh_from_db()
    assert not device.confirmed
    # Too short a password is refused too.
    client.post(step, {"new_password1": "short", "new_password2": "short", "token": "1"})
    user.refresh_from_db()
    assert not user.has_usable_password()
    response = client.post(
        step, {"new_password1": NEW, "new_password2": NEW, "token": current_code(device)}
    )
    assert response.status_code == 200
    assert len(re.findall(r"<li>([a-z0-9]{8})</li>", response.content.decode())) == 10
    user.refresh_from_db()
    assert user.check_password(NEW)
    device.refresh_from_db()
    assert device.confirmed
    # Landed logged in with both factors.
    assert client.session[SESSION_KEY] == str(user.pk)
    assert client.get("/").status_code == 200
    assert AuditEntry.objects.filter(event=Event.OTP_ENROLLED, actor=user).exists()
    # The first choice of a password is no "your password was changed" e-mail.
    assert len(mail.outbox) == 1
    # The link is spent, even in another browser.
    other = client.__class__()
    response = other.get(link)
    assert response.status_code == 404
    assert "plus valide" in response.content.decode()


@pytest.mark.django_db
def test_expired_and_forged_links_are_refused(client, world, django_capture_on_commit_callbacks):
    user = invite(world.admin, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[0])
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=80)):
        response = client.get(link)
    assert response.status_code == 404
    assert "plus valide" in response.content.decode()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    for token in ["nope", "c0ffee-0123456789abcdef", default_token_generator.make_token(user)]:
        # A password reset token is not an enrolment token.
        assert client.get(f"/comptes/activation/{uid}/{token}/").status_code == 404
    # The step URL without a token in the session.
    assert client.get(f"/comptes/activation/{uid}/etape/").status_code == 404
    # Another person's uid with this token.
    other_uid = urlsafe_base64_encode(force_bytes(world.agent.pk))
    assert client.get(link.replace(f"/{uid}/", f"/{other_uid}/")).status_code == 404
    assert not TOTPDevice.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_deactivated_account_link_is_refused(client, world, django_capture_on_commit_callbacks):
    user = invite(world.admin, django_capture_on_commit_callbacks)
    link = link_in(mail.outbox[0])
    user.is_active = False
    user.save()
    assert client.get(link).status_code == 404


@pytest.mark.django_db
def test_second_factor_reset_link_asks_the_current_password_first(
    client, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        identity.do_reset_second_factor(world.member, acting_user=world.admin)
    link = link_in(mail.outbox[0])
    step = enrolment_page(client, link)
    page = client.get(step).content.decode()
    # No QR code (no secret) before the password: the mailbox alone is not enough.
    assert "data:image/svg+xml" not in page and 'name="password"' in page
    assert not TOTPDevice.objects.filter(user=world.member).exists()
    assert client.post(step, {"password": "not the password"}).status_code == 200
    assert not TOTPDevice.objects.filter(user=world.member).exists()
    assert client.post(step, {"password": PASSWORD}).status_code == 302
    page = client.get(step).content.decode()
    assert "data:image/svg+xml" in page and 'name="new_password1"' not in page
    device = TOTPDevice.objects.get(user=world.member, confirmed=False)
    response = client.post(step, {"token": current_code(device)})
    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/").status_code == 200
    world.member.refresh_from_db()
    assert world.member.check_password(PASSWORD)  # the password was not touched
    assert client.__class__().get(link).status_code == 404


@pytest.mark.django_db
def test_password_guesses_on_the_link_are_counted_by_the_lockout(
    client, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        identity.do_reset_second_factor(world.member, acting_user=world.admin)
    step = enrolment_page(client, link_in(mail.outbox[0]))
    for _ in range(5):
        client.post(step, {"password": "a wrong guess 1234"})
    response = client.post(step, {"password": PASSWORD})
    assert response.status_code == 429
    assert not TOTPDevice.objects.filter(user=world.member).exists()
    # The login page counts the same failures.
    login = client.__class__().post(
        "/comptes/connexion/", {"username": world.member.email.upper(), "password": PASSWORD}
    )
    assert login.status_code == 429


@pytest.mark.django_db
def test_emails_no_longer_wanted_are_not_sent(world, django_capture_on_commit_callbacks):
    # An invitation for an account that has enrolled since, an enrolment link for someone who
    # has a device: the task re-checks and sends nothing.
    assert tasks.send_account_email.apply(args=[world.agent.pk, tasks.INVITATION]).get() == 0
    assert tasks.send_account_email.apply(args=[world.agent.pk, tasks.ENROLMENT]).get() == 0
    assert tasks.send_account_email.apply(args=[world.agent.pk, "whatever"]).get() == 0
    world.agent.is_active = False
    world.agent.save()
    assert tasks.send_account_email.apply(args=[world.agent.pk, tasks.PASSWORD_RESET]).get() == 0
    assert not mail.outbox


@pytest.mark.django_db
def test_resending_to_an_invited_person_sends_the_invitation_again(
    world, django_capture_on_commit_callbacks
):
    user = invite(world.admin, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        kind = identity.do_send_password_link(user, acting_user=world.admin)
    assert kind == tasks.INVITATION
    assert len(mail.outbox) == 2
    assert "/comptes/activation/" in mail.outbox[1].body


@pytest.mark.django_db
def test_a_new_link_shows_a_new_key(client, world, django_capture_on_commit_callbacks):
    user = invite(world.admin, django_capture_on_commit_callbacks)
    step = enrolment_page(client, link_in(mail.outbox[0]))
    client.get(step)
    seen = TOTPDevice.objects.get(user=user, confirmed=False).key
    with django_capture_on_commit_callbacks(execute=True):
        identity.do_send_password_link(user, acting_user=world.admin)
    other = client.__class__()
    other.get(enrolment_page(other, link_in(mail.outbox[1])))
    assert TOTPDevice.objects.get(user=user, confirmed=False).key != seen
    assert "/comptes/activation/" in mail.outbox[1].body


@pytest.mark.django_db
def test_a_redelivered_message_sends_no_second_email(world):
    args = [world.agent.pk, tasks.PASSWORD_RESET]
    assert tasks.send_account_email.apply(args=args, task_id="cmer-outbox-1").get() == 1
    assert tasks.send_account_email.apply(args=args, task_id="cmer-outbox-1").get() == 0
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_an_administrator_sent_reset_link_expires(
    client, world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        identity.do_send_password_link(world.agent, acting_user=world.admin)
    link = re.search(r"https?://[^/]+(/comptes/reinitialisation/\S+)", mail.outbox[0].body)[1]
    # PASSWORD_RESET_HOURS is 2 (time_machine moves Django's naive clock by one hour less).
    with time_machine.travel(timezone.now() + datetime.timedelta(hours=4)):
        page = client.get(link, follow=True)
    assert "plus valide" in page.content.decode()
    assert 'name="new_password1"' not in page.content.decode()
