"""The training app's part of the technical administration: whether a reporting agent attended a
session, as a column of the membership admin (the core's admin imports no app)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from cmer.accounts.admin import MembershipColumn, register_membership_column

from .access import annotate_training_attended, training_attended_label

register_membership_column(
    MembershipColumn(
        name="trained",
        label=_("a suivi une formation"),
        title=_("Formation"),
        value=training_attended_label,
        annotate=annotate_training_attended,
    )
)
