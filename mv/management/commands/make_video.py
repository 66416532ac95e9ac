"""The whole job from a terminal: song + idea -> scenes -> clips -> lipsync -> final mp4."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError

from mv import audio, files, flavors, media, pipeline
from mv.models import Clip, JobStatus, Project


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
        parser.add_argument("--audio-start", type=float, default=0.0, help="seconds into the song where the video starts")
        parser.add_argument("--out", required=True, help="where to write the final mp4")
        parser.add_argument("--user", default="admin", help="owner of the project (created if missing)")

    def handle(self, *args, **o) -> None:
        song = Path(o["audio"])
        if not song.is_file():
            raise CommandError(f"no such file: {song}")
        if o["scenes"] is not None and not 1 <= o["scenes"] <= 20:
            raise CommandError("--scenes must be between 1 and 20")
        try:
            flavor = flavors.resolve(o["flavor"])
        except flavors.InvalidFlavorName as exc:
            raise CommandError(str(exc)) from None
        if flavor.name != o["flavor"]:  # a typo must not quietly make a whole video with other prompts
            raise CommandError(f"there is no config flavor {o['flavor']!r}; choose one of: {', '.join(flavors.names())}")
        count = o["scenes"] or int(flavor.get("parameters", "number_of_scenes", used_in="make_video: number of scenes"))
        lipsync_numbers = self._lipsync_numbers(o["lipsync"], count)  # before any work starts
        self._check_song_covers(song, o["audio_start"], lipsync_numbers, flavor)
        progress = Progress(self.stderr)
        owner, _ = get_user_model().objects.get_or_create(username=o["user"])
        try:
            track = audio.import_upload(owner, SimpleUploadedFile(song.name, song.read_bytes()))
        except audio.AudioImportError as exc:
            raise CommandError(str(exc)) from None
        try:
            project = pipeline.create_project(owner=owner, video_description=o["idea"], character_description=o["character"],
                                              audio_track=track, audio_start=o["audio_start"], flavor=flavor,
                                              number_of_scenes=o["scenes"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            self._run(project, flavor, track, lipsync_numbers, progress, o)
        except ValueError as exc:  # a pipeline precondition: a clear message, not a traceback
            raise CommandError(str(exc)) from None

    def _run(self, project: Project, flavor: flavors.Flavor, track, lipsync_numbers: set[int],
             progress: Progress, o: dict) -> None:
        owner = project.owner
        started = time.monotonic()

        progress.show("writing scenes", 0, 1)
        pipeline.request_scenes(project, flavor, enqueue=False)
        while not pipeline.advance_scenes(str(project.pk)):  # the scene writer runs; poll it
            time.sleep(0.2)
        project.refresh_from_db()
        if project.scenes_status != Project.ScenesStatus.READY:
            raise CommandError(f"scene writing failed: {project.scenes_error}")
        progress.show("writing scenes", 1, 1)

        clips = pipeline.start_project_clips(project, flavor, enqueue=False)
        self._drive(clips, "rendering clips", progress)
        chosen = [s for s in project.scenes.order_by("position") if s.number in lipsync_numbers]
        if chosen:
            syncs = []
            for scene in chosen:
                start, end = pipeline.scene_slice(scene)
                if start >= track.duration:
                    raise CommandError(self._too_short(scene.number, start, track.duration))
                try:
                    syncs.append(pipeline.request_lipsync(owner=owner, flavor=flavor, source=scene.current_clip,
                                                          audio_track=track, start_time=start, end_time=end,
                                                          enqueue=False))
                except ValueError as exc:
                    raise CommandError(f"lipsync of scene {scene.number} ({start:.2f}-{end:.2f} s): {exc}") from None
            self._drive(syncs, "lipsync", progress)

        progress.show("stitching", 0, 1)
        stitch = pipeline.restitch_project(project, enqueue=False)
        if stitch is None:
            raise CommandError("some scenes have no clip; nothing to stitch")
        pipeline.run_stitch(str(stitch.pk))
        stitch.refresh_from_db()
        if stitch.status != JobStatus.SUCCEEDED:
            raise CommandError(stitch.error)
        progress.show("stitching", 1, 1)
        out = Path(o["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        with files.local_path(stitch.file) as path:
            shutil.copyfile(path, out)
        self.stdout.write(f"wrote {out} ({stitch.duration:.2f} s, {stitch.num_clips} clips, flavor {flavor.name}, "
                          f"project {project.pk}) in {time.monotonic() - started:.1f} s")

    def _drive(self, clips: list[Clip], label: str, progress: Progress) -> None:
        """Start every clip, then poll them all: they run at the same time on the model."""
        pending = {str(c.pk) for c in clips}
        total = len(pending)
        progress.show(label, 0, total)
        while pending:
            for clip_id in sorted(pending):
                if pipeline.advance_clip(clip_id):
                    pending.discard(clip_id)
            progress.show(label, total - len(pending), total)
            if pending:
                time.sleep(0.2)
        failed = [c for c in Clip.objects.filter(pk__in=[c.pk for c in clips]) if c.status != JobStatus.SUCCEEDED]
        if failed:
            raise CommandError(f"{len(failed)} of {total} {label} failed: " + "; ".join(c.error for c in failed))

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

    @classmethod
    def _check_song_covers(cls, song: Path, audio_start: float, numbers: set[int], flavor: flavors.Flavor) -> None:
        """Fail before paying for clips when a scene to lipsync would start after the song
        ends (clips are assumed to be the flavor's length; checked again once rendered)."""
        if not numbers:
            return
        try:
            song_seconds = media.probe(song).duration
        except media.MediaError:
            return  # not audio: the import says so clearly
        clip_seconds = float(flavor.get("image_params", "video_duration", used_in="make_video: expected clip length"))
        last = max(numbers)
        start = audio_start + (last - 1) * clip_seconds
        if start >= song_seconds:
            raise CommandError(cls._too_short(last, start, song_seconds))

    @staticmethod
    def _too_short(number: int, start: float, song_seconds: float) -> str:
        return (f"--lipsync: scene {number} would start {start:.2f} s into the song, but the song is only "
                f"{song_seconds:.2f} s long; use a longer song, fewer scenes or an earlier --audio-start")
