"""cmer.antivirus against a real clamd (tests/clamd.py): verdicts, and failing closed."""

from __future__ import annotations

import io
import socket
import threading
import zipfile

import pytest
from django.core.exceptions import ValidationError

from cmer import antivirus
from cmer.audit.models import AuditEntry, Event
from tests.clamd import EICAR, SIGNATURE
from tests.factories import UserFactory


def zipped(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def test_clean_bytes_are_clean(clamav):
    assert antivirus.scan(b"Compte rendu de la cellule, rien a signaler.\n" * 1000).clean


def test_eicar_is_detected_with_its_signature(clamav):
    verdict = antivirus.scan(b"prefix " + EICAR + b" suffix")
    assert not verdict.clean
    assert verdict.signature.startswith(SIGNATURE)


def test_eicar_inside_a_zip_is_detected(clamav):
    verdict = antivirus.scan(zipped("dossier/lettre.txt", EICAR))
    assert not verdict.clean
    assert verdict.signature.startswith(SIGNATURE)


def test_a_file_object_is_scanned_from_its_start_and_rewound(clamav):
    stream = io.BytesIO(b"x" * 600_000 + EICAR)
    stream.seek(123)
    assert not antivirus.scan(stream).clean
    assert stream.tell() == 0


def test_ping_of_a_stopped_daemon_is_false(stopped_clamav):
    assert antivirus.ping() is False


def test_ping_answers_pong(clamav):
    assert antivirus.ping() is True


def test_stopped_daemon_is_unavailable(stopped_clamav):
    with pytest.raises(antivirus.ScanUnavailable):
        antivirus.scan(b"anything")


def test_over_the_stream_limit_is_refused_before_sending(clamav, settings):
    settings.CLAMAV_STREAM_MAX_BYTES = 1024
    with pytest.raises(antivirus.ScanUnavailable, match="CLAMAV_STREAM_MAX_BYTES"):
        antivirus.scan(b"y" * 4096)


def test_clamd_own_stream_limit_answer_is_an_error_not_a_verdict(clamav, settings):
    """Over clamd's StreamMaxLength (25M here) clamd answers an ERROR and closes: refused."""
    settings.CLAMAV_STREAM_MAX_BYTES = 64 * 1024 * 1024
    with pytest.raises(antivirus.ScanUnavailable):
        antivirus.scan(b"z" * (26 * 1024 * 1024))


def test_a_daemon_that_never_answers_times_out(tmp_path, settings):
    path = str(tmp_path / "silent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    accepted: list[socket.socket] = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True)
    thread.start()
    settings.CLAMAV_SOCKET = path
    settings.CLAMAV_TIMEOUT = 0.5
    try:
        with pytest.raises(antivirus.ScanUnavailable, match=r"timed out|TimeoutError|timeout"):
            antivirus.scan(b"hello")
    finally:
        thread.join(2)
        for conn in accepted:
            conn.close()
        server.close()


@pytest.mark.parametrize("reply", [b"garbage\0", b"stream: ERROR\0", b""])
def test_unexpected_replies_are_errors(tmp_path, settings, reply):
    path = str(tmp_path / "odd.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def answer() -> None:
        conn = server.accept()[0]
        with conn:
            conn.settimeout(2)
            received = b""
            while not received.endswith(b"\0\0\0\0"):
                data = conn.recv(65536)
                if not data:
                    break
                received += data
            conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    settings.CLAMAV_SOCKET = path
    settings.CLAMAV_TIMEOUT = 2.0
    try:
        with pytest.raises(antivirus.ScanUnavailable):
            antivirus.scan(b"hello")
    finally:
        thread.join(3)
        server.close()


@pytest.mark.django_db
def test_require_clean_records_a_detection_and_refuses(clamav):
    user = UserFactory()
    with pytest.raises(ValidationError) as refused:
        antivirus.require_clean(EICAR, where="tests.point", acting_user=user)
    assert refused.value.code == "infected"
    message = " ".join(refused.value.messages)
    assert "antivirus" in message and SIGNATURE in message
    entry = AuditEntry.objects.get(event=Event.MALWARE)
    assert entry.actor == user
    assert entry.additional_data["where"] == "tests.point"
    assert entry.additional_data["signature"].startswith(SIGNATURE)
    assert entry.additional_data["size"] == len(EICAR)
    assert len(entry.additional_data["sha256"]) == 64


@pytest.mark.django_db
def test_require_clean_fails_closed_with_the_french_message(stopped_clamav):
    with pytest.raises(ValidationError) as refused:
        antivirus.require_clean(b"clean", where="tests.point", acting_user=None)
    assert refused.value.code == "antivirus_unavailable"
    assert "Analyse antivirus indisponible, réessayez plus tard" in refused.value.messages[0]
    assert not AuditEntry.objects.filter(event=Event.MALWARE).exists()


@pytest.mark.django_db
def test_require_clean_accepts_a_clean_file(clamav):
    antivirus.require_clean(b"clean", where="tests.point", acting_user=None)
    assert not AuditEntry.objects.filter(event=Event.MALWARE).exists()


def test_scanning_is_off_only_when_the_socket_is_empty(settings):
    settings.CLAMAV_SOCKET = ""
    assert not antivirus.scanning_enabled()
    # Off: nothing is contacted, nothing raised (tests that are not about scanning, demo).
    antivirus.require_clean(EICAR, where="tests.point", acting_user=None)
    settings.CLAMAV_SOCKET = "/nonexistent/clamd.sock"
    assert antivirus.scanning_enabled()
    with pytest.raises(ValidationError):
        antivirus.require_clean(b"clean", where="tests.point", acting_user=None)


def test_upload_caps_stay_below_clamd_stream_limit(settings):
    from cases.files import MAX_ATTACHMENT_BYTES
    from conventions.rules import MAX_PDF_BYTES
    from training.parsing import MAX_BYTES

    for cap in (MAX_ATTACHMENT_BYTES, MAX_PDF_BYTES, MAX_BYTES):
        assert cap < settings.CLAMAV_STREAM_MAX_BYTES
