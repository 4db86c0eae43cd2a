"""The DPO's question "who saw this referral", answered from its reference alone: every entry
about the referral and its dependent objects, in plain French, on the page, in CSV and in PDF."""

from __future__ import annotations

import datetime
import re
import subprocess
import tempfile

import pytest
from django.urls import reverse
from django.utils import timezone

from cases import actions
from cases.models import Attachment
from cmer.audit.models import AuditCheckpoint, AuditExport, VerificationRun
from tests.cases.helpers import PDF_BYTES, file_referral
from tests.conftest import step_up

pytestmark = pytest.mark.django_db

# Internal codes and English words the trail used to show to people.
INTERNAL = (
    "what=",
    "level=",
    "view_referral",
    "contribute_referral",
    "(detail)",
    "grant ",
    "on referral",
    "grantee",
    "reason_id",
    "brouillon-",
)


@pytest.fixture
def referral(world):
    return file_referral(
        world.agent, world.tarascon, attachments=[("p.pdf", "application/pdf", PDF_BYTES)]
    )


def _search(as_user, world, reference: str) -> str:
    response = as_user(world.dpo).get(reverse("audit:search"), {"reference": reference})
    assert response.status_code == 200
    return response.content.decode()


def _rows(page: str) -> str:
    body = page.split("<tbody", 1)[1].split("</tbody>", 1)[0] if "<tbody" in page else ""
    return re.sub(r"\s+", " ", body)


def test_referral_reads_are_found_by_reference(as_user, world, referral):
    as_user(world.referent).get(f"/signalements/{referral.pk}/")
    rows = _rows(_search(as_user, world, referral.reference))
    assert "consultation de la fiche" in rows
    assert world.referent.email in rows


def test_attachment_download_is_found_by_reference(as_user, world, referral):
    attachment = Attachment.objects.get(referral=referral)
    client = step_up(as_user(world.referent))  # a download is an export: a fresh code first
    response = client.get(f"/signalements/{referral.pk}/pieces/{attachment.pk}/")
    assert response.status_code == 200
    rows = _rows(_search(as_user, world, referral.reference))
    assert "téléchargement d&#x27;une pièce jointe" in rows
    assert "pièce jointe" in rows  # the attachment's own creation, while a draft, too


def test_timeline_entries_are_found_by_reference(as_user, world, referral):
    as_user(world.referent).post(
        f"/signalements/{referral.pk}/retour-agent/", {"text": "Merci, la situation est suivie."}
    )
    rows = _rows(_search(as_user, world, referral.reference))
    assert "entrée du suivi" in rows
    assert "Merci" not in rows  # content never


def test_grant_and_revoke_are_found_by_reference_in_plain_french(as_user, world, referral):
    expires = timezone.localdate() + datetime.timedelta(days=30)
    grant = actions.do_grant_access(
        referral,
        member=world.member,
        contribute=False,
        reason="Suivi éducatif de la personne",
        expires_on=expires,
        acting_user=world.referent,
    )
    actions.do_revoke_access(grant, reason="Fin du suivi", acting_user=world.referent)
    rows = _rows(_search(as_user, world, referral.reference))
    name = world.member.get_full_name()
    assert f"accès accordé à {name} (lecture) jusqu&#x27;au {expires:%d/%m/%Y}" in rows
    assert f"accès retiré à {name}" in rows
    assert "accès accordé" in rows  # the grant row's own creation, typed
    assert "Suivi éducatif" not in rows and "Fin du suivi" not in rows


def test_transmission_is_found_by_reference(as_user, world, referral, protocol):
    assessed = actions.do_change_status(
        referral, to_status="in_assessment", acting_user=world.referent
    )
    actions.do_transmit(
        assessed, items=["facts", "identity"], reason="motif", acting_user=world.referent
    )
    rows = _rows(_search(as_user, world, referral.reference))
    assert "transmission à la préfecture (faits observés, identité de la personne)" in rows
    assert "transmission à la préfecture" in rows


def test_archive_opening_is_found_by_reference(as_user, world, referral, rf):
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.user = world.referent
    request.session = SessionStore()
    actions.do_open_archive(request, referral, reason="Demande CNIL")
    rows = _rows(_search(as_user, world, referral.reference))
    assert "ouverture de l&#x27;archive (motif enregistré, chiffré)" in rows
    assert "Demande CNIL" not in rows


def test_denials_are_found_by_reference(as_user, world, referral):
    assert as_user(world.other_referent).get(f"/signalements/{referral.pk}/").status_code == 404
    rows = _rows(_search(as_user, world, referral.reference))
    assert "accès refusé" in rows
    assert world.other_referent.email in rows


def test_no_internal_code_on_the_page_nor_in_csv_nor_in_pdf(
    as_user, world, referral, protocol, django_capture_on_commit_callbacks
):
    as_user(world.referent).get(f"/signalements/{referral.pk}/")
    actions.do_grant_access(
        referral,
        member=world.member,
        contribute=True,
        reason="Suivi",
        expires_on=timezone.localdate() + datetime.timedelta(days=3),
        acting_user=world.referent,
    )
    rows = _rows(_search(as_user, world, referral.reference))
    for code in INTERNAL:
        assert code not in rows, code
    dpo = step_up(as_user(world.dpo))
    csv_text = b"".join(
        dpo.post(reverse("audit:export", args=["csv"]), {"reference": referral.reference})
    ).decode("utf-8-sig")
    assert "consultation de la fiche" in csv_text and "lecture et notes" in csv_text
    for code in INTERNAL:
        assert code not in csv_text, code
    # The PDF is prepared by the worker; the page says so, then offers the download.
    with django_capture_on_commit_callbacks(execute=True):
        response = dpo.post(
            reverse("audit:export", args=["pdf"]), {"reference": referral.reference}
        )
    assert response.status_code == 302
    prepared = AuditExport.objects.get()
    assert response["Location"] == reverse("audit:export_status", args=[prepared.pk])
    page = dpo.get(response["Location"]).content.decode()
    assert 'data-testid="export-ready"' in page
    pdf = dpo.get(reverse("audit:export_download", args=[prepared.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf.content)
        handle.flush()
        text = subprocess.run(
            ["pdftotext", "-layout", handle.name, "-"], capture_output=True, check=True, text=True
        ).stdout
    assert "consultation de la fiche" in text
    for code in INTERNAL:
        assert code not in text, code
    # Addresses and e-mails whole on one line (never split mid-token).
    assert "127.0.0.1" in text
    assert world.referent.email in text
    # Another DPO-less user cannot see or download it.
    other = as_user(world.referent)
    assert other.get(reverse("audit:export_status", args=[prepared.pk])).status_code == 404
    assert other.get(reverse("audit:export_download", args=[prepared.pk])).status_code == 404


def test_verify_now_runs_in_the_worker_and_shows_its_result(
    as_user, world, referral, django_capture_on_commit_callbacks
):
    dpo = as_user(world.dpo)
    with django_capture_on_commit_callbacks(execute=True):
        response = dpo.post(reverse("audit:verify_now"))
    assert response.status_code == 302
    run = VerificationRun.objects.get()
    assert run.status == VerificationRun.Status.DONE and run.result.ok
    assert run.checked == run.total > 0
    page = dpo.get(reverse("audit:integrity")).content.decode()
    assert 'data-testid="verify-result"' in page
    assert AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.MANUAL).exists()
    for persona in ("referent", "admin", "liaison"):
        assert as_user(getattr(world, persona)).post(reverse("audit:verify_now")).status_code == 404


def test_downloading_checkpoints_when_there_are_none_explains_why(as_user, world):
    response = as_user(world.dpo).get(reverse("audit:checkpoints"), follow=True)
    assert response.status_code == 200
    assert "Aucun point de contrôle n&#x27;a encore été signé" in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("audit:integrity")
