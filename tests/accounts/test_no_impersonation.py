"""No impersonation (issue 11, point 3): the technical administrator never sees a TOTP secret,
never sets a password, and every act on someone's credentials is in the audit trail."""

from __future__ import annotations

import base64
import re
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.hashers import check_password
from django.core import mail
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts.demo import current_code
from cmer.accounts.identity import backup_codes_for
from cmer.accounts.models import User
from cmer.audit.models import AuditEntry, Event
from tests.conftest import login, step_up
from tests.factories import PASSWORD


def account_entries(what: str, **filters) -> list[AuditEntry]:
    """Entries of one kind of act on an account (``data["account"]``, see accounts.identity)."""
    entries = AuditEntry.objects.filter(event=Event.CHANGE, **filters).order_by("pk")
    return [e for e in entries if (e.additional_data or {}).get("account") == what]


HREF = re.compile(r'(?:href|action)="(/admin/[^"#]*)"')
MAX_PAGES = 700


def secrets_of_every_device() -> set[str]:
    """Every form in which a TOTP secret or a backup code could leak into a page."""
    found: set[str] = set()
    for device in TOTPDevice.objects.all():
        raw = base64.b32encode(device.bin_key).decode().rstrip("=")
        found |= {
            device.key.lower(),
            device.key.upper(),
            raw,
            raw.lower(),
            " ".join(raw[i : i + 4] for i in range(0, len(raw), 4)),
            device.config_url,
        }
    found |= set(StaticToken.objects.values_list("token", flat=True))
    return found


def admin_start_urls() -> list[str]:
    urls = ["/admin/"]
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        urls += [f"/admin/{info[0]}/{info[1]}/", f"/admin/{info[0]}/{info[1]}/add/"]
        for pk in model_admin.get_queryset(_FakeRequest()).values_list("pk", flat=True)[:40]:
            base = f"/admin/{info[0]}/{info[1]}/{pk}/"
            urls += [f"{base}change/", f"{base}history/", f"{base}delete/"]
    # django-otp's pages, whether or not registered: change, config (key) and QR code pages.
    for device in TOTPDevice.objects.all():
        base = f"/admin/otp_totp/totpdevice/{device.pk}/"
        urls += [f"{base}change/", f"{base}config/", f"{base}qrcode/"]
    for device in StaticDevice.objects.all():
        urls.append(f"/admin/otp_static/staticdevice/{device.pk}/change/")
    urls += ["/admin/otp_totp/totpdevice/", "/admin/otp_static/staticdevice/"]
    for user in User.objects.all():
        base = f"/admin/accounts/user/{user.pk}/"
        urls += [f"{base}password/", f"{base}lien-mot-de-passe/", f"{base}second-facteur/"]
    return urls


class _FakeRequest:
    """Enough of a request for ModelAdmin.get_queryset (ordering, no user-dependent filter)."""

    GET: dict = {}


@pytest.fixture
def demo_world(world, settings):
    from cmer.accounts.demo import seed

    settings.DEBUG = True
    seed()
    settings.DEBUG = False
    backup_codes_for(world.member)
    backup_codes_for(User.objects.get(email="referent@tarascon.demo"))
    # An enrolment in progress: its key exists but is not confirmed yet.
    TOTPDevice.objects.create(user=world.other_agent, name="pending", confirmed=False)
    return world


@pytest.mark.django_db
def test_no_admin_page_shows_a_totp_secret_qr_code_or_backup_code(client, demo_world):
    secrets = secrets_of_every_device()
    assert len(secrets) > 50  # the demo users' and the world's devices and codes
    login(client, demo_world.admin)
    queue = deque(admin_start_urls())
    seen: set[str] = set()
    statuses: dict[int, int] = {}
    while queue and len(seen) < MAX_PAGES:
        url = urldefrag(queue.popleft())[0].replace("&amp;", "&")
        path = urlsplit(url).path
        if url in seen or path.endswith("/logout/"):
            continue
        # Filters and sort orders of a changelist: the first variant of each page is enough.
        if "?" in url and any(u.startswith(path + "?") for u in seen):
            continue
        seen.add(url)
        response = client.get(url)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        body = response.content.decode(errors="replace")
        leaked = [secret for secret in secrets if secret in body]
        assert not leaked, f"{url} shows a secret"
        assert "otpauth://" not in body, url
        assert "data:image/svg+xml" not in body.replace('src="data:image/svg+xml;base64', ""), url
        if response.status_code == 200 and "text/html" in response["Content-Type"]:
            queue.extend(href for href in HREF.findall(body) if href not in seen)
    assert statuses.get(200, 0) > 60, statuses  # the crawl did reach the admin's pages
    # The device pages are gone, not merely hidden.
    for device in TOTPDevice.objects.all()[:3]:
        for suffix in ("change/", "config/", "qrcode/"):
            url = f"/admin/otp_totp/totpdevice/{device.pk}/{suffix}"
            assert client.get(url, follow=True).status_code == 404
    assert not admin.site.is_registered(TOTPDevice)
    assert not admin.site.is_registered(StaticDevice)


@pytest.mark.django_db
def test_the_administrator_cannot_set_a_password(client, world):
    login(client, world.admin)
    url = f"/admin/accounts/user/{world.member.pk}/password/"
    assert client.get(url).status_code == 404
    new = "an administrator chosen password 2026"
    response = client.post(url, {"password1": new, "password2": new, "usable_password": "true"})
    assert response.status_code == 404
    world.member.refresh_from_db()
    assert world.member.check_password(PASSWORD)
    # The change form has no password field; a crafted POST with one changes nothing.
    change = f"/admin/accounts/user/{world.member.pk}/change/"
    html = client.get(change).content.decode()
    assert 'name="password' not in html and "/password/" not in html
    data = {
        "first_name": "Marc",
        "last_name": "Membre",
        "is_active": "on",
        "password": "md5$salt$forged",
        "email": "admin-mailbox@cmer.test",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    client.post(change, data)
    world.member.refresh_from_db()
    assert world.member.check_password(PASSWORD)
    # Nor can the address the links go to be redirected to the administrator's mailbox.
    assert world.member.email == "member@tarascon.test"


@pytest.mark.django_db
def test_the_add_form_invites_without_any_password(
    client, world, django_capture_on_commit_callbacks
):
    login(client, world.admin)
    html = client.get("/admin/accounts/user/add/").content.decode()
    assert 'name="email"' in html
    assert 'type="password"' not in html and 'name="password' not in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/accounts/user/add/",
            {
                "email": " Nouvelle.Agente@Tarascon.test ",
                "first_name": "Nina",
                "last_name": "Neuve",
            },
        )
    assert response.status_code == 302
    user = User.objects.get(email="nouvelle.agente@tarascon.test")
    assert not user.has_usable_password()
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert [m.to for m in mail.outbox] == [["nouvelle.agente@tarascon.test"]]
    assert "/comptes/activation/" in mail.outbox[0].body
    assert "Nina" not in mail.outbox[0].body and "Neuve" not in mail.outbox[0].body
    (entry,) = account_entries("invited")
    assert entry.actor == world.admin and entry.object_pk == str(user.pk)
    # The same address, in any spelling, is not invited twice.
    response = client.post("/admin/accounts/user/add/", {"email": "NOUVELLE.agente@tarascon.test "})
    assert response.status_code == 200
    assert User.objects.filter(email__iexact="nouvelle.agente@tarascon.test").count() == 1


@pytest.mark.django_db
def test_reset_link_goes_to_the_user_and_only_the_user_sets_the_password(
    client, world, django_capture_on_commit_callbacks
):
    login(client, world.admin)
    button = f"/admin/accounts/user/{world.member.pk}/lien-mot-de-passe/"
    assert client.get(button).status_code == 200  # a confirmation page first
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(button).status_code == 302
    assert [m.to for m in mail.outbox] == [[world.member.email]]
    (entry,) = account_entries("password_reset_sent")
    assert (entry.actor, entry.object_pk) == (world.admin, str(world.member.pk))
    world.member.refresh_from_db()
    assert world.member.check_password(PASSWORD)  # nothing changed until the person acts
    # The person follows the link and chooses a password.
    link = re.search(r"https?://[^/]+(/comptes/reinitialisation/\S+)", mail.outbox[0].body)[1]
    person = client.__class__()
    form_url = person.get(link)["Location"]
    new = "a passphrase only the member knows"
    with django_capture_on_commit_callbacks(execute=True):
        response = person.post(form_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    world.member.refresh_from_db()
    assert check_password(new, world.member.password)
    # The change is in the trail and the person is told by e-mail.
    assert account_entries("password_changed", object_pk=str(world.member.pk))
    assert mail.outbox[-1].to == [world.member.email]
    assert "modifié" in mail.outbox[-1].subject
    # The link is spent.
    again = person.get(link, follow=True)
    assert "plus valide" in again.content.decode()


@pytest.mark.django_db
def test_the_changelist_actions_do_the_same(client, world, django_capture_on_commit_callbacks):
    login(client, world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/accounts/user/",
            {"action": "send_password_link", "_selected_action": [world.agent.pk]},
        )
        client.post(
            "/admin/accounts/user/",
            {"action": "reset_second_factor", "_selected_action": [world.member.pk]},
        )
    assert sorted(m.to[0] for m in mail.outbox) == [world.agent.email, world.member.email]
    assert not TOTPDevice.objects.filter(user=world.member).exists()
    assert account_entries("second_factor_reset", actor=world.admin)


@pytest.mark.django_db
def test_second_factor_reset_ends_sessions_and_forces_enrolment(
    client, world, django_capture_on_commit_callbacks
):
    member = client.__class__()
    login(member, world.member)
    assert member.get("/").status_code == 200
    old_device = TOTPDevice.objects.get(user=world.member)
    old_code = current_code(old_device)
    backup = backup_codes_for(world.member)
    login(client, world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/admin/accounts/user/{world.member.pk}/second-facteur/")
    (entry,) = account_entries("second_factor_reset")
    assert (entry.actor, entry.object_pk) == (world.admin, str(world.member.pk))
    # Every session of the member is over; the old device and backup codes are gone.
    assert member.get("/")["Location"].startswith("/comptes/connexion/")
    assert not TOTPDevice.objects.filter(user=world.member).exists()
    assert not StaticToken.objects.filter(token__in=backup).exists()
    # Password alone: nothing but the "use the link" page, no QR code, old codes refused.
    fresh = client.__class__()
    fresh.post("/comptes/connexion/", {"username": world.member.email, "password": PASSWORD})
    assert fresh.get("/")["Location"] == "/comptes/enrolement/"
    assert "data:image/svg+xml" not in fresh.get("/comptes/enrolement/").content.decode()
    assert fresh.post("/comptes/verification/", {"token": old_code}).status_code == 302
    assert fresh.get("/")["Location"] == "/comptes/enrolement/"
    # The person was told by e-mail, with the enrolment link, at their own address.
    assert [m.to for m in mail.outbox] == [[world.member.email]]
    assert "/comptes/activation/" in mail.outbox[0].body


@pytest.mark.django_db
def test_only_the_technical_administrator_reaches_these_pages(client, world):
    for user in (world.referent, world.dpo, world.liaison):
        other = client.__class__()
        login(other, user)
        for suffix in ("lien-mot-de-passe/", "second-facteur/", "password/"):
            response = other.post(f"/admin/accounts/user/{world.member.pk}/{suffix}")
            assert response.status_code in {302, 404}
            if response.status_code == 302:
                assert "/admin/login/" in response["Location"]
    assert TOTPDevice.objects.filter(user=world.member).exists()
    assert not mail.outbox
    assert not any(
        account_entries(what)
        for what in ("password_reset_sent", "second_factor_reset", "password_changed")
    )
    login(client, world.admin)
    assert client.post("/admin/accounts/user/999999/second-facteur/").status_code == 404


@pytest.mark.django_db
def test_a_password_change_by_any_path_leaves_an_audit_entry(client, world):
    # From a shell on the server (manage.py changepassword does the same).
    world.agent.set_password("changed from a shell 2026")
    world.agent.save()
    assert account_entries("password_changed", object_pk=str(world.agent.pk))
    # From the person's own page.
    step_up(login(client, world.referent))
    new = "the referent's new passphrase"
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    (entry,) = account_entries("password_changed", object_pk=str(world.referent.pk))
    assert entry.actor == world.referent


@pytest.mark.django_db
def test_the_issue_attack_no_longer_logs_the_administrator_in_as_a_member(client, world):
    """Issue 11: read the member's TOTP secret in the admin, set their password, log in as them.
    Each step now fails, and the attempt to log in is only a failed login in the trail."""
    login(client, world.admin)
    device = TOTPDevice.objects.get(user=world.member)
    for url in (
        f"/admin/otp_totp/totpdevice/{device.pk}/change/",
        f"/admin/otp_totp/totpdevice/{device.pk}/config/",
        f"/admin/otp_totp/totpdevice/{device.pk}/qrcode/",
    ):
        assert client.get(url, follow=True).status_code == 404
    chosen = "the administrator's pick 2026"
    client.post(
        f"/admin/accounts/user/{world.member.pk}/password/",
        {"password1": chosen, "password2": chosen, "usable_password": "true"},
    )
    attacker = client.__class__()
    response = attacker.post(
        "/comptes/connexion/", {"username": world.member.email, "password": chosen}
    )
    assert response.status_code == 200  # the login form again: wrong password
    assert attacker.get("/")["Location"].startswith("/comptes/connexion/")
    assert not account_entries("password_changed", object_pk=str(world.member.pk))
    assert AuditEntry.objects.filter(event=Event.LOGIN_FAILED).exists()
