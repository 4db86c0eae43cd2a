from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from cmer.accounts.demo import DEMO_PENDING, require_debug, seed


class Command(BaseCommand):
    help = "Crée les données de démonstration (DEBUG uniquement) et affiche les identifiants."

    def handle(self, *args: Any, **options: Any) -> None:
        require_debug()
        rows = seed()
        self.stdout.write(
            f"Comptes de démonstration (mot de passe commun : {settings.DEMO_PASSWORD})"
        )
        for demo, secret in rows:
            label = str(demo.role.label)
            if demo == DEMO_PENDING:
                label += " (demande à confirmer par le référent)"
            self.stdout.write(f"  {demo.email:28} {label:38} TOTP {secret}")
        self.stdout.write("Code TOTP courant sans téléphone : python manage.py demo_code EMAIL")
