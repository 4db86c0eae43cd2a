"""Sessions a person can see and end (issue 17 point 4); the administrator ends all of a
person's sessions; a change of password, second factor or roles acts on the sessions (issue 11
point 5)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from cmer.accounts.memberships import do_confirm_membership, version_of
from cmer.accounts.models import Membership, Role, UserSession
from cmer.accounts.sessions import describe_agent, key_digest
from cmer.audit.models import AuditEntry, Event
from tests.conftest import login, step_up
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

SESSIONS = reverse("accounts:sessions")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def browser(user, agent: str, address: str = "192.0.2.10") -> Client:
    """A real login (password + code) from a given browser and address."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cmer.accounts.demo import current_code

    client = Client(headers={"user-agent": agent}, REMOTE_ADDR=address)
    client.post("/comptes/connexion/", {"username": user.email, "password": PASSWORD})
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    device.last_t = -1  # each login in these tests uses the same time step
    device.save(update_fields=["last_t"])
    response = client.post("/comptes/verification/", {"token": current_code(device)})
    assert response.status_code == 302, response
    return client


def test_the_page_lists_my_sessions_with_device_address_and_this_one_marked(world):
    office = browser(world.referent, FIREFOX, "192.0.2.10")
    phone = browser(world.referent, CHROME, "198.51.100.7")
    browser(world.member, CHROME, "203.0.113.99")  # someone else's: never shown
    response = office.get(SESSIONS)
    assert response.status_code == 200
    page = response.content.decode()
    rows = response.context["rows"]
    assert len(rows) == 2
    assert "Firefox 128 — Windows" in page and "Chrome 131 — Linux" in page
    assert "192.0.2.10" in page and "198.51.100.7" in page
    assert "203.0.113.99" not in page
    current = [link for link, _device, is_current in rows if is_current]
    assert [link.session_key for link in current] == [office.session.session_key]
    assert page.count('data-testid="this-session"') == 1
    # No session key anywhere on the page.
    assert office.session.session_key not in page and phone.session.session_key not in page


def test_i_end_another_session_and_that_browser_is_logged_out(world):
    office = browser(world.referent, FIREFOX)
    phone = browser(world.referent, CHROME)
    link = UserSession.objects.get(session_key=phone.session.session_key)
    response = office.post(reverse("accounts:session_end", args=[link.pk]))
    assert response.status_code == 302
    assert phone.get("/")["Location"].startswith("/comptes/connexion/")
    assert office.get("/").status_code == 200
    entry = AuditEntry.objects.filter(event=Event.LOGOUT, actor=world.referent).latest("id")
    assert entry.additional_data == {
        "sessions": "ended_one",
        "session": key_digest(link.session_key),
    }
    assert link.session_key not in str(entry.additional_data)


def test_end_all_other_sessions_keeps_this_one(world):
    office = browser(world.referent, FIREFOX)
    others = [browser(world.referent, CHROME) for _ in range(2)]
    member = browser(world.member, CHROME)
    office.post(reverse("accounts:sessions_end_others"))
    assert office.get("/").status_code == 200
    for other in others:
        assert other.get("/")["Location"].startswith("/comptes/connexion/")
    assert member.get("/").status_code == 200  # another person's session is untouched
    assert UserSession.objects.filter(user=world.referent).count() == 1


def test_nobody_sees_or_ends_another_persons_session(world):
    mine = browser(world.referent, FIREFOX)
    theirs = browser(world.member, CHROME)
    link = UserSession.objects.get(session_key=theirs.session.session_key)
    own = UserSession.objects.get(session_key=mine.session.session_key)
    for pk in (link.pk, own.pk, 999999):  # another's, this one (use "se déconnecter"), guessed
        response = mine.post(reverse("accounts:session_end", args=[pk]))
        assert response.status_code == 404, pk
    assert theirs.get("/").status_code == 200
    assert mine.get(reverse("accounts:session_end", args=[link.pk])).status_code == 405
    anonymous = Client().get(SESSIONS)
    assert anonymous["Location"].startswith("/comptes/connexion/")


def test_sessions_page_query_count(world, django_assert_max_num_queries):
    office = browser(world.referent, FIREFOX)
    for _ in range(5):
        browser(world.referent, CHROME)
    office.get(SESSIONS)
    with django_assert_max_num_queries(12):
        assert office.get(SESSIONS).status_code == 200


def test_changing_my_password_ends_my_other_sessions(world):
    office = browser(world.referent, FIREFOX)
    phone = browser(world.referent, CHROME)
    step_up(office)
    new = "a new passphrase for 2026"
    response = office.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert office.get("/").status_code == 200
    assert phone.get("/")["Location"].startswith("/comptes/connexion/")
    # This session is still listed (its link followed the key Django cycled).
    assert [link.session_key for link, _d, _c in office.get(SESSIONS).context["rows"]] == [
        office.session.session_key
    ]


def test_changing_my_second_factor_ends_my_other_sessions(world):
    office = browser(world.referent, FIREFOX)
    phone = browser(world.referent, CHROME)
    step_up(office)
    office.post(reverse("accounts:reset_second_factor"), {"password": PASSWORD})
    assert phone.get("/")["Location"].startswith("/comptes/connexion/")
    assert office.get("/")["Location"] == reverse("accounts:otp_enrol")


def test_the_administrator_ends_every_session_of_a_person(
    world, django_capture_on_commit_callbacks
):
    first = browser(world.member, FIREFOX)
    second = browser(world.member, CHROME)
    admin = step_up(login(Client(), world.admin))
    url = reverse("admin:accounts_user_sessions", args=[world.member.pk])
    assert admin.get(url).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert admin.post(url).status_code == 302
    for client in (first, second):
        assert client.get("/")["Location"].startswith("/comptes/connexion/")
    assert not UserSession.objects.filter(user=world.member).exists()
    (entry,) = [
        e
        for e in AuditEntry.objects.filter(event=Event.CHANGE)
        if (e.additional_data or {}).get("account") == "sessions_ended"
    ]
    assert entry.actor == world.admin and entry.object_pk == str(world.member.pk)
    assert entry.additional_data["sessions"] == 2
    (message,) = mail.outbox
    assert message.to == [world.member.email]
    assert "sessions" in message.subject
    # A member cannot reach that admin page.
    member = login(Client(), world.referent)
    assert member.post(url).status_code in (302, 404)
    assert UserSession.objects.filter(user=world.referent).exists()


def test_a_change_of_roles_rotates_the_key_at_the_next_request(world):
    """Issue 11 point 5: confirmed, ended or refused, the session notices at once."""
    client = browser(world.agent, FIREFOX)
    assert client.get("/").status_code == 200
    key = client.session.session_key
    assert client.get("/").status_code == 200
    assert client.session.session_key == key  # nothing changed: same key
    # Confirmed: a new role.
    request = MembershipFactory(
        user=world.agent,
        role=Role.CELL_MEMBER,
        commune=world.miramas,
        requested=True,
        requested_by=world.admin,
    )
    do_confirm_membership(request.pk, acting_user=world.other_referent, version=version_of(request))
    step_up(client)
    response = client.get("/", follow=True)
    assert response.status_code == 200
    rotated = client.session.session_key
    assert rotated != key
    assert not Session.objects.filter(session_key=key).exists()
    assert "Vos rôles ont changé" in response.content.decode()
    assert UserSession.objects.filter(session_key=rotated, user=world.agent).exists()
    # The step-up window closed with the change of roles.
    from cmer.accounts.stepup import is_fresh

    class _R:
        session = client.session

    assert not is_fresh(_R())
    # Ended (an earlier end date): the key changes again.
    membership = Membership.objects.get(pk=request.pk)
    membership.ends_on = timezone.localdate() - timezone.timedelta(days=1)
    membership.starts_on = membership.ends_on
    membership.save()
    client.get("/")
    assert client.session.session_key != rotated


def test_describe_agent():
    assert describe_agent(FIREFOX) == "Firefox 128 — Windows"
    assert describe_agent(CHROME) == "Chrome 131 — Linux"
    assert describe_agent("") == ""
    assert describe_agent("curl/8.5") == ""


def password_only(user, agent: str, address: str) -> Client:
    """Someone who knows the password but not the second factor: stopped at the code page."""
    client = Client(headers={"user-agent": agent}, REMOTE_ADDR=address)
    response = client.post("/comptes/connexion/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/")["Location"].startswith("/comptes/verification/")
    return client


def test_a_session_stopped_at_the_second_factor_is_shown_apart_with_a_warning(world):
    office = browser(world.referent, FIREFOX, "192.0.2.10")
    stranger = password_only(world.referent, CHROME, "203.0.113.50")
    response = office.get(SESSIONS)
    page = response.content.decode()
    assert "203.0.113.50" in page
    assert page.count('data-testid="awaiting-second-factor"') == 1
    assert 'data-testid="awaiting-warning"' in page
    assert "changez votre mot de passe" in page
    link = UserSession.objects.get(session_key=stranger.session.session_key)
    assert link.second_factor_at is None
    # It can be ended like any other; the person is then told nothing is pending any more.
    office.post(reverse("accounts:session_end", args=[link.pk]))
    page = office.get(SESSIONS).content.decode()
    assert 'data-testid="awaiting-warning"' not in page
    assert "203.0.113.50" not in page


def test_passing_the_second_factor_marks_the_session_verified(world):
    client = password_only(world.referent, FIREFOX, "192.0.2.10")
    key = client.session.session_key
    assert UserSession.objects.get(session_key=key).second_factor_at is None
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cmer.accounts.demo import current_code

    device = TOTPDevice.objects.get(user=world.referent, confirmed=True)
    device.last_t = -1
    device.save(update_fields=["last_t"])
    assert client.post("/comptes/verification/", {"token": current_code(device)}).status_code == 302
    link = UserSession.objects.get(session_key=client.session.session_key)
    assert link.session_key != key  # the key was rotated, the link followed
    assert link.second_factor_at is not None
    page = client.get(SESSIONS).content.decode()
    assert 'data-testid="awaiting-second-factor"' not in page


def test_the_migration_marks_sessions_verified_from_their_stored_data(world):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("cmer.accounts.migrations.0004_session_second_factor")
    verified = browser(world.referent, FIREFOX)
    pending = password_only(world.referent, CHROME, "203.0.113.50")
    UserSession.objects.update(second_factor_at=None)  # as before the field existed
    migration.mark_verified_sessions(apps, None)
    links = {link.session_key: link for link in UserSession.objects.all()}
    assert links[verified.session.session_key].second_factor_at is not None
    assert links[pending.session.session_key].second_factor_at is None
