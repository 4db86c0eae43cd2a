"""Training views, by journey: thin. Reads through ``access``, writes through ``actions``."""

from __future__ import annotations

from .attestations import (
    VERIFY_LIMIT,
    VERIFY_WINDOW,
    attestation_pdf,
    bundle_download,
    bundle_request,
    bundle_status,
    verify,
)
from .imports import (
    import_cancel,
    import_confirm,
    import_file,
    import_preview,
    import_status,
    import_upload,
)
from .sessions import (
    attendance_edit,
    session_create,
    session_detail,
    session_edit,
    session_list,
    session_mark_held,
    sign_in_sheet,
)
from .statistics import (
    headcount_delete,
    headcounts,
    stats_export_csv,
    stats_export_xlsx,
    stats_page,
)

__all__ = [
    "VERIFY_LIMIT",
    "VERIFY_WINDOW",
    "attendance_edit",
    "attestation_pdf",
    "bundle_download",
    "bundle_request",
    "bundle_status",
    "headcount_delete",
    "headcounts",
    "import_cancel",
    "import_confirm",
    "import_file",
    "import_preview",
    "import_status",
    "import_upload",
    "session_create",
    "session_detail",
    "session_edit",
    "session_list",
    "session_mark_held",
    "sign_in_sheet",
    "stats_export_csv",
    "stats_export_xlsx",
    "stats_page",
    "verify",
]
