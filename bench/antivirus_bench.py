"""Benchmark of the antivirus scan on the upload path (issue 17).

    .venv/bin/python bench/antivirus_bench.py [--runs 9] [--sizes 1,20]

Starts its own clamd (Debian's clamav-daemon, the tests' configuration: one body signature,
StreamMaxLength 25M) in a temporary directory and stops it by its pid. For each size (MB of
random bytes, which nothing compresses), alternates in the same loop:

- store unscanned, as the apps store: an attachment (``cases.files.write_encrypted``: Fernet +
  write) and a plain private file (``default_storage.save``, as signed PDFs and attendance sheets);
- scan then store: ``cmer.antivirus.require_clean`` (INSTREAM over the UNIX socket) then the same.

Goal: scan + store ≤ 1.5 × store + 100 ms. Prints medians and minima (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="cmer-bench-antivirus-"))
os.environ.setdefault("DATABASE_URL", f"sqlite:///{WORK / 'bench.sqlite3'}")
os.environ.setdefault("PRIVATE_STORAGE_ROOT", str(WORK / "private"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402

from cases import files  # noqa: E402
from cmer import antivirus  # noqa: E402
from tests.clamd import answers, clamd_binary, clamd_command  # noqa: E402


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def measure_size(megabytes: int, runs: int) -> None:
    content = os.urandom(megabytes * 1_000_000)
    times: dict[str, list[float]] = {k: [] for k in ("enc", "scan_enc", "plain", "scan_p")}

    def scan() -> None:
        antivirus.require_clean(content, where="bench", acting_user=None)

    def plain() -> None:
        default_storage.save("bench/f.bin", ContentFile(content))

    for _ in range(runs):
        times["enc"].append(timed(lambda: files.write_encrypted(content)))
        times["scan_enc"].append(timed(lambda: (scan(), files.write_encrypted(content))))
        times["plain"].append(timed(plain))
        times["scan_p"].append(timed(lambda: (scan(), plain())))

    def cell(key: str) -> str:
        return f"{statistics.median(times[key]):.0f} ms (min {min(times[key]):.0f})"

    print(
        f"| {megabytes} MB | {cell('enc')} | {cell('scan_enc')} | {cell('plain')} | "
        f"{cell('scan_p')} |"
    )
    for store, scanned in (("enc", "scan_enc"), ("plain", "scan_p")):
        for name, pick in (("median", statistics.median), ("min", min)):
            goal = 1.5 * pick(times[store]) + 100
            verdict = "ok" if pick(times[scanned]) <= goal else "MISSED"
            print(f"  {megabytes} MB {store} ({name}): goal <= {goal:.0f} ms -> {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--sizes", default="1,20", help="MB, comma-separated")
    args = parser.parse_args()
    binary = clamd_binary()
    if binary is None:
        print("clamd is not installed: sudo apt-get install -y clamav-daemon")
        return 1
    command, socket_path = clamd_command(binary, WORK / "clamd")
    with open(WORK / "clamd.out", "wb") as output:
        clamd = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        deadline = time.monotonic() + 30
        while not answers(socket_path):
            if time.monotonic() > deadline or clamd.poll() is not None:
                print((WORK / "clamd.out").read_text())
                return 1
            time.sleep(0.05)
        settings.CLAMAV_SOCKET = socket_path
        print(f"clamd pid {clamd.pid}, socket {socket_path}; load {os.getloadavg()}")
        print("| size | store (attachment) | scan + store | store (plain file) | scan + store |")
        print("|---|---|---|---|---|")
        for megabytes in (int(s) for s in args.sizes.split(",")):
            measure_size(megabytes, args.runs)
    finally:
        clamd.terminate()
        clamd.wait(timeout=10)
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
