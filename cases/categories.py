"""Labels of the observed-sign categories shipped with the app (migration 0002), for the English
catalogue: the database keeps the French label, pages show it through gettext. A category added
in the admin is shown as typed."""

from __future__ import annotations

from django.utils.translation import gettext_noop

SHIPPED_LABELS = (
    gettext_noop("Rupture familiale"),
    gettext_noop("Rupture scolaire ou professionnelle"),
    gettext_noop("Changement soudain de comportement ou d'apparence"),
    gettext_noop("Repli, retrait de la vie sociale"),
    gettext_noop("Consultation ou diffusion de propagande violente"),
    gettext_noop("Justification de la violence"),
    gettext_noop("Projets de départ à l'étranger"),
    gettext_noop("Autre"),
)
