"""Benchmark of the minutes PDF (issue 14).

    .venv/bin/python bench/meetings_pdf_bench.py [--items 30] [--runs 5]

Throwaway SQLite database and private storage in a temp dir. Builds a held meeting whose minutes
run to about 20 A4 pages, then, in the same run and alternating:

- ours: ``meetings.documents.render_minutes`` (template and decrypted notes, restricted
  fetcher, Marianne fonts, PDF/A-3b, the stamp slot and its embedded font) against a bare
  WeasyPrint render of the same HTML (default fetcher, no variant), wall and CPU time (the CPU
  time of this process is what other processes on a loaded machine disturb least);
- the reader's stamp as the download serves it (``meetings.stamp``: SHA-256 check of the stored
  file, then the file streamed in blocks with the slot filled in) against a bare pypdf overlay
  (a one-page stamp PDF merged onto every page with ``merge_page``, on bytes in memory);
- the stamp's peak Python allocations (tracemalloc) for documents of about 6 to 240 pages.

Goals: render ≤ 1.2 × bare; stamp ≤ 50 ms and ≤ 2 × bare overlay; stamp memory flat in pages.
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="cmer-bench-meetings-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORK / 'bench.sqlite3'}")
os.environ.setdefault("PRIVATE_STORAGE_ROOT", str(WORK / "private"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

NOTE = (
    "Point de situation présenté par le service jeunesse : rupture scolaire signalée, contacts "
    "réguliers avec l'éducateur, famille reçue en mairie, proposition d'un accompagnement "
    "éducatif renforcé et d'un suivi par le service social du département. "
) * 8


def build_meeting(items: int):  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from cases import actions as case_actions
    from cases.actions import ReferralContent
    from cmer.accounts.models import (
        Commune,
        Department,
        Membership,
        MembershipStatus,
        Role,
        User,
    )
    from meetings import actions
    from meetings.models import AgendaItem, Attendance

    department, _ = Department.objects.get_or_create(code="13", defaults={"name": "BdR"})
    commune, _ = Commune.objects.get_or_create(
        insee_code="13108",
        defaults={"name": "Tarascon", "department": department, "reference_prefix": "TAR"},
    )

    def person(email: str, role: Role, **scope) -> User:  # type: ignore[no-untyped-def]
        user, _ = User.objects.get_or_create(
            email=email, defaults={"first_name": "Prénom", "last_name": email.split("@")[0]}
        )
        # Confirmed on a written basis, as seed_demo does (four-eyes is not what is measured).
        Membership.objects.get_or_create(
            user=user,
            role=role,
            **scope,
            defaults={"status": MembershipStatus.CONFIRMED, "decision_reason": "Banc d'essai"},
        )
        return user

    referent = person("referent@bench.test", Role.REFERENT, commune=commune)
    members = [person(f"membre{i}@bench.test", Role.CELL_MEMBER, commune=commune) for i in range(8)]
    agent = person("agent@bench.test", Role.REPORTING_AGENT, commune=commune)
    meeting = actions.do_plan_meeting(
        commune=commune,
        starts_at=timezone.now() + datetime.timedelta(minutes=5),
        duration_minutes=120,
        place="Salle du conseil",
        chair=referent,
        invitees=members,
        acting_user=referent,
    )
    meeting.starts_at = timezone.now() - datetime.timedelta(hours=1)
    meeting.save()
    for i in range(items):
        if i % 2 == 0:
            draft = case_actions.do_save_draft(
                acting_user=agent,
                commune=commune,
                content=ReferralContent(
                    surname=f"Nom{i}",
                    first_names="Camille",
                    birth_date=datetime.date(2009, 1, 1),
                    facts="Faits de démonstration.",
                    source="municipal_service",
                ),
                attachments=[],
            )
            referral = case_actions.do_submit_referral(draft, acting_user=agent)
            actions.do_add_referral_item(
                meeting, reference=referral.reference, acting_user=referent
            )
        else:
            actions.do_add_topic(meeting, title=f"Sujet {i}", acting_user=referent)
    actions.do_mark_held(meeting, acting_user=referent)
    actions.do_record_attendance(
        meeting,
        invitations={inv.pk: Attendance.PRESENT for inv in meeting.invitations.all()},
        externals={},
        acting_user=referent,
    )
    for item in AgendaItem.objects.filter(meeting=meeting):
        actions.do_save_notes(item, notes=NOTE, acting_user=referent)
        actions.do_add_decision(item, text="Suivi éducatif décidé.", acting_user=referent)
    meeting.refresh_from_db()
    return meeting


def timed(func, runs: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    """Median and minimum wall time (the minimum is the least disturbed by other processes)."""
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), min(samples), result


def bare_overlay(data: bytes, text: str) -> bytes:
    """The textbook pypdf stamp: a one-page stamp PDF merged onto every page."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (
        DecodedStreamObject,
        DictionaryObject,
        NameObject,
    )

    from meetings.documents import _pdf_string

    stamp_writer = PdfWriter()
    stamp_page = stamp_writer.add_blank_page(595.28, 841.89)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
            NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
        }
    )
    stamp_page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 7 Tf 28 12 Td " + _pdf_string(text) + b" Tj ET")
    stamp_page[NameObject("/Contents")] = stamp_writer._add_object(stream)
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        page.merge_page(stamp_page)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def ours_stamp(path: Path, sha256: str, offset: int, text: str) -> int:
    """What the download does: check the stored file, stream it with the slot filled in, in
    FileResponse's blocks. Returns the bytes sent."""
    from django.http import FileResponse

    from meetings.stamp import StampedFile, stamp_content, verify

    sent = 0
    raw = path.open("rb")
    if not verify(raw, sha256, offset):
        raise SystemExit("stored file does not verify")
    with StampedFile(raw, offset, stamp_content(text)) as stamped:
        for block in iter(lambda: stamped.read(FileResponse.block_size), b""):
            sent += len(block)
    return sent


def store(rendered, name: str) -> tuple[Path, str]:  # type: ignore[no-untyped-def]
    import hashlib

    path = WORK / name
    path.write_bytes(rendered.data)
    return path, hashlib.sha256(rendered.data).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)

    from django.conf import settings
    from django.template.loader import render_to_string
    from django.utils import translation
    from weasyprint import HTML

    from meetings.documents import minutes_context, page_count, render_minutes
    from meetings.documents import stamp_text as make_stamp_text

    meeting = build_meeting(args.items)
    with translation.override(settings.LANGUAGE_CODE):
        html = render_to_string("meetings/minutes_pdf.html", minutes_context(meeting, 1))
    render_minutes(meeting, 1)  # warm-up (fonts, templates, the stamp font's subset)
    HTML(string=html).write_pdf()
    samples: dict[str, list[float]] = {"ours": [], "bare": [], "ours_cpu": [], "bare_cpu": []}
    rendered = None
    for _ in range(args.runs):  # alternate, so that load on the machine hits both alike
        for name, func in (
            ("ours", lambda: render_minutes(meeting, 1)),
            ("bare", lambda: HTML(string=html).write_pdf()),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            result = func()
            samples[f"{name}_cpu"].append(time.process_time() - cpu)
            samples[name].append(time.perf_counter() - wall)
            if name == "ours":
                rendered = result
    if rendered is None:
        raise SystemExit("no run")
    data = rendered.data
    pages = page_count(data)
    print(f"minutes: {pages} pages, {len(data) / 1024:.0f} kB")
    for label, ours, bare in (
        ("wall median", statistics.median(samples["ours"]), statistics.median(samples["bare"])),
        ("wall minimum", min(samples["ours"]), min(samples["bare"])),
        (
            "CPU median",
            statistics.median(samples["ours_cpu"]),
            statistics.median(samples["bare_cpu"]),
        ),
        ("CPU minimum", min(samples["ours_cpu"]), min(samples["bare_cpu"])),
    ):
        print(
            f"render {label:12s} (of {args.runs}): ours {ours * 1000:5.0f} ms, "
            f"bare {bare * 1000:5.0f} ms, ratio {ours / bare:.2f} (goal <= 1.20)"
        )

    text = make_stamp_text("Prénom Nom du lecteur")
    path, sha256 = store(rendered, "minutes.pdf")
    ours_stamp(path, sha256, rendered.stamp_offset, text)
    bare_overlay(data, text)
    stamp_runs = args.runs * 4
    stamp_time, stamp_min, sent = timed(
        lambda: ours_stamp(path, sha256, rendered.stamp_offset, text), stamp_runs
    )
    overlay_time, overlay_min, overlaid = timed(lambda: bare_overlay(data, text), stamp_runs)
    print(
        f"stamp (ours, check + stream): {stamp_time * 1000:.2f} ms "
        f"(min {stamp_min * 1000:.2f}), {sent / 1024:.0f} kB sent (goal <= 50 ms)"
    )
    print(
        f"stamp (bare pypdf merge_page): {overlay_time * 1000:.1f} ms "
        f"(min {overlay_min * 1000:.1f}), {len(overlaid) / 1024:.0f} kB"
    )
    print(f"  ratio {stamp_time / overlay_time:.3f} (goal <= 2.00)")

    print("stamp peak Python allocations by page count:")
    for items in (max(args.items // 4, 1), args.items, args.items * 4, args.items * 12):
        other = render_minutes(build_meeting(items), 1)
        other_path, other_sha = store(other, f"minutes-{items}.pdf")
        peaks = []
        for func, func_args in (
            (ours_stamp, (other_path, other_sha, other.stamp_offset, text)),
            (bare_overlay, (other.data, text)),
        ):
            tracemalloc.start()
            func(*func_args)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        size = len(other.data)
        print(
            f"  {page_count(other.data):3d} pages, PDF {size / 1024:5.0f} kB: "
            f"ours peak {peaks[0] / 1024:6.0f} kB, "
            f"bare merge_page peak {peaks[1] / 1024:6.0f} kB"
        )


if __name__ == "__main__":
    main()
