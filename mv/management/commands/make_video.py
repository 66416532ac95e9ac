"""The whole job from a terminal: song + idea -> scenes -> clips -> lipsync -> final mp4."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from mv import audio, costs, files, flavors, jobs, media, music, planning, tasks
from mv.errors import Refused
from mv.models import JobStatus, Prediction, Project, Stitch
from mv.pipeline import projects, rendering, stitching
from mv.providers import get_provider


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def show(self, label: str, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        self.stream.write(f"\r{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        self.stream.flush()
        if done >= total:
            self.stream.write("\n")


class Command(BaseCommand):
    help = "Make a music video from a song and an idea, in this process (no worker needed)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--audio", required=True, help="the song (mp3, wav, m4a, ...)")
        parser.add_argument("--idea", required=True, help="what the video is about")
        parser.add_argument("--character", default="", help="the main character")
        parser.add_argument("--flavor", default=flavors.DEFAULT, help="config flavor (configs/<flavor>/)")
        parser.add_argument("--scenes", type=int, default=None, help="number of scenes (default: the flavor's)")
        parser.add_argument("--lipsync", default="none", help="all, none, or scene numbers like 1,3")
        parser.add_argument("--from", "--audio-start", dest="song_from", type=float, default=0.0, metavar="SECONDS",
                            help="where in the song the video starts (default 0)")
        parser.add_argument("--to", dest="song_to", type=float, default=None, metavar="SECONDS",
                            help="where in the song the video ends (default: the end of the song)")
        parser.add_argument("--out", help="where to write the final mp4 (required unless --dry-run)")
        parser.add_argument("--dry-run", action="store_true", help="print the plan and its estimated cost; pay nothing")
        parser.add_argument("--max-cost", type=float, default=None, metavar="USD",
                            help="refuse a plan whose estimated cost is above this many US dollars")
        parser.add_argument("--aspect", default=None, metavar="RATIO",
                            help="screen format, e.g. 16:9 or 9:16 (default: the flavor's; only those its video model makes)")
        parser.add_argument("--user", default="admin", help="owner of the project (created if missing)")

    def handle(self, *args, **o) -> None:
        """The progress bars say what happens; the app's own notes are shown with -v 2."""
        logger = logging.getLogger("mv")
        level = logger.level
        if o["verbosity"] < 2:
            logger.setLevel(logging.WARNING)
        try:
            self._make(o)
        finally:
            logger.setLevel(level)

    def _make(self, o: dict) -> None:
        song = Path(o["audio"])
        if not song.is_file():
            raise CommandError(f"no such file: {song}")
        if not o["out"] and not o["dry_run"]:
            raise CommandError("--out is required (where to write the final mp4), unless --dry-run")
        if o["max_cost"] is not None and not 0 <= o["max_cost"] < float("inf"):
            raise CommandError("--max-cost must be a number of US dollars, 0 or more")
        most = planning.max_scenes()
        if o["scenes"] is not None and not 1 <= o["scenes"] <= most:
            raise CommandError(f"--scenes must be between 1 and {most}")
        try:
            flavor = flavors.resolve(o["flavor"])
        except flavors.InvalidFlavorName as exc:
            raise CommandError(str(exc)) from None
        if flavor.name != o["flavor"]:  # a typo must not quietly make a whole video with other prompts
            raise CommandError(f"there is no config flavor {o['flavor']!r}; choose one of: {', '.join(flavors.names())}")
        try:
            o["aspect"] = projects.check_aspect_ratio(flavor, o["aspect"])
        except Refused as exc:
            raise CommandError(exc.message) from None
        analysis, slots = self._scene_plan(song, flavor, o)
        lipsync_numbers = self._lipsync_numbers(o["lipsync"], len(slots))  # before any work starts
        if self._plan(flavor, slots, lipsync_numbers, o):
            return
        progress = Progress(self.stderr)
        # One process, no server: the database is brought up to date here (a fresh clone has none yet).
        call_command("migrate", interactive=False, verbosity=0)
        owner, _ = get_user_model().objects.get_or_create(username=o["user"])
        try:
            track = audio.import_upload(owner, SimpleUploadedFile(song.name, song.read_bytes()))
        except audio.AudioImportError as exc:
            raise CommandError(str(exc)) from None
        if analysis is not None and track.analysis_status != track.AnalysisStatus.READY:
            # Analysed in this process above: the project is planned on the same music.
            track.analysis, track.analysis_status = analysis.to_dict(), track.AnalysisStatus.READY
            track.save(update_fields=["analysis", "analysis_status"])
        try:
            project = projects.create_project(owner=owner, video_description=o["idea"], character_description=o["character"],
                                            audio_track=track, audio_start=o["song_from"], song_end=o["song_to"],
                                            flavor=flavor, number_of_scenes=o["scenes"], aspect_ratio=o["aspect"])
        except Refused as exc:
            raise CommandError(exc.message) from None
        try:
            self._run(project, flavor, track, lipsync_numbers, progress, o)
        except Refused as exc:  # e.g. today's budget (MV_USER_DAILY_BUDGET_USD) is spent
            raise CommandError(exc.message) from None

    def _run(self, project: Project, flavor: flavors.Flavor, track, lipsync_numbers: set[int],
             progress: Progress, o: dict) -> None:
        owner = project.owner
        started = time.monotonic()
        with tasks.held() as work:
            self._drive([projects.request_scenes(project, flavor)], "writing scenes", progress)
            project.refresh_from_db()
            if project.scenes_status != Project.ScenesStatus.READY:
                raise CommandError(f"scene writing failed: {project.scenes_error}")
            self._drive(rendering.start_project_clips(project, flavor), "rendering clips", progress)
            chosen = [s for s in project.scenes.select_related("current_clip").order_by("position")
                      if s.number in lipsync_numbers]
            syncs = []
            for scene in chosen:
                try:
                    syncs.append(rendering.request_lipsync(owner=owner, flavor=flavor, source=scene.current_clip,
                                                       audio_track=track, start_time=scene.start, end_time=scene.end))
                except Refused as exc:
                    raise CommandError(f"lipsync of scene {scene.number}: {exc.message}") from None
            if syncs:
                self._drive(syncs, "lipsync", progress)
            progress.show("stitching", 0, 1)
            stitch = self._final_stitch(project, work.stitches)
        stitch.render()
        stitch.refresh_from_db()
        if stitch.status != JobStatus.SUCCEEDED:
            raise CommandError(stitch.error)
        progress.show("stitching", 1, 1)
        out = Path(o["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        with files.local_path(stitch.file) as path:
            shutil.copyfile(path, out)
        self.stdout.write(f"wrote {out} ({stitch.duration:.2f} s, {stitch.num_clips} clips, flavor {flavor.name}) "
                          f"in {time.monotonic() - started:.1f} s")

    @staticmethod
    def _final_stitch(project: Project, started: list[Stitch]) -> Stitch:
        """The stitch the last lipsync started has every scene's final clip; any earlier
        one is superseded. Without lipsync, stitch the current clips now."""
        for older in started[:-1]:
            older.mark_canceled("Superseded by a later stitch.")
        if started:
            return started[-1]
        try:
            return stitching.restitch_project(project)
        except Refused as exc:
            raise CommandError(exc.message) from None

    def _drive(self, rows: list[Prediction], label: str, progress: Progress) -> None:
        """Step every row in turn until all are finished: they run at the same time on the
        model."""
        pending = {str(row.pk): row for row in rows}
        total = len(pending)
        progress.show(label, 0, total)
        while pending:
            for pk, row in sorted(pending.items()):
                row.refresh_from_db()
                if jobs.advance_row(row):
                    del pending[pk]
            progress.show(label, total - len(pending), total)
            if pending:
                time.sleep(0.2)
        failed = [row for row in rows if row.status != JobStatus.SUCCEEDED]
        if failed:
            raise CommandError(f"{len(failed)} of {total} {label} failed: " + "; ".join(r.error for r in failed))

    def _scene_plan(self, song: Path, flavor: flavors.Flavor, o: dict) -> tuple[music.Analysis | None, list[music.Slot]]:
        """The song analysed here and cut into scenes, before anything is created or paid for;
        a plan that does not fit is refused with the numbers."""
        try:
            duration = media.probe(song).duration
            analysis = music.analyze(song)
        except (media.MediaError, music.AnalysisError):
            raise CommandError(media.NOT_AUDIO) from None
        try:
            return analysis, planning.plan_for(duration, analysis, [], start=o["song_from"], end=o["song_to"],
                                               count=o["scenes"], flavor=flavor)
        except Refused as exc:
            raise CommandError(exc.message) from None

    def _plan(self, flavor: flavors.Flavor, slots: list[music.Slot], lipsync_numbers: set[int], o: dict) -> bool:
        """Print the plan and its estimate before anything is created or paid for; refuse it
        above --max-cost. True when the command should stop here (--dry-run)."""
        with_audio = flavor.video.generate_audio
        clip_seconds = [planning.clip_seconds_for(slot.length, flavor) for slot in slots]
        lipsync_seconds = [round(slots[n - 1].length, 2) for n in sorted(lipsync_numbers)]
        if get_provider().paid:
            estimate = costs.estimate_project(flavor, clip_seconds=clip_seconds, generate_audio=with_audio,
                                              lipsync_seconds=lipsync_seconds, scene_writing=True, images=0)
        else:
            estimate = costs.free_estimate("local preview: free")
        synced = ", ".join(map(str, sorted(lipsync_numbers))) or "none"
        self.stdout.write(f"plan: flavor {flavor.name}, {len(slots)} scenes from {slots[0].start:.2f} to "
                          f"{slots[-1].end:.2f} s of the song, lipsync: {synced}")
        for number, slot in enumerate(slots, 1):
            lyric = f' "{slot.lyrics}"' if slot.lyrics else ""
            self.stdout.write(f"  scene {number}: {slot.start:6.2f}-{slot.end:6.2f} s ({slot.length:.2f} s, "
                              f"clip {clip_seconds[number - 1]} s) {slot.section or '-'}{lyric}")
        if o["dry_run"]:
            self.stdout.write(f"estimate: {estimate.summary}")
        try:
            costs.check_max_cost(estimate.exact_usd, o["max_cost"])
        except costs.CostLimitExceeded as exc:
            raise CommandError(f"--max-cost: {exc} Plan: {estimate.summary}") from None
        if o["dry_run"]:
            self.stdout.write("dry run: nothing was created or paid for")
            return True
        self.stderr.write(f"estimate: {estimate.summary}")
        return False

    @staticmethod
    def _lipsync_numbers(spec: str, count: int) -> set[int]:
        """The scene numbers (1-based) to lipsync, checked against the scene count."""
        spec = spec.strip().lower()
        if spec in ("", "none"):
            return set()
        if spec == "all":
            return set(range(1, count + 1))
        try:
            numbers = {int(part) for part in spec.split(",") if part.strip()}
        except ValueError:
            raise CommandError("--lipsync takes all, none, or scene numbers like 1,3") from None
        unknown = sorted(n for n in numbers if not 1 <= n <= count)
        if unknown:
            raise CommandError(f"--lipsync: no scene {unknown[0]} (the video has {count} scenes)")
        return numbers
