"""Make sure an admin user exists, and say how to log in (used by `make run`)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the 'admin' superuser on first run; password from MV_ADMIN_PASSWORD or generated and printed once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"'{username}' already exists. Log in at http://127.0.0.1:8000/ (password as set on first run).")
            return
        password = settings.MV_ADMIN_PASSWORD or secrets.token_urlsafe(12)
        User.objects.create_superuser(username, "", password)
        if settings.MV_ADMIN_PASSWORD:
            self.stdout.write(f"Created '{username}'. Log in at http://127.0.0.1:8000/ with MV_ADMIN_PASSWORD.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created '{username}' with password: {password}\n"
                    "It is shown only this once. Log in at http://127.0.0.1:8000/"
                )
            )
