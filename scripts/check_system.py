"""Check the system libraries the project needs; say exactly what to install if one is missing."""

from __future__ import annotations

import ctypes.util
import sys

REQUIRED = {
    # library name: Debian/Ubuntu package
    "pango-1.0": "libpango-1.0-0",
    "pangoft2-1.0": "libpangoft2-1.0-0",
    "harfbuzz": "libharfbuzz0b",
    "harfbuzz-subset": "libharfbuzz-subset0",
    "fontconfig": "libfontconfig1",
}


def main() -> int:
    missing = [pkg for lib, pkg in REQUIRED.items() if ctypes.util.find_library(lib) is None]
    if missing:
        print("Missing system libraries for PDF rendering (WeasyPrint). Install them with:")
        print("    sudo apt-get install -y " + " ".join(missing))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
