from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from cmer.accounts.demo import current_code, require_debug


class Command(BaseCommand):
    help = "Affiche le code TOTP courant d'un utilisateur de démonstration (DEBUG uniquement)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("email")

    def handle(self, *args: Any, **options: Any) -> None:
        require_debug()
        device = TOTPDevice.objects.filter(
            user__email__iexact=options["email"], confirmed=True
        ).first()
        if device is None:
            raise CommandError("Aucun appareil TOTP confirmé pour cette adresse.")
        self.stdout.write(current_code(device))
