"""The background worker: run the task queue (django-tasks-db's db_worker)."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run MV Studio's background worker (the database task queue)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between queue checks when idle")

    def handle(self, *args, interval: float, **options) -> None:
        call_command("db_worker", interval=interval, reload=False, queue_name="*")
