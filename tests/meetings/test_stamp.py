"""The reader's stamp keeps the minutes PDF/A: same structure, embedded font, no transparency,
streamed in blocks; a stored file that no longer matches its SHA-256 is never served."""

from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from pypdf import PdfReader
from pypdf.generic import IndirectObject

from cmer.audit.models import AuditEntry, Event
from meetings import stamp
from meetings.models import MinutesDocument
from tests.conftest import step_up
from tests.meetings.helpers import minutes_document


@pytest.fixture
def document(world, django_capture_on_commit_callbacks):
    return minutes_document(world, django_capture_on_commit_callbacks)


def stored(document) -> bytes:
    with document.file.open("rb") as handle:
        return handle.read()


def download(as_user, user, document) -> bytes:
    response = step_up(as_user(user)).get(f"/reunions/{document.meeting_id}/pdf/{document.pk}/")
    assert response.status_code == 200
    assert int(response["Content-Length"]) == document.file.size
    return b"".join(response.streaming_content)


def pdfa_markers(reader: PdfReader) -> None:
    root = reader.trailer["/Root"]
    metadata = root["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in metadata
    assert b'pdfaid:conformance="B"' in metadata
    intents = root["/OutputIntents"]
    assert intents[0].get_object()["/S"] == "/GTS_PDFA1"
    assert "/DestOutputProfile" in intents[0].get_object()


def font_programs(font) -> list:
    """The embedded font programs behind a font dictionary (Type0 through its descendants)."""
    font = font.get_object()
    descriptors = []
    if font["/Subtype"] == "/Type0":
        for descendant in font["/DescendantFonts"]:
            descriptors.append(descendant.get_object()["/FontDescriptor"].get_object())
    else:
        descriptors.append(font["/FontDescriptor"].get_object())
    return [d.get(key) for d in descriptors for key in ("/FontFile", "/FontFile2", "/FontFile3")]


@pytest.mark.django_db
def test_stamped_copy_keeps_the_original_pdfa_structure(as_user, world, document):
    original = stored(document)
    copy = download(as_user, world.member, document)
    # Same length, same bytes outside the slot: offsets, cross-reference, XMP, ID unchanged.
    assert len(copy) == len(original)
    start, end = document.stamp_offset, document.stamp_offset + stamp.SLOT_SIZE
    assert copy[:start] == original[:start] and copy[end:] == original[end:]
    assert copy[start:end] != original[start:end]
    assert copy.rstrip().endswith(b"%%EOF") and copy.count(b"%%EOF") == 1  # no added revision

    before, after = PdfReader(io.BytesIO(original)), PdfReader(io.BytesIO(copy))
    pdfa_markers(before)
    pdfa_markers(after)
    assert after.trailer["/ID"] == before.trailer["/ID"]
    assert after.metadata == before.metadata  # the Info dictionary (producer…) untouched

    name = world.member.get_full_name()
    for page in after.pages:
        assert "Exemplaire nominatif de" in page.extract_text() and name in page.extract_text()
        # Every font the page may use is embedded, the stamp's included.
        fonts = page["/Resources"]["/Font"]
        assert "/CMERStamp" in fonts
        for key in fonts:
            assert any(program is not None for program in font_programs(fonts[key])), key
        # The stamp is the last content stream; it draws text only, in the embedded font.
        contents = page["/Contents"]
        assert isinstance(contents[-1], IndirectObject)
        slot = contents[-1].get_object().get_data()
        assert slot.startswith(b"Q\nq BT /CMERStamp 7 Tf")
        for operator in (b" gs", b" Do", b"BI ", b" sh"):  # no graphics state, image, shading
            assert operator not in slot

    # The stamp font: a non-symbolic TrueType with WinAnsi, and widths as in its program.
    font = after.pages[0]["/Resources"]["/Font"]["/CMERStamp"].get_object()
    assert font["/Subtype"] == "/TrueType" and font["/Encoding"] == "/WinAnsiEncoding"
    descriptor = font["/FontDescriptor"].get_object()
    assert descriptor["/Flags"] & 32 and not descriptor["/Flags"] & 4
    from fontTools.ttLib import TTFont

    program = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().get_data()))
    cmap = program["cmap"].getcmap(3, 1).cmap
    scale = 1000 / program["head"].unitsPerEm
    widths = font["/Widths"]
    for code, char in stamp.winansi_codes().items():
        glyph = cmap[ord(char)]
        assert widths[code - 32] == round(program["hmtx"][glyph][0] * scale), char


@pytest.mark.django_db
@pytest.mark.skipif(not shutil.which("qpdf"), reason="qpdf (Debian) not installed")
def test_stamped_copy_passes_qpdf_check(as_user, world, document, tmp_path):
    path = tmp_path / "copy.pdf"
    path.write_bytes(download(as_user, world.member, document))
    result = subprocess.run(
        ["qpdf", "--check", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors" in result.stdout


def test_the_embedded_font_covers_every_winansi_character_the_stamp_may_write():
    assert stamp.stamp_font().supported == frozenset(stamp.winansi_codes())


def test_stamp_text_outside_winansi_is_transliterated_and_escaped():
    content = stamp.stamp_content("Łukasz Ōta (Śmigły) \\ 张")
    assert len(content) == stamp.SLOT_SIZE
    assert b"(Lukasz Ota \\(Smigly\\) \\\\ ?)" in content
    with pytest.raises(ValueError):
        stamp.stamp_content("x" * stamp.SLOT_SIZE)
    assert len(stamp.clip_name("a" * 500)) == stamp.MAX_NAME_CHARS


@pytest.mark.parametrize("block", [1, 7, 1000, 1 << 20])
def test_stamped_file_replaces_exactly_the_slot_whatever_the_block_size(block):
    data = bytes(range(256)) * 40
    offset, replacement = 3000, b"X" * 1024
    reader = stamp.StampedFile(io.BytesIO(data), offset, replacement)
    out = b"".join(iter(lambda: reader.read(block), b""))
    assert out == data[:offset] + replacement + data[offset + 1024 :]


@pytest.mark.django_db
def test_a_stored_file_changed_on_disk_is_an_integrity_alarm_and_not_served(
    as_user, world, document
):
    original = stored(document)
    with open(document.file.path, "wb") as handle:
        handle.write(original.replace(b"%%EOF", b"%%EOG"))
    response = step_up(as_user(world.member)).get(
        f"/reunions/{document.meeting_id}/pdf/{document.pk}/"
    )
    assert response.status_code == 409
    assert 'data-testid="integrity-alarm"' in response.content.decode()
    entry = AuditEntry.objects.filter(event=Event.ACCESS, actor=world.member).latest("pk")
    assert entry.additional_data["integrity"] == "mismatch"
    assert not AuditEntry.objects.filter(event=Event.EXPORT).exists()  # nothing left
    document.file.delete(save=False)
    response = step_up(as_user(world.member)).get(
        f"/reunions/{document.meeting_id}/pdf/{document.pk}/"
    )
    assert response.status_code == 409


@pytest.mark.django_db
def test_a_document_stored_before_the_slot_is_still_stamped(as_user, world, document):
    MinutesDocument.objects.filter(pk=document.pk).update(stamp_offset=None)
    response = step_up(as_user(world.member)).get(
        f"/reunions/{document.meeting_id}/pdf/{document.pk}/"
    )
    pages = PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages
    assert all(world.member.get_full_name() in page.extract_text() for page in pages)
