"""The convention form's choices: what the referent picks from."""

from __future__ import annotations

import datetime

import pytest

from cmer.accounts.models import Commune
from conventions.forms import ConventionForm
from conventions.models import Convention

from .factories import ConventionFactory


@pytest.mark.django_db
def test_parent_choices_name_commune_reference_or_title_and_date():
    protocol = ConventionFactory(reference="PREF13-7", effective_date=datetime.date(2026, 3, 1))
    renewal = ConventionFactory(
        commune=protocol.commune,
        kind=Convention.Kind.RENEWAL,
        parent=protocol,
        reference="",
        title="Renouvellement",
        effective_date=datetime.date(2029, 3, 1),
    )
    ConventionFactory(commune=protocol.commune, kind=Convention.Kind.AMENDMENT, parent=protocol)

    form = ConventionForm(communes=Commune.objects.all(), conventions=Convention.objects.all())

    labels = {value: label for value, label in form.fields["parent"].choices if value}
    name = protocol.commune.name
    # An amendment is never followed by another convention: not offered.
    assert {int(str(value)) for value in labels} == {protocol.pk, renewal.pk}
    assert labels[protocol.pk] == f"{name} — PREF13-7 (01/03/2026)"
    assert labels[renewal.pk] == f"{name} — Renouvellement (01/03/2029)"
