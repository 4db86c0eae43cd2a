"""Container healthcheck of worker and beat: ``python -m cmer.healthcheck worker|beat [age]``.

Reads the age of the heartbeat file the process touches every 30 s (cmer.heartbeat): no Django
setup, no database, no Redis, so it answers in the time Python starts. Exit 0 fresh, 1 stale.
"""

from __future__ import annotations

import sys

from cmer.heartbeat import KINDS, file_age


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in KINDS:
        print("usage: python -m cmer.healthcheck worker|beat [max_age_seconds]", file=sys.stderr)
        return 2
    limit = float(argv[1]) if len(argv) > 1 else 120.0
    age = file_age(argv[0])
    if age is None or age > limit:
        print(f"{argv[0]}: no heartbeat for {'ever' if age is None else f'{age:.0f} s'}")
        return 1
    print(f"{argv[0]}: heartbeat {age:.0f} s ago")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
