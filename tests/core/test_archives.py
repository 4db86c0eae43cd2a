"""cmer.archives: caps read from the zip directory, capped member reads, a parse budget."""

from __future__ import annotations

import io
import os
import time
import zipfile

import pytest

from cmer import archives
from tests import bombs


def small_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_an_ordinary_archive_opens_and_reads():
    data = small_zip({"a.xml": b"<a/>" * 1000, "b.xml": b"<b/>"})
    with archives.open_zip(data) as archive:
        assert archives.read_member(archive, "a.xml", 10_000) == b"<a/>" * 1000


def test_caps_come_from_settings(settings):
    settings.UPLOAD_ARCHIVE_MAX_MEMBERS = 2
    with pytest.raises(archives.ArchiveRefused, match="plus de 2 éléments"):
        archives.open_zip(small_zip({"a": b"", "b": b"", "c": b""}))


def test_the_member_count_is_refused_before_the_directory_is_parsed(settings):
    # 5000 entries: refused by counting signatures, no ZipInfo built.
    with pytest.raises(archives.ArchiveRefused, match="plus de 1000 éléments"):
        archives.open_zip(bombs.many_members(5000))


def refusal(data: bytes) -> str:
    try:
        archives.open_zip(data).close()
    except archives.ArchiveRefused as refused:
        return str(refused)
    return "accepted"


@pytest.mark.parametrize(
    ("size", "message"), [(200 * bombs.MiB, "16 Mo"), (4 * bombs.MiB, "100 fois")]
)
def test_declared_sizes_and_ratio_are_refused_without_decompressing(size, message):
    data = bombs.zip_bomb(size)
    result, cost = bombs.measure(lambda: refusal(data))
    assert message in result
    assert cost.seconds < 1, cost
    assert cost.peak_bytes < 10 * bombs.MiB, cost


def test_the_total_is_capped(settings):
    settings.UPLOAD_ARCHIVE_MAX_TOTAL_BYTES = 1000
    with pytest.raises(archives.ArchiveRefused, match="son contenu dépasse"):
        archives.open_zip(small_zip({"a": b"x" * 600, "b": b"y" * 600}))


def test_a_damaged_archive_is_a_clear_refusal():
    with pytest.raises(archives.ArchiveRefused, match="endommagée"):
        archives.open_zip(b"PK\x03\x04" + b"\0" * 100)


def test_read_member_is_capped_and_never_quotes_the_member():
    data = small_zip({"mimetype": b"A" * 5000})
    with archives.open_zip(data) as archive, pytest.raises(archives.ArchiveRefused) as refused:
        archives.read_member(archive, "mimetype", 200)
    assert "AAAA" not in str(refused.value)


def test_a_budgeted_archive_keeps_a_large_directory_whole_and_stops_at_the_deadline():
    data = bombs.many_members(900)  # a directory of ~40 KB, read whole
    with archives.open_zip(data, deadline=archives.Deadline(30)) as archive:
        assert len(archive.infolist()) == 901
    expired = archives.Deadline(0.01)
    time.sleep(0.02)
    with pytest.raises(archives.ArchiveRefused, match="trop long à lire"):
        archives.open_zip(data, deadline=expired).read("[Content_Types].xml")


def test_a_big_member_reads_whole_through_the_budgeted_reader():
    payload = os.urandom(5 * bombs.MiB)  # not compressible: many short reads of member data
    data = small_zip({"big.bin": payload})
    with archives.open_zip(data, deadline=archives.Deadline(30)) as archive:
        assert archive.read("big.bin") == payload
