"""Demo meetings for ``seed_demo`` (DEBUG only): Tarascon's cell met a week ago (approved
minutes, a decision on a fictional referral, an action item) and meets again in ten days."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from cmer.accounts.models import Commune, User

if TYPE_CHECKING:
    from cases.models import Referral


def seed_demo(communes: dict[str, Commune]) -> None:
    """Called by ``cmer.accounts.demo.seed_apps``: a held meeting with approved minutes, a
    planned one, in Tarascon."""
    seed_meetings(communes["TAR"])


def _demo_referral(commune: Commune, agent: User) -> Referral:
    from cases import actions as case_actions
    from cases.actions import ReferralContent
    from cases.models import Referral

    existing = Referral.objects.filter(commune=commune).exclude(status="draft").first()
    if existing is not None:
        return existing
    draft = case_actions.do_save_draft(
        acting_user=agent,
        commune=commune,
        content=ReferralContent(
            surname="Exemple",
            first_names="Jules",
            birth_date=datetime.date(2009, 4, 2),
            facts="Fiction de démonstration : propos répétés valorisant une attaque violente.",
            source=Referral.Source.MUNICIPAL_SERVICE,
            author_service="Service jeunesse",
        ),
        attachments=[],
    )
    return case_actions.do_submit_referral(draft, acting_user=agent)


def seed_meetings(commune: Commune) -> None:
    """Idempotent: nothing happens if the commune already has meetings."""
    from . import actions
    from .models import AgendaItem, Attendance, Meeting

    if Meeting.objects.filter(commune=commune).exists():
        return
    referent = User.objects.get(email="referent@tarascon.demo")
    member = User.objects.get(email="membre@tarascon.demo")
    liaison = User.objects.get(email="liaison@prefecture.demo")
    agent = User.objects.get(email="agent@tarascon.demo")
    referral = _demo_referral(commune, agent)
    soon = timezone.now() + datetime.timedelta(minutes=5)
    common: dict[str, Any] = {
        "commune": commune,
        "duration_minutes": 120,
        "chair": referent,
        "invitees": [member, liaison],
        "acting_user": referent,
    }
    held = actions.do_plan_meeting(starts_at=soon, place="Mairie, salle du conseil", **common)
    # Planned "in the future" like any meeting, then moved to last week: the demo's past.
    held.starts_at = timezone.now() - datetime.timedelta(days=7)
    held.save()
    actions.do_add_referral_item(held, reference=referral.reference, acting_user=referent)
    actions.do_add_topic(
        held, title="Bilan des formations de sensibilisation", acting_user=referent
    )
    actions.do_add_external(
        held, name="Claire Dumas", institution="Éducation nationale", acting_user=referent
    )
    held = actions.do_mark_held(held, acting_user=referent)
    actions.do_record_attendance(
        held,
        invitations={inv.pk: Attendance.PRESENT for inv in held.invitations.all()},
        externals={ext.pk: Attendance.EXCUSED for ext in held.externals.all()},
        acting_user=referent,
    )
    item = AgendaItem.objects.get(meeting=held, referral=referral)
    actions.do_save_notes(
        item, notes="Situation suivie par le service jeunesse.", acting_user=referent
    )
    actions.do_add_decision(item, text="accompagnement éducatif décidé", acting_user=referent)
    actions.do_add_action_item(
        held,
        what="Proposer un rendez-vous à la famille",
        owner=member,
        due_on=timezone.localdate() + datetime.timedelta(days=2),
        acting_user=referent,
        agenda_item=item,
    )
    actions.do_send_for_review(held, review_until=timezone.localdate(), acting_user=referent)
    actions.do_approve_minutes(held, acting_user=referent)
    actions.do_plan_meeting(
        starts_at=timezone.now() + datetime.timedelta(days=10),
        place="Mairie, salle du conseil",
        **common,
    )
