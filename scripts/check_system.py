"""Check the system libraries the project needs; say exactly what to install if one is missing."""

from __future__ import annotations

import ctypes.util
import shutil
import sys

REQUIRED = {
    # library name: Debian/Ubuntu package
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz": "libharfbuzz0b",
    "harfbuzz-subset": "libharfbuzz-subset0",
    "fontconfig": "libfontconfig1",
}
# Programs the tests use: without them `make run` works, their tests skip (CI installs them).
PROGRAMS = {
    # program: Debian/Ubuntu package
    "clamd": "clamav-daemon",  # the antivirus tests start a real clamd (tests/clamd.py)
}


def main() -> int:
    missing = [pkg for lib, pkg in REQUIRED.items() if ctypes.util.find_library(lib) is None]
    sbin = "/usr/sbin:/usr/local/sbin"
    absent = [
        pkg
        for program, pkg in PROGRAMS.items()
        if shutil.which(program) is None and shutil.which(program, path=sbin) is None
    ]
    if absent:
        print("Antivirus tests will be skipped (clamd not found). Install it with:")
        print("    sudo apt-get install -y " + " ".join(absent))
    if missing:
        print("Missing system libraries for PDF rendering (WeasyPrint). Install them with:")
        print("    sudo apt-get install -y " + " ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
