"""PDF rendering (WeasyPrint), shared by minutes, attestations and exports.

WeasyPrint's default fetcher would read any ``file://`` path or internal address named in the HTML:
ours only serves ``data:`` URLs and files inside the static directories (fonts, logos).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string


def _static_roots() -> list[Path]:
    roots = [Path(p).resolve() for p in settings.STATICFILES_DIRS]
    import dsfr

    roots.append((Path(dsfr.__file__).parent / "static").resolve())
    return roots


def static_file_url(path: str) -> str:
    """A ``file://`` URL for a static asset, for use inside PDF templates only."""
    found = finders.find(path)
    if not found:
        raise FileNotFoundError(path)
    return Path(found).resolve().as_uri()


def _make_fetcher():
    from weasyprint.urls import URLFetcher

    class RestrictedURLFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith("file://"):
                from urllib.request import url2pathname

                path = Path(url2pathname(url.removeprefix("file://").split("?")[0])).resolve()
                if any(path.is_relative_to(root) for root in _static_roots()) and path.is_file():
                    return super().fetch(url, headers)
            raise ValueError("Resource refused by the CMER PDF fetcher")

    return RestrictedURLFetcher(allowed_protocols={"data", "file"}, allow_redirects=False)


def render_pdf(
    template_name: str,
    context: dict[str, Any],
    *,
    css: str = "",
    pdf_variant: str | None = None,
    finisher: Any = None,
) -> bytes:
    """Render a Django template to PDF bytes, with only local, allowed resources.

    ``pdf_variant``: e.g. ``"pdf/a-3b"`` for documents that are archived (minutes).
    ``finisher``: WeasyPrint's hook on the PDF objects before they are written (the minutes'
    stamp slot, ``meetings/stamp.py``).
    """
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    html = render_to_string(template_name, context)
    fetcher = _make_fetcher()
    font_config = FontConfiguration()
    stylesheets = [CSS(string=css, font_config=font_config, url_fetcher=fetcher)] if css else []
    document = HTML(string=html, base_url=None, url_fetcher=fetcher)
    options: dict[str, Any] = {"pdf_variant": pdf_variant} if pdf_variant else {}
    return document.write_pdf(
        stylesheets=stylesheets, font_config=font_config, finisher=finisher, **options
    )
