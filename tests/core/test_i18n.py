"""English is a complete translation of the French interface, chosen with the header's button."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import login

CATALOGUE = settings.BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
LOGIN = "/comptes/connexion/"

# One or more quoted lines: "..." "..." (a .po string split over several lines).
_STRING = r'((?:"(?:[^"\\]|\\.)*"\s*)+)'
_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}|<[^>]+>")


def _join(quoted: str) -> str:
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', quoted))


def _entries(catalogue: Path = CATALOGUE) -> list[dict]:
    """(msgid, msgid_plural, msgstrs, fuzzy) of each live entry; no polib at runtime."""
    entries = []
    for block in catalogue.read_text(encoding="utf-8").split("\n\n"):
        lines = block.splitlines()
        comments = [line for line in lines if line.startswith("#")]
        body = "\n".join(line for line in lines if not line.startswith("#"))
        msgid = re.search(r"^msgid " + _STRING, body, re.M)
        if msgid is None or not _join(msgid.group(1)):
            continue  # obsolete (#~) entry or the header
        plural = re.search(r"^msgid_plural " + _STRING, body, re.M)
        entries.append(
            {
                "msgid": _join(msgid.group(1)),
                "plural": _join(plural.group(1)) if plural else None,
                "msgstrs": [
                    _join(s) for s in re.findall(r"^msgstr(?:\[\d+\])? " + _STRING, body, re.M)
                ],
                "fuzzy": any(c.startswith("#,") and "fuzzy" in c for c in comments),
            }
        )
    return entries


def english(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": LOGIN})
    assert response.status_code == 302
    return client


def test_catalogue_has_no_untranslated_or_fuzzy_entry():
    entries = _entries()
    assert len(entries) > 500
    untranslated = [e["msgid"] for e in entries if not e["msgstrs"] or not all(e["msgstrs"])]
    fuzzy = [e["msgid"] for e in entries if e["fuzzy"]]
    assert untranslated == []
    assert fuzzy == []


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext (xgettext)")
def test_catalogue_holds_every_string_of_the_sources(tmp_path, settings, monkeypatch):
    """`make messages` on a copy of the catalogue adds nothing untranslated: a string written in
    the code or a template but missing from the catalogue would stay French in English."""
    from django.core.management import call_command

    # On a copy of the sources: makemessages writes to the catalogue nearest to each file.
    tree = tmp_path / "tree"
    shutil.copytree(
        settings.BASE_DIR,
        tree,
        ignore=shutil.ignore_patterns(".*", "var", "node_modules", "__pycache__", "*.mo"),
    )
    copy = tree / "locale" / "en" / "LC_MESSAGES"
    settings.LOCALE_PATHS = [tree / "locale"]
    monkeypatch.chdir(tree)
    call_command("makemessages", locale=["en"], no_obsolete=True, verbosity=0)
    entries = _entries(copy / "django.po")
    missing = [e["msgid"] for e in entries if e["fuzzy"] or not all(e["msgstrs"] or [""])]
    assert missing == [], "run `make messages` and translate these"


def test_catalogue_keeps_every_placeholder():
    wrong = []
    for e in _entries():
        sources = [e["msgid"]] if e["plural"] is None else [e["msgid"], e["plural"]]
        for source, target in zip(sources, e["msgstrs"], strict=True):
            if sorted(_PLACEHOLDER.findall(source)) != sorted(_PLACEHOLDER.findall(target)):
                wrong.append(e["msgid"])
    assert wrong == []


@pytest.mark.django_db
def test_login_page_in_english_once_chosen(client, world):
    french = client.get(LOGIN).content.decode()
    assert "Se connecter" in french

    english(client)
    response = client.get(LOGIN)
    html = response.content.decode()
    assert response["Content-Language"] == "en"
    assert "Log in" in html
    assert "Se connecter" not in html
    assert "Forgotten your password?" in html


@pytest.mark.django_db
def test_home_page_in_english_once_chosen(client, world):
    english(client)
    login(client, world.referent)
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "File a referral" in html
    assert "Déposer un signalement" not in html
    assert "Log out" in html


def test_french_plurals_follow_the_french_rule_for_every_plural_of_the_sources():
    """French is the source: without its own catalogue, Django would apply English's rule and
    write "0 personnes formées". scripts/french_plurals.py keeps locale/fr complete."""
    import importlib.util

    from django.template import Context, Template
    from django.utils import translation

    spec = importlib.util.spec_from_file_location(
        "french_plurals", settings.BASE_DIR / "scripts" / "french_plurals.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    english = set(module.plural_entries(module.SOURCE))
    assert english and set(module.plural_entries(module.TARGET)) == english, (
        "run `make messages` (scripts/french_plurals.py)"
    )
    with translation.override("fr"):
        text = Template(
            "{% load i18n %}{% blocktranslate count counter=n %}{{ counter }} action en retard"
            "{% plural %}{{ counter }} actions en retard{% endblocktranslate %}"
        )
        assert text.render(Context({"n": 0})) == "0 action en retard"
        assert text.render(Context({"n": 2})) == "2 actions en retard"
