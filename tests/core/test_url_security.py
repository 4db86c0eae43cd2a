"""Every URL needs a login, except a short allow-list: adding a public page means editing it."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Public by design. Each entry is a URL name (namespace:name) or a regex of the raw route.
PUBLIC_URL_NAMES = {
    "healthz",
    "set_language",
    "accounts:login",
    "accounts:password_reset",
    "accounts:password_reset_done",
    "accounts:password_reset_confirm",
    "accounts:password_reset_complete",
    "accounts:enrol",  # the one-time invitation / enrolment link (token checked in the view)
    "training:verify",  # an attestation tells its reader to check it there (rate-limited)
}
PUBLIC_ROUTES = {"admin/login/"}  # redirects to accounts:login, never a login form of its own


def walk(resolvers, prefix="", namespace=""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield prefix + str(entry.pattern), name


def concrete_path(route: str) -> str:
    """Turn a route or regex into a URL that resolves to it, with dummy parameters."""
    path = route.lstrip("^").rstrip("$")
    path = re.sub(r"<(?:int:)?[a-z_]*(?:pk|id)>", "1", path)
    path = re.sub(r"<uuid:[a-z_]+>", "00000000-0000-0000-0000-000000000000", path)
    path = re.sub(r"<[^>]+>", "x", path)
    path = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", path)
    path = path.replace("\\", "").replace("(?:", "").replace(")?", "").replace("?", "")
    return "/" + path


ALL_ROUTES = sorted(set(walk(get_resolver().url_patterns)), key=lambda r: (r[0], r[1] or ""))


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), ALL_ROUTES, ids=[r for r, _ in ALL_ROUTES])
def test_anonymous_is_sent_to_login(client, route, name):
    response = client.get(concrete_path(route))
    if name in PUBLIC_URL_NAMES or route in PUBLIC_ROUTES:
        # /healthz says 503 when no worker or beat heartbeat is fresh (true in a test database
        # with Redis configured): an honest public answer, not a leak.
        allowed = {200, 302, 404, 405} | ({503} if name == "healthz" else set())
        assert response.status_code in allowed
        return
    assert response.status_code == 302, f"{route} answered {response.status_code} anonymously"
    location = response["Location"]
    if location.startswith("/admin/login/"):
        # The admin's own login URL only forwards to ours (no second login form).
        location = client.get(location)["Location"]
    assert location.startswith("/comptes/connexion/"), location


def test_allow_list_names_exist():
    names = {name for _, name in ALL_ROUTES}
    assert names >= PUBLIC_URL_NAMES
