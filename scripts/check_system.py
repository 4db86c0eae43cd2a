"""Check the system libraries the project needs; say exactly what to install if one is missing."""

from __future__ import annotations

import ctypes.util
import shutil
import sys
from pathlib import Path

REQUIRED = {
    # library name: Debian/Ubuntu package
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz": "libharfbuzz0b",
    "harfbuzz-subset": "libharfbuzz-subset0",
    "fontconfig": "libfontconfig1",
}
# Files the application reads: path: Debian/Ubuntu package.
FILES = {
    # the reader's stamp on the minutes PDF embeds DejaVu Sans (meetings/stamp.py)
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf": "fonts-dejavu-core",
}
# Programs the tests use: without them `make run` works, their tests skip (CI installs them).
PROGRAMS = {
    # program: Debian/Ubuntu package
    "clamd": "clamav-daemon",  # the antivirus tests start a real clamd (tests/clamd.py)
    "qpdf": "qpdf",  # checks the structure of the stamped minutes (tests/meetings/test_stamp.py)
}


def main() -> int:
    missing = [pkg for lib, pkg in REQUIRED.items() if ctypes.util.find_library(lib) is None]
    missing += [pkg for path, pkg in FILES.items() if not Path(path).is_file()]
    sbin = "/usr/sbin:/usr/local/sbin"
    absent = [
        pkg
        for program, pkg in PROGRAMS.items()
        if shutil.which(program) is None and shutil.which(program, path=sbin) is None
    ]
    if absent:
        print("Some tests will be skipped (clamd or qpdf not found). Install them with:")
        print("    sudo apt-get install -y " + " ".join(absent))
    if missing:
        print("Missing system libraries for PDF rendering (WeasyPrint). Install them with:")
        print("    sudo apt-get install -y " + " ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
