"""After a restore (deploy/restore.sh): the backup's audit head is in the chain, unchanged, and
the data reads with the keys of the environment. Prints identifiers and sizes, never content.

    python deploy/restore_check.py BACKUP/audit-head.txt
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cmer.settings")


def main(head_file: str) -> int:
    import django

    django.setup()
    from cases import files
    from cases.models import Attachment, Referral
    from cmer.audit.models import ChainedEntry

    recorded = re.search(r"head (\d+) ([0-9a-f]{64})", Path(head_file).read_text())
    if recorded:
        position, digest = int(recorded.group(1)), recorded.group(2)
        if not ChainedEntry.objects.filter(position=position, entry_hash=digest).exists():
            print(f"audit head {position} {digest} of the backup is not in the restored chain")
            return 1
        print(f"audit head of the backup found: position {position}")
    referral = Referral.objects.exclude(facts="").order_by("-pk").first()
    if referral is not None:
        # Reading the encrypted fields decrypts them: a wrong FIELD_ENCRYPTION_KEY raises here.
        decrypted = [referral.surname, referral.first_names, referral.facts]
        print(f"referral {referral.pk}: {sum(1 for v in decrypted if v)} fields decrypted")
    attachment = Attachment.objects.order_by("-pk").first()
    if attachment is not None:
        content = files.read_decrypted(attachment.stored_name)
        if len(content) != attachment.size:
            print(f"attachment {attachment.pk}: {len(content)} bytes, {attachment.size} expected")
            return 1
        print(f"attachment {attachment.pk}: {len(content)} bytes decrypted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
