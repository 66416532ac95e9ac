"""The background worker: pick up what a crash left, then run the task queue."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand

from mv import pipeline


class Command(BaseCommand):
    help = "Run MV Studio's background worker (resumes interrupted jobs, then runs the database task queue)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between queue checks when idle")
        parser.add_argument("--batch", action="store_true", help="process what is queued, then exit")

    def handle(self, *args, interval: float, batch: bool, **options) -> None:
        resumed = pipeline.recover_stuck()
        if resumed:
            self.stdout.write(f"resumed {resumed} interrupted job(s)")
        call_command("db_worker", interval=interval, reload=False, queue_name="*", batch=batch, startup_delay=False)
