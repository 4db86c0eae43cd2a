"""axe-core in the page under test, from a pinned copy.

The engine is the ``axe.min.js`` bundled by the PyPI package ``axe-playwright-python`` (pinned in
pyproject.toml and constraints.txt; axe-core 4.12.1, MPL-2.0 — its licence header is in the file).
It is read from the installed package and run with ``page.evaluate``: evaluation through the
DevTools protocol is not subject to the page's Content-Security-Policy, so the app's CSP stays as
strict in tests as in production.

Use::

    from tests.browser.axe import assert_accessible

    assert_accessible(page)                 # the app's own pages: zero violations of any impact
    assert_accessible(page, admin=True)     # Django's admin: zero serious or critical

Reused by every app's browser tests (cases, training, conventions...).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

# Impact levels as axe reports them, least to most severe.
IMPACTS = ("minor", "moderate", "serious", "critical")


@functools.cache
def axe_source() -> str:
    """The pinned axe-core source (read once per test session)."""
    return (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def axe_version() -> str:
    first_line = axe_source().split("\n", 1)[0]  # "/*! axe v4.12.1"
    return first_line.rsplit("v", 1)[-1].strip()


def run_axe(page: Any, *, options: dict | None = None) -> dict:
    """Inject axe into ``page`` (once per document) and return its raw results."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    # WCAG 2.1 A/AA plus axe's best practices (landmarks, heading order, region...): the issue asks
    # for "any impact", so nothing is left out except rules the options explicitly disable.
    run_options = {
        "runOnly": {
            "type": "tag",
            "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
        },
        "resultTypes": ["violations"],
    }
    if options:
        run_options.update(options)
    return page.evaluate("async (options) => await window.axe.run(document, options)", run_options)


def violations(page: Any, *, min_impact: str = "minor", options: dict | None = None) -> list[dict]:
    """The violations at ``min_impact`` or worse."""
    floor = IMPACTS.index(min_impact)
    return [
        violation
        for violation in run_axe(page, options=options)["violations"]
        if IMPACTS.index(violation.get("impact") or "minor") >= floor
    ]


def describe(found: list[dict]) -> str:
    """A readable report: rule, impact, help and the first few offending nodes."""
    lines = []
    for violation in found:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}")
        for node in violation["nodes"][:5]:
            lines.append(f"    {json.dumps(node['target'])}: {node['html'][:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"        {summary[:300]}")
    return "\n".join(lines)


def assert_accessible(page: Any, *, admin: bool = False, options: dict | None = None) -> None:
    """Fail with axe's report unless the page is clean.

    The app's pages must have no violation of any impact; Django's admin (third-party markup we
    only theme) none serious or critical.
    """
    found = violations(page, min_impact="serious" if admin else "minor", options=options)
    assert not found, f"axe {axe_version()} on {page.url}:\n{describe(found)}"
