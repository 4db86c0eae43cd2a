"""The people a referral's forms offer are named as before the typed fields (mypy on cases/):
the grant form's member by full name and e-mail address, blank or bound, in the offered order."""

from __future__ import annotations

import pytest

from cases import actions, forms
from tests.cases.helpers import file_referral

pytestmark = pytest.mark.django_db


def test_the_grant_form_names_each_member_with_their_email(world):
    referral = file_referral(world.agent, world.tarascon)
    members = actions.grantable_members(referral)
    expected = [f"{m.get_full_name()} ({m.email})" for m in members]
    assert expected  # the commune's members are offered
    forms._BLANK_HTML.clear()
    blank = forms.GrantForm(members=members, auto_id="grant_%s")
    assert [str(label) for _value, label in list(blank.fields["member"].choices)[1:]] == expected
    html = str(blank)
    assert all(label in html for label in expected)
    bound = forms.GrantForm({"member": ""}, members=members, auto_id="grant_%s")
    assert not bound.is_valid()
    assert all(label in str(bound) for label in expected)
