"""Referrals at a past date, built through the real actions."""

from __future__ import annotations

import datetime

import time_machine
from django.utils import timezone

from cases import actions
from cases.models import Referral
from tests.cases.helpers import PDF_BYTES, PNG_BYTES, file_referral

Status = Referral.Status


def at(year: int, month: int, day: int, hour: int = 10) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime(year, month, day, hour))  # noqa: DTZ001


def closed(world, when: datetime.datetime, *, archive: bool = True, **overrides) -> Referral:
    """Filed, closed (and archived) on ``when``."""
    with time_machine.travel(when, tick=False):
        referral = file_referral(world.agent, world.tarascon, **overrides)
        referral = actions.do_change_status(
            referral,
            to_status=Status.CLOSED,
            close_reason=Referral.CloseReason.NO_FURTHER_ACTION,
            acting_user=world.referent,
        )
        if archive:
            referral = actions.do_archive_referral(referral, acting_user=world.referent)
    return referral


def full_referral(world, when: datetime.datetime) -> Referral:
    """A referral with everything that can hang from one: attachments, notes, an addendum, a
    revoked grant, a transmission with feedback, and the prefecture's information."""
    from cases.models import StateInformation

    with time_machine.travel(when, tick=False):
        referral = file_referral(
            world.agent,
            world.tarascon,
            attachments=[("rapport.pdf", "application/pdf", PDF_BYTES)],
            approximate_age=None,
            residence_commune="Tarascon",
            address="12 rue des Lilas",
        )
        actions.do_add_attachments(referral, [_png()], acting_user=world.referent)
        actions.do_change_status(
            referral, to_status=Status.IN_ASSESSMENT, acting_user=world.referent
        )
        actions.do_add_timeline_entry(
            referral, kind="note", text="Note confidentielle Dupont", acting_user=world.referent
        )
        actions.do_add_addendum(
            referral, text="Complément Dupont", reason="Erreur", acting_user=world.agent
        )
        grant = actions.do_grant_access(
            referral,
            member=world.member,
            contribute=True,
            reason="Suivi éducatif de Jeanne",
            expires_on=timezone.localdate() + datetime.timedelta(days=30),
            acting_user=world.referent,
        )
        actions.do_revoke_access(grant, reason="Fin du suivi Dupont", acting_user=world.referent)
        actions.do_transmit(
            referral,
            items=["identity", "facts"],
            reason="Signes graves Dupont",
            acting_user=world.referent,
        )
        actions.do_prefecture_feedback(
            referral, text="Retour préfecture sur Dupont", acting_user=world.liaison
        )
        actions.do_save_state_information(
            StateInformation(
                commune=world.tarascon,
                case=StateInformation.Case.OWN_REFERRAL,
                referral=referral,
                person="Jeanne Dupont",
                content="Suivie par les services",
            ),
            acting_user=world.liaison,
        )
        from meetings.actions import do_add_decision, do_add_referral_item
        from tests.meetings.helpers import hold, plan

        meeting = hold(plan(world), world.referent)
        item = do_add_referral_item(
            meeting, reference=referral.reference, acting_user=world.referent
        )
        do_add_decision(item, text="Orienter vers la prévention", acting_user=world.referent)
        referral = actions.do_change_status(
            referral,
            to_status=Status.CLOSED,
            close_reason=Referral.CloseReason.HANDLED_BY_STATE,
            acting_user=world.referent,
        )
        referral = actions.do_archive_referral(referral, acting_user=world.referent)
    return referral


def _png():
    from cases.files import CheckedFile

    return CheckedFile(
        content=PNG_BYTES, content_type="image/png", display_name="photo.png", sha256="1" * 64
    )
