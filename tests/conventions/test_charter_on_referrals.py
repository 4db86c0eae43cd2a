"""The charter gate on the real referral pages (cases applies ``charter_required``)."""

from __future__ import annotations

from django.urls import reverse

from tests.cases.helpers import file_referral

from .factories import CharterVersionFactory


def test_referent_must_acknowledge_before_opening_a_referral(world, as_user):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    url = reverse("cases:detail", args=[referral.pk])
    assert client.get(url).status_code == 200  # no charter published yet: nothing to ask
    charter = CharterVersionFactory(commune=world.tarascon, version=1)
    response = client.get(url)
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"{reverse('conventions:charter')}?next=%2Fsignalements%2F{referral.pk}%2F"
    )
    back = client.post(reverse("conventions:charter"), {"charter": charter.pk, "next": url})
    assert back["Location"] == url
    assert client.get(url).status_code == 200
    CharterVersionFactory(commune=world.tarascon, version=2)  # a new version asks again
    assert client.get(url).status_code == 302


def test_agent_is_not_asked(world, as_user):
    CharterVersionFactory(commune=world.tarascon, version=1)
    response = as_user(world.agent).get(reverse("cases:list"))
    assert response.status_code == 200
