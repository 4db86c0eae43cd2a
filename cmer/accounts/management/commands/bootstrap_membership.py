"""The first holder of a department role, given on the server by the operator, with a reason.

Every other membership is requested in the admin and confirmed in the application by a second
person; a department with nobody in a department role has nobody to confirm its first liaison,
DPO or coordinator: this command fills that gap, and only that one (refused once the department
has a holder). It leaves an audit entry with the written reason.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from cmer.accounts.memberships import BOOTSTRAP_ROLES, do_bootstrap_membership
from cmer.accounts.models import Department, Role, User


class Command(BaseCommand):
    help = (
        "Attribue le premier rôle départemental d'un département (correspondant préfecture, "
        "DPO, coordinateur), avec un motif écrit obligatoire, consigné au journal d'audit."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email", help="Adresse du compte (déjà créé).")
        parser.add_argument("role", choices=[str(role) for role in BOOTSTRAP_ROLES])
        parser.add_argument("--department", required=True, help="Code du département, ex. 13.")
        parser.add_argument(
            "--reason",
            required=True,
            help="Motif écrit (qui a désigné cette personne, par quel acte) : conservé et audité.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(email__iexact=options["email"].strip()).first()
        if user is None or not user.is_active:
            raise CommandError("Aucun compte actif pour cette adresse.")
        department = Department.objects.filter(code=options["department"].strip()).first()
        if department is None:
            raise CommandError("Département inconnu.")
        try:
            membership = do_bootstrap_membership(
                user, Role(options["role"]), department, reason=options["reason"]
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(
            f"Rôle {membership.get_role_display()} confirmé (premier titulaire) : "
            f"membership {membership.pk}, département {department.code}."
        )
