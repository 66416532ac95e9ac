"""The background worker: pick up what a crash left, warm the music analysis up, then run
the task queue."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mv import music, storage, tasks


class Command(BaseCommand):
    help = ("Run MV Studio's background worker: resume interrupted jobs and song analyses, prune media files "
            "no row points at, warm up the music analysis, then run the task queue "
            "(the database queue, or RQ with MV_TASKS_BACKEND=rq; start as many as you like).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--interval", type=float, default=0.2, help="seconds between queue checks when idle (db)")
        parser.add_argument("--batch", action="store_true", help="process what is queued, then exit")

    def handle(self, *args, interval: float, batch: bool, **options) -> None:
        resumed = tasks.resume_interrupted()
        if resumed:
            self.stdout.write(f"resumed {resumed} interrupted job(s)")
        pruned = storage.prune_unreferenced(settings.MV_PRUNE_MEDIA_AFTER)
        if pruned:
            self.stdout.write(f"removed {len(pruned)} media file(s) a killed process left behind")
        music.warm_up()  # the beat tracker compiles now (seconds, once), not on a user's first song
        if settings.MV_TASKS_BACKEND == "rq":
            call_command("rqworker", "default", with_scheduler=True, job_class="django_tasks_rq.Job", burst=batch)
        else:
            call_command("db_worker", interval=interval, reload=False, queue_name="*", batch=batch,
                         startup_delay=False)
