"""No existence oracle: every form that takes a referral reference answers a reference that
exists but may not be seen exactly as one that does not exist."""

from __future__ import annotations

import pytest

from cases import actions
from cases.models import StateInformation
from tests.cases.helpers import file_referral

pytestmark = pytest.mark.django_db

STATE_INFO = {
    "case": "own_referral",
    "person": "",
    "content": "Retour de la préfecture sur le signalement de la commune.",
}


def _state_info_answer(client, commune, reference: str) -> tuple[int, str]:
    response = client.post(
        "/signalements/informations/nouvelle/",
        {**STATE_INFO, "commune": commune.pk, "referral_reference": reference},
    )
    return response.status_code, response.content.decode()


def _errors_of(page: str) -> str:
    import re

    return " ".join(re.findall(r'class="fr-error-text"[^>]*>(.*?)<', page, re.S))


def test_state_information_form_answers_the_same_for_unknown_and_not_transmitted(
    as_user, world, protocol
):
    submitted = file_referral(world.agent, world.tarascon)  # exists, never transmitted
    draft = file_referral(world.agent, world.tarascon, submit=False)
    client = as_user(world.liaison)
    unknown = _state_info_answer(client, world.tarascon, "TAR-2099-9999")
    hidden = _state_info_answer(client, world.tarascon, submitted.reference)
    draft_answer = _state_info_answer(client, world.tarascon, f"brouillon-{draft.pk}")
    assert unknown[0] == hidden[0] == draft_answer[0] == 200
    assert _errors_of(unknown[1]) == _errors_of(hidden[1]) == _errors_of(draft_answer[1]) != ""
    assert submitted.reference not in _errors_of(hidden[1])
    assert not StateInformation.objects.exists()
    # Once transmitted, the liaison may name it.
    assessed = actions.do_change_status(
        submitted, to_status="in_assessment", acting_user=world.referent
    )
    actions.do_transmit(assessed, items=["facts"], reason="motif", acting_user=world.referent)
    status, _page = _state_info_answer(client, world.tarascon, submitted.reference)
    assert status == 302
    assert StateInformation.objects.get().referral == submitted


def test_list_filter_by_reference_answers_the_same_for_unknown_and_not_visible(as_user, world):
    other = file_referral(world.other_referent, world.miramas)  # another commune's referral
    client = as_user(world.referent)
    unknown = client.get("/signalements/", {"reference": "MIR-2099-9999"})
    hidden = client.get("/signalements/", {"reference": other.reference})
    assert unknown.status_code == hidden.status_code == 200
    assert unknown.context["page"].paginator.count == hidden.context["page"].paginator.count == 0
    assert unknown.context["rows"] == hidden.context["rows"] == []


def test_dpo_search_by_reference_answers_the_same_for_unknown_and_other_department(as_user, world):
    from cmer.accounts.models import Commune

    nimes_referent_commune = Commune.objects.get(pk=world.nimes.pk)
    from cmer.accounts.models import Role
    from tests.conftest import make_user

    referent = make_user("referent@nimes.test", Role.REFERENT, commune=nimes_referent_commune)
    other = file_referral(referent, nimes_referent_commune)
    client = as_user(world.dpo)
    unknown = client.get("/audit/", {"reference": "NIM-2099-9999"})
    hidden = client.get("/audit/", {"reference": other.reference})
    assert unknown.status_code == hidden.status_code == 200
    assert unknown.context["rows"] == hidden.context["rows"] == []
