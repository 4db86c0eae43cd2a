"""A real ClamAV daemon for the tests (pytest plugin, listed in tests/conftest.py).

clamd runs with its own configuration in a temporary directory and one body signature for the
EICAR test string (no signature download is possible on CI machines). The EICAR string is built
here at run time from two halves, so that no file of the repository contains it whole (a
scanner of the repository would flag it). Tests that need clamd skip with a clear reason when
it is not installed; CI installs it (``.ci/run``), so there they run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The 68-byte EICAR anti-malware test string, in two halves joined at run time.
_EICAR_HEAD = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$"
_EICAR_TAIL = rb"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
EICAR = _EICAR_HEAD + _EICAR_TAIL
SIGNATURE = "Custom.EICAR.Body"
STREAM_MAX = "25M"


def clamd_binary() -> str | None:
    return shutil.which("clamd") or shutil.which("clamd", path="/usr/sbin:/usr/local/sbin")


@dataclass
class Clamd:
    socket: str
    process: subprocess.Popen[bytes]
    directory: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Stop this daemon by its pid (never by name: other clamd processes may run)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def answers(path: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(path)
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
    except OSError:
        return False


def clamd_command(binary: str, directory: Path) -> tuple[list[str], str]:
    """Write clamd's own configuration and signature database in ``directory``: the command
    that starts it in the foreground, and its socket. Also used by deploy/smoke.py."""
    database = directory / "db"
    database.mkdir(parents=True, exist_ok=True)
    # A body signature: name, target type 0 (any file), offset * (anywhere), hex of the bytes.
    (database / "custom.ndb").write_text(f"{SIGNATURE}:0:*:{EICAR.hex()}\n", encoding="ascii")
    path = str(directory / "clamd.sock")
    config = directory / "clamd.conf"
    config.write_text(
        "\n".join(
            [
                f"LocalSocket {path}",
                f"DatabaseDirectory {database}",
                f"PidFile {directory / 'clamd.pid'}",
                f"TemporaryDirectory {directory}",
                "Foreground yes",
                f"StreamMaxLength {STREAM_MAX}",
                f"MaxFileSize {STREAM_MAX}",
                "MaxScanSize 100M",
                "SelfCheck 0",
                "LogVerbose no",
                "",
            ]
        ),
        encoding="ascii",
    )
    return [binary, "-c", str(config)], path


def start_clamd(directory: Path) -> Clamd:
    """Start clamd on a UNIX socket in ``directory``; wait until it answers PING."""
    binary = clamd_binary()
    if binary is None and os.environ.get("CMER_REQUIRE_CLAMD"):
        pytest.fail("CMER_REQUIRE_CLAMD is set (CI) but clamd is not installed: clamav-daemon")
    if binary is None:
        pytest.skip(
            "clamd is not installed (Debian: apt-get install clamav-daemon); "
            "CI installs it, and these antivirus tests run there"
        )
    command, path = clamd_command(binary, directory)
    with open(directory / "clamd.out", "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    clamd = Clamd(socket=path, process=process, directory=directory)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if answers(path):
            return clamd
        time.sleep(0.05)
    clamd.stop()
    output_text = (directory / "clamd.out").read_text(errors="replace")[-2000:]
    pytest.fail(f"clamd did not start: {output_text}")


@pytest.fixture(scope="session")
def clamd_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    """One clamd for the whole session, stopped by its pid at the end."""
    clamd = start_clamd(tmp_path_factory.mktemp("clamd"))
    yield clamd
    clamd.stop()


@pytest.fixture
def clamav(clamd_daemon: Clamd, settings) -> Clamd:  # type: ignore[no-untyped-def]
    """Scanning on, against the session's real clamd."""
    settings.CLAMAV_SOCKET = clamd_daemon.socket
    settings.CLAMAV_TIMEOUT = 10.0
    return clamd_daemon


@pytest.fixture
def stopped_clamav(tmp_path: Path, settings) -> Clamd:  # type: ignore[no-untyped-def]
    """Scanning on, pointed at a real clamd that was started and then stopped (its socket
    file may remain: connecting to it fails as it would in production)."""
    clamd = start_clamd(tmp_path)
    clamd.stop()
    settings.CLAMAV_SOCKET = clamd.socket
    settings.CLAMAV_TIMEOUT = 2.0
    return clamd
