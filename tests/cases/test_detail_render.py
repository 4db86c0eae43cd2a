"""The referral page's cheaper rendering (issue 13): blank forms kept once rendered, the
timeline's labels translated once per page, the access log counted only when it has more than
a page. Nothing a reader sees changes: the same HTML, the same people offered, per-request
CSRF tokens, errors in place, a fixed number of statements."""

from __future__ import annotations

import datetime
import re

import pytest
from django.forms.utils import RenderableMixin
from django.utils import timezone, translation

from cases import actions, forms
from cases.models import Referral, TimelineEntry
from cmer.accounts.models import Role
from tests.cases.helpers import file_referral
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _fresh(form) -> str:
    """What rendering gives without the kept copy."""
    return str(RenderableMixin.render(form))


def _page(client, referral) -> str:
    response = client.get(f"/signalements/{referral.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _blank_forms(referral):
    allowed = actions.MANUAL_TRANSITIONS[Referral.Status.SUBMITTED]
    members = actions.grantable_members(referral)
    return [
        lambda: forms.TimelineEntryForm(auto_id="note_%s"),
        lambda: forms.AddendumForm(auto_id="addendum_%s"),
        lambda: forms.FeedbackForm(auto_id="prefecture_%s"),
        lambda: forms.FeedbackForm(auto_id="agent_%s"),
        lambda: forms.StatusForm(allowed=allowed, auto_id="status_%s"),
        lambda: forms.StatusForm(allowed={Referral.Status.CLOSED}, auto_id="status_%s"),
        lambda: forms.GrantForm(members=members, auto_id="grant_%s"),
        lambda: forms.RevokeForm(auto_id="revoke7_%s"),
        lambda: forms.RevokeForm(auto_id="revoke1234_%s"),
    ]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_kept_blank_form_is_byte_for_byte_a_fresh_rendering(world, language):
    referral = file_referral(world.agent, world.tarascon)
    forms._BLANK_HTML.clear()
    with translation.override(language):
        for make in _blank_forms(referral) * 2:  # the second round reads the kept copies
            form = make()
            assert str(form) == _fresh(make())
            assert form.__html__() == str(form)
    assert forms._BLANK_HTML  # something was kept…
    for html in forms._BLANK_HTML.values():  # …and none of it is a token or a request's data
        assert "csrfmiddlewaretoken" not in html
    # One copy per form and choice set: every grant's revoke form shares one.
    assert sum(1 for key in forms._BLANK_HTML if key[0] is forms.RevokeForm) == 1


def test_revoke_forms_keep_their_own_field_ids(world):
    html = {pk: str(forms.RevokeForm(auto_id=f"revoke{pk}_%s")) for pk in (3, 41)}
    assert 'id="revoke3_reason"' in html[3] and 'for="revoke3_reason"' in html[3]
    assert 'id="revoke41_reason"' in html[41] and "revoke3_" not in html[41]
    assert forms._ID_MARK not in html[3] + html[41]


def test_a_bound_form_or_an_unusual_id_is_rendered_afresh(world):
    forms._BLANK_HTML.clear()
    bound = forms.RevokeForm({"reason": ""}, auto_id="revoke5_%s")
    assert bound.errors
    assert str(bound) == _fresh(bound) and "fr-input-group--error" in str(bound)
    for auto_id in ("id_%s_x", "<b>%s", True, False):
        form = forms.AddendumForm(auto_id=auto_id)
        assert str(form) == _fresh(form)
    assert not forms._BLANK_HTML


def test_a_member_named_with_the_id_mark_is_rendered_afresh(world):
    referral = file_referral(world.agent, world.tarascon)
    world.member.first_name = f"A{forms._ID_MARK}B"
    world.member.save(update_fields=["first_name"])
    forms._BLANK_HTML.clear()
    form = forms.GrantForm(members=actions.grantable_members(referral), auto_id="grant_%s")
    html = str(form)
    assert f"A{forms._ID_MARK}B" in html and 'id="grant_member"' in html
    assert not any(key[0] is forms.GrantForm for key in forms._BLANK_HTML)


def test_each_commune_is_offered_its_own_members_and_a_new_member_at_once(as_user, world):
    tarascon = file_referral(world.agent, world.tarascon)
    miramas_agent = make_user("agent@miramas.test", Role.REPORTING_AGENT, commune=world.miramas)
    miramas_member = make_user("member@miramas.test", Role.CELL_MEMBER, commune=world.miramas)
    miramas = file_referral(miramas_agent, world.miramas)
    at_tarascon = as_user(world.referent)
    at_miramas = as_user(world.other_referent)
    for _round in range(2):  # the second round from kept copies
        page = _page(at_tarascon, tarascon)
        assert world.member.email in page and miramas_member.email not in page
        page = _page(at_miramas, miramas)
        assert miramas_member.email in page and world.member.email not in page
    newcomer = make_user("member3@tarascon.test", Role.CELL_MEMBER, commune=world.tarascon)
    assert newcomer.email in _page(at_tarascon, tarascon)
    assert newcomer.email not in _page(at_miramas, miramas)


def test_every_form_of_the_page_carries_this_request_token(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    _grant(world, referral)
    pages = [_page(as_user(world.referent), referral) for _ in range(2)]
    tokens = []
    for page in pages:
        posts = page.count('<form method="post"')
        found = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert posts >= 7 and len(found) >= posts  # base.html's sign-out form has one too
        tokens.append(set(found))
    assert not tokens[0] & tokens[1]  # two sessions, two requests: no token shared


def test_a_grant_with_errors_is_shown_in_place_after_kept_copies(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    _page(client, referral)  # the blank grant form is now kept
    response = client.post(
        f"/signalements/{referral.pk}/acces/",
        {"member": world.member.pk, "reason": "", "expires_on": "2000-01-01"},
    )
    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="error-summary"' in page and 'href="#grant_reason"' in page
    assert f'<option value="{world.member.pk}" selected>' in page
    # The other forms of the page stay blank, and the next page is blank again.
    assert 'href="#note_text"' not in page
    assert 'data-testid="error-summary"' not in _page(client, referral)


def test_the_timeline_names_kinds_and_statuses_in_the_reader_language(as_user, world):
    referral = file_referral(world.agent, world.tarascon)
    actions.do_change_status(
        referral, to_status=Referral.Status.IN_ASSESSMENT, acting_user=world.referent
    )
    actions.do_add_timeline_entry(
        referral, kind=TimelineEntry.Kind.NOTE, text="Premier échange", acting_user=world.referent
    )
    client = as_user(world.referent)
    timeline = _page(client, referral).split('data-testid="timeline"')[1].split("</ol>")[0]
    assert "<strong>Changement de statut</strong>" in timeline
    assert "Transmis au référent → En évaluation" in timeline
    assert "<strong>Note</strong>" in timeline
    client.cookies["django_language"] = "en"
    timeline = _page(client, referral).split('data-testid="timeline"')[1].split("</ol>")[0]
    assert "<strong>Status change</strong>" in timeline
    assert "Sent to the referent → Under assessment" in timeline
    # And the English page's forms are English ones, not the kept French copies.
    page = _page(client, referral)
    assert "New status" in page and "Nouveau statut" not in page


def _grant(world, referral, member=None):
    return actions.do_grant_access(
        referral,
        member=member or world.member,
        contribute=False,
        reason="Suivi scolaire",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )


def test_the_referent_page_costs_a_fixed_number_of_statements(
    as_user, world, django_assert_num_queries
):
    """Whatever the grants, timeline entries and readers: the forms' member list is read once,
    the access log is not counted while it fits on one page."""
    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    _page(client, referral)
    with django_assert_num_queries(STATEMENTS):
        _page(client, referral)
    second = make_user("member3@tarascon.test", Role.CELL_MEMBER, commune=world.tarascon)
    for member in (world.member, world.member_without_grant, second):
        _grant(world, referral, member)
    for index in range(5):
        actions.do_add_timeline_entry(
            referral, kind="note", text=f"Note {index}", acting_user=world.referent
        )
    for reader in (world.agent, world.other_agent):
        as_user(reader).get(f"/signalements/{referral.pk}/")
    with django_assert_num_queries(STATEMENTS):
        page = _page(client, referral)
    assert page.count("Retirer l'accès</button>") == 3


# Session, user, device, roles, charter (middleware and gate; once every charter is read, the
# newest version's number instead); the referral, the access
# recorded; timeline, grants, access log (one page, not counted), duplicates, categories,
# attachments, members offered, information of the State. (A referral in assessment adds the
# protocol's statement: transmission is offered then.)
STATEMENTS = 15


def test_the_access_log_is_counted_and_paged_past_one_page(as_user, world):
    from cmer.audit.core import record_event
    from cmer.audit.models import Event
    from tests.factories import UserFactory

    referral = file_referral(world.agent, world.tarascon)
    client = as_user(world.referent)
    for index in range(20):  # the referent's own read makes 21 lines
        someone = UserFactory(email=f"reader{index}@tarascon.test")
        record_event(Event.ACCESS, actor=someone, target=referral, data={"what": "detail"})
    for number in ("", "1", "abc"):
        page = client.get(f"/signalements/{referral.pk}/?consultations={number}").content.decode()
        log = page.split('data-testid="access-log"')[1].split("</ul>")[0]
        assert log.count("<li>") == 20
        assert "?consultations=2#consultations" in page and "1 / 2" in page
    page = client.get(f"/signalements/{referral.pk}/?consultations=2").content.decode()
    log = page.split('data-testid="access-log"')[1].split("</ul>")[0]
    assert log.count("<li>") >= 1 and "2 / 2" in page


@pytest.mark.parametrize("contribute", [False, True])
def test_a_member_grants_are_read_in_one_statement(world, django_assert_num_queries, contribute):
    from cases import access
    from cmer import permissions

    referral = file_referral(world.agent, world.tarascon)
    actions.do_grant_access(
        referral,
        member=world.member,
        contribute=contribute,
        reason="Suivi scolaire",
        expires_on=timezone.localdate() + datetime.timedelta(days=30),
        acting_user=world.referent,
    )
    for user, reads in ((world.member, True), (world.member_without_grant, False)):
        permissions.roles_in(user, world.tarascon)  # the request's roles, read once before
        with django_assert_num_queries(1):
            caps = access.capabilities(user, referral)
        assert (caps.read_content, caps.add_note) == (reads, reads and contribute)
