"""Remove local media files that no row points at (what a killed process left)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from mv import storage


class Command(BaseCommand):
    help = ("Delete media files under MEDIA_ROOT that no project, clip, stitch, track or image points at "
            "and that are older than --older-than seconds (files of work in progress are younger).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--older-than", type=float, default=3600.0, help="minimum age in seconds (default 3600)")

    def handle(self, *args, older_than: float, **options) -> None:
        removed = storage.prune_unreferenced(older_than)
        for name in removed:
            self.stdout.write(f"removed {name}")
        self.stdout.write(f"{len(removed)} unreferenced file(s) removed")
