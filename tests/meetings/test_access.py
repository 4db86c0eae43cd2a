"""Who sees which meeting: every role and commune (DESIGN.md invariant 7). Forbidden is 404."""

from __future__ import annotations

import pytest

from cmer.audit.models import AuditEntry, Event
from meetings import access
from meetings.models import MinutesDocument
from tests.cases.helpers import file_referral
from tests.meetings.helpers import approved, hold, other_commune_meeting, plan


def urls(meeting):
    base = f"/reunions/{meeting.pk}/"
    document = MinutesDocument.objects.filter(meeting=meeting).first()
    item = meeting.agenda_items.first()
    found = {
        "detail": ("get", base),
        "edit": ("get", f"{base}modifier/"),
        "cancel": ("post", f"{base}annuler/"),
        "held": ("post", f"{base}tenue/"),
        "external": ("post", f"{base}externes/"),
        "topic": ("post", f"{base}ordre-du-jour/sujet/"),
        "referral": ("post", f"{base}ordre-du-jour/signalement/"),
        "attendance": ("post", f"{base}presences/"),
        "action": ("post", f"{base}actions/"),
        "review": ("post", f"{base}relecture/"),
        "correction": ("post", f"{base}corrections/"),
        "approve": ("post", f"{base}approbation/"),
        "addendum": ("post", f"{base}additif/"),
        "sheet": ("get", f"{base}emargement/"),
    }
    if item is not None:
        found["notes"] = ("post", f"{base}ordre-du-jour/{item.pk}/notes/")
        found["decision"] = ("post", f"{base}ordre-du-jour/{item.pk}/decision/")
    external = meeting.externals.first()
    if external is not None:
        found["remove_external"] = ("post", f"{base}externes/{external.pk}/retirer/")
    action = meeting.action_items.first()
    if action is not None:
        found["action_status"] = ("post", f"{base}actions/{action.pk}/etat/")
    if document is not None:
        found["pdf"] = ("get", f"{base}pdf/{document.pk}/")
        found["retry"] = ("post", f"{base}pdf/{document.pk}/relancer/")
    return found


@pytest.fixture
def meeting(world):
    referral = file_referral(world.agent, world.tarascon)
    planned = plan(world)
    from meetings import actions

    actions.do_add_referral_item(planned, reference=referral.reference, acting_user=world.referent)
    actions.do_add_external(
        planned, name="Paul Roux", institution="Éducation nationale", acting_user=world.referent
    )
    held = hold(planned, world.referent)
    actions.do_add_action_item(
        held, what="Appeler", owner=world.member, due_on=held.local_day, acting_user=world.referent
    )
    return approved(world, held)


OUTSIDERS = [
    "member_without_grant",  # a cell member of the commune, not invited
    "agent",
    "other_agent",
    "coordinator",
    "dpo",
    "admin",
    "other_referent",
    "other_department_liaison",
]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", OUTSIDERS)
def test_every_url_is_404_for_people_who_may_not_see_the_meeting(as_user, world, meeting, persona):
    client = as_user(getattr(world, persona))
    for name, (method, url) in urls(meeting).items():
        assert getattr(client, method)(url, {"text": "x"}).status_code == 404, (persona, name)
    assert client.get(f"/reunions/{meeting.pk + 1000}/").status_code == 404
    listing = client.get("/reunions/")
    assert listing.status_code == 200
    assert f"/reunions/{meeting.pk}/" not in listing.content.decode()
    assert not access.meetings_visible_to(getattr(world, persona)).exists()


@pytest.mark.django_db
def test_forbidden_reads_are_recorded_as_denials(as_user, world, meeting):
    as_user(world.other_referent).get(f"/reunions/{meeting.pk}/")
    denial = AuditEntry.objects.filter(event=Event.DENIED).latest("pk")
    assert denial.object_pk == str(meeting.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["member", "liaison", "referent"])
def test_invited_people_and_the_referent_read_the_minutes_and_the_read_is_audited(
    as_user, world, meeting, persona
):
    user = getattr(world, persona)
    client = as_user(user)
    response = client.get(f"/reunions/{meeting.pk}/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    entry = AuditEntry.objects.filter(event=Event.ACCESS, actor=user).latest("pk")
    assert entry.object_pk == str(meeting.pk) and entry.additional_data["what"] == "minutes"
    assert f"/reunions/{meeting.pk}/" in client.get("/reunions/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["member", "liaison"])
def test_invited_people_cannot_manage(as_user, world, meeting, persona):
    client = as_user(getattr(world, persona))
    for name in ("edit", "cancel", "held", "topic", "attendance", "approve", "addendum", "sheet"):
        method, url = urls(meeting)[name]
        assert getattr(client, method)(url, {"text": "x"}).status_code == 404, name


@pytest.mark.django_db
def test_a_withdrawn_invitee_or_one_who_left_the_cell_loses_access(as_user, world):
    from meetings import actions

    meeting = plan(world)
    url = f"/reunions/{meeting.pk}/"
    assert as_user(world.member).get(url).status_code == 200
    membership = world.member.memberships.get()
    membership.starts_on = membership.ends_on = membership.starts_on.replace(year=2020)
    membership.save()
    assert as_user(world.member).get(url).status_code == 404
    assert as_user(world.liaison).get(url).status_code == 200
    actions.do_reschedule_meeting(
        meeting,
        starts_at=meeting.starts_at,
        duration_minutes=90,
        place="Mairie",
        chair=world.referent,
        invitees=[],
        acting_user=world.referent,
    )
    assert as_user(world.liaison).get(url).status_code == 404


@pytest.mark.django_db
def test_wrong_method_is_405(as_user, world, meeting):
    client = as_user(world.referent)
    assert client.get(f"/reunions/{meeting.pk}/approbation/").status_code == 405
    assert client.post(f"/reunions/{meeting.pk}/emargement/").status_code == 405


@pytest.mark.django_db
def test_no_admin_page_shows_meetings(as_user, world, meeting):
    client = as_user(world.admin)
    for path in ("/admin/meetings/meeting/", f"/admin/meetings/meeting/{meeting.pk}/change/"):
        assert client.get(path).status_code == 404


@pytest.mark.django_db
def test_liaison_calendar_shows_the_department_without_content(as_user, world, meeting):
    other = other_commune_meeting(world)
    html = as_user(world.liaison).get("/reunions/calendrier/").content.decode()
    rows = html.split('data-testid="calendar"')[1].split("</table>")[0]
    assert "Tarascon" in rows and "Miramas" in rows
    assert "Salle du conseil" not in rows and f"/reunions/{other.pk}/" not in rows
    # one referral discussed in Tarascon's held meeting; Miramas' has not been held yet
    assert "<td>1</td>" in rows and "<td>—</td>" in rows
    # The liaison was not invited to Miramas' meeting: its content stays closed.
    assert as_user(world.liaison).get(f"/reunions/{other.pk}/").status_code == 404
    for persona in ("referent", "member", "dpo", "coordinator", "admin"):
        assert as_user(getattr(world, persona)).get("/reunions/calendrier/").status_code == 404
    # Another department's liaison sees their own department's calendar: none of these.
    html = as_user(world.other_department_liaison).get("/reunions/calendrier/").content.decode()
    assert "Tarascon" not in html and "Miramas" not in html


@pytest.mark.django_db
def test_home_tile_links_to_meetings(as_user, world):
    # A member's home has tiles; the referent's is a dashboard, meetings in the navigation.
    assert 'href="/reunions/"' in as_user(world.referent).get("/").content.decode()
    html = as_user(world.member).get("/").content.decode()
    assert 'href="/reunions/"' in html
    tile = html.split("Réunions de la cellule")[1].split("</div>")[0]
    assert "bientôt disponible" not in tile


@pytest.mark.django_db
def test_charter_is_required_before_the_minutes(as_user, world, meeting):
    from tests.conventions.factories import CharterVersionFactory

    CharterVersionFactory(commune=world.tarascon, version=1)
    response = as_user(world.member).get(f"/reunions/{meeting.pk}/")
    assert response.status_code == 302 and "/conventions/" in response["Location"]


@pytest.mark.django_db
def test_list_calendar_and_detail_query_counts_do_not_grow_with_the_meetings(
    as_user, world, django_assert_max_num_queries
):
    from meetings import actions

    def add_meetings(count):
        for _ in range(count):
            meeting = plan(world)
            actions.do_add_topic(meeting, title="Sujet", acting_user=world.referent)

    add_meetings(2)
    referent, liaison = as_user(world.referent), as_user(world.liaison)
    pages = ((referent, "/reunions/"), (liaison, "/reunions/"), (liaison, "/reunions/calendrier/"))
    counts = []
    for client, url in pages:
        with django_assert_max_num_queries(40) as captured:
            assert client.get(url).status_code == 200
        counts.append(len(captured.captured_queries))
    add_meetings(10)
    for (client, url), count in zip(pages, counts, strict=True):
        with django_assert_max_num_queries(count):
            html = client.get(url).content.decode()
        assert html.count("<tr>") >= 13, url  # the header and the twelve meetings


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["referent", "member", "liaison"])
def test_every_meeting_url_is_behind_the_charter(as_user, world, meeting, persona):
    from tests.conventions.factories import CharterVersionFactory

    CharterVersionFactory(commune=world.tarascon, version=1)
    CharterVersionFactory(commune=None, department=world.tarascon.department, version=1)
    client = as_user(getattr(world, persona))
    found = urls(meeting)
    found["list"] = ("get", "/reunions/")
    found["create"] = ("get", "/reunions/nouvelle/")
    found["calendar"] = ("get", "/reunions/calendrier/")
    for name, (method, url) in found.items():
        response = getattr(client, method)(url, {"text": "x"})
        assert response.status_code == 302, (name, response.status_code)
        assert "/conventions/" in response["Location"], name
    # Nothing was read or written behind the gate.
    assert not AuditEntry.objects.filter(
        event=Event.ACCESS, actor=getattr(world, persona), object_pk=str(meeting.pk)
    ).exists()


@pytest.mark.django_db
def test_ids_of_another_meeting_under_this_meetings_urls_are_404(as_user, world, meeting):
    """Guessed ids: an agenda item, external participant, action item or PDF of another
    commune's meeting, named under a meeting the referent runs, is 404 and changes nothing."""
    from meetings import actions
    from meetings.models import ActionItem, ExternalParticipant
    from tests.meetings.helpers import hold

    theirs = other_commune_meeting(world)
    actions.do_add_topic(theirs, title="Sujet", acting_user=world.other_referent)
    external = actions.do_add_external(
        theirs, name="X", institution="Y", acting_user=world.other_referent
    )
    theirs = hold(theirs, world.other_referent)
    item = theirs.agenda_items.get()
    action = actions.do_add_action_item(
        theirs,
        what="Faire",
        owner=world.other_referent,
        due_on=theirs.local_day,
        acting_user=world.other_referent,
    )
    mine = hold(plan(world), world.referent)
    client = as_user(world.referent)
    base = f"/reunions/{mine.pk}/"
    document = MinutesDocument.objects.get(meeting=meeting)
    for url, data in (
        (f"{base}ordre-du-jour/{item.pk}/notes/", {"notes": "x"}),
        (f"{base}ordre-du-jour/{item.pk}/decision/", {"text": "x"}),
        (f"{base}externes/{external.pk}/retirer/", {}),
        (f"{base}actions/{action.pk}/etat/", {"status": "done"}),
        (f"{base}actions/", {"what": "x", "owner": world.referent.pk, "agenda_item": item.pk}),
        (f"{base}pdf/{document.pk}/relancer/", {}),
    ):
        assert client.post(url, data).status_code == 404, url
    assert client.get(f"{base}pdf/{document.pk}/").status_code == 404
    item.refresh_from_db()
    action.refresh_from_db()
    assert item.notes == "" and not item.decisions.exists()
    assert ExternalParticipant.objects.filter(pk=external.pk).exists()
    assert action.status == ActionItem.Status.OPEN


@pytest.mark.django_db
def test_the_list_and_the_edit_form_are_recorded_reads(as_user, world):
    meeting = plan(world)
    client = as_user(world.referent)
    client.get("/reunions/")
    entry = AuditEntry.objects.filter(event=Event.ACCESS, actor=world.referent).latest("pk")
    assert entry.additional_data == {"what": "list", "meetings": [meeting.pk]}
    client.get(f"/reunions/{meeting.pk}/modifier/")
    entry = AuditEntry.objects.filter(event=Event.ACCESS, actor=world.referent).latest("pk")
    assert entry.object_pk == str(meeting.pk) and entry.additional_data["what"] == "edit_form"
