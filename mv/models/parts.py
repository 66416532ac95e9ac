"""Parts kept per clip and slot: what a clip becomes for its place in a stitch (the exact frames
its slot shows, trimmed or retimed, in the stitch's format; mv.media.parts) is made once and
stored beside the clips (local storage or S3), so a re-stitch makes only the parts it lacks:
after a lipsync, at most the new clip's. Parts go with their clip (and with its file).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from django.db import IntegrityError, models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from mv import filecache, files, media
from mv.models.base import GeneratedName

logger = logging.getLogger("mv.models")


class ClipPart(models.Model):
    """One clip made ready for a slot: keyed by the clip, the frames it shows, the stitch's
    format, whether it was re-encoded whole to our encoder's headers to join clips of
    another encoder (``forced``), and whether it shows the whole clip played faster rather
    than its first frames (``retimed``: the same clip and frames either way once max_speedup
    changes). Made once; two stitches making the same part at once keep one (the key is
    unique, and each writes its file under its own generated name)."""

    clip = models.ForeignKey("Clip", on_delete=models.CASCADE, related_name="parts")
    frames = models.PositiveIntegerField()
    format = models.CharField(max_length=200)  # media.format_key of the stitch's format
    forced = models.BooleanField(default=False)
    retimed = models.BooleanField(default=False)  # the whole clip, faster (mv.music.retimed); else its first frames
    file = models.FileField(upload_to=GeneratedName("parts"), max_length=300)
    media = models.JSONField(default=dict, blank=True)  # its media facts (media.MediaInfo), so nothing probes it again
    reencoded_frames = models.PositiveIntegerField(default=0)  # frames re-encoded to make it (0: cut by copy)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(default=timezone.now)  # last fetched for a stitch: unused ones are pruned

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clip", "frames", "format", "forced", "retimed"],
                                               name="clip_part_unique_key")]

    def __str__(self) -> str:
        return f"Part of {self.clip} ({self.frames} frames)"


@receiver(post_delete, sender=ClipPart)
def _part_deleted(sender, instance: ClipPart, **kwargs) -> None:
    """Its file goes once the deletion commits (a rolled-back deletion keeps it)."""
    if instance.file:
        name, storage = instance.file.name, instance.file.storage
        transaction.on_commit(lambda: storage.delete(name))


@receiver(post_save, sender="mv.Clip")
def _clip_saved(sender, instance, update_fields=None, **kwargs) -> None:
    """A clip whose file was cleared loses its parts (a saved file is never replaced: names are generated)."""
    if not instance.file and (update_fields is None or "file" in update_fields) and not kwargs.get("created"):
        ClipPart.objects.filter(clip=instance).delete()


class KeptParts:
    """The part store (media.Store) for one stitch of these clips in one format: parts
    found in the database, their files fetched (from S3: in parallel, through this
    machine's file cache), and new parts stored and recorded."""

    def __init__(self, clips: Sequence, format_key: str, workdir: Path) -> None:
        self.clips, self.format, self.workdir = list(clips), format_key, workdir
        rows = ClipPart.objects.filter(clip__in=[c.pk for c in self.clips], format=format_key).exclude(file="")
        self.rows = {(row.clip_id, row.frames, row.forced, row.retimed): row for row in rows}
        self.paths: dict[int, Path] = {}

    def fetch(self, rows: Sequence[ClipPart]) -> None:
        """Fetch these parts' files at once (the ones a stitch will use)."""
        rows = self.claim([r for r in rows if r.pk not in self.paths])
        for row, path in zip(rows, filecache.local_copies([r.file for r in rows], self.workdir), strict=True):
            self.paths[row.pk] = path

    def row(self, index: int, frames: int, forced: bool, retimed: bool = False) -> ClipPart | None:
        return self.rows.get((self.clips[index].pk, frames, forced, retimed))

    def find(self, index: int, frames: int, forced: bool, retimed: bool = False) -> media.Stored | None:
        row = self.row(index, frames, forced, retimed)
        info = media.MediaInfo.from_dict(row.media) if row is not None else None
        if row is None or info is None or info.video is None:
            return None
        self.fetch([row])
        if row.pk not in self.paths:  # pruned meanwhile: made again
            return None
        return media.Stored(self.paths[row.pk], info, row.reencoded_frames)

    def claim(self, rows: Sequence[ClipPart]) -> list[ClipPart]:
        """Mark these kept parts used now, before their files are read (so no prune takes
        them while this stitch reads them: ``drop_stale_parts``), and return those still
        there; one pruned meanwhile is forgotten, and the stitch makes it again."""
        if not rows:
            return []
        ids = {r.pk for r in rows}
        ClipPart.objects.filter(pk__in=ids).update(used_at=timezone.now())
        present = set(ClipPart.objects.filter(pk__in=ids).values_list("pk", flat=True))
        self.rows = {key: row for key, row in self.rows.items() if row.pk not in ids or row.pk in present}
        return [r for r in rows if r.pk in present]

    def keep(self, index: int, frames: int, forced: bool, path: Path, made: media.Made,
             retimed: bool = False) -> media.Stored:
        clip, info = self.clips[index], media.probe(path)
        row = ClipPart(clip=clip, frames=frames, format=self.format, forced=forced, retimed=retimed,
                       media=info.to_dict(), reencoded_frames=made.reencoded)
        files.store(row.file, path, f"{clip.pk}.mp4")
        try:
            with transaction.atomic():
                row.save()
        except IntegrityError:  # another stitch kept the same part meanwhile: theirs stays, ours goes
            row.file.storage.delete(row.file.name)
        else:
            filecache.remember(row.file, path)
            self.rows[(clip.pk, frames, forced, retimed)] = row
        return media.Stored(path, info, made.reencoded)


def drop_stale_parts(unused_for: timedelta) -> int:
    """Parts whose clip has lost its file, and parts no stitch has used for ``unused_for``
    (cuts for slots the scenes no longer have, or for an old max_speedup); their files go on
    commit, and a stitch that needs one again makes it again. How many."""
    stale = models.Q(clip__file="") | models.Q(used_at__lt=timezone.now() - unused_for)
    return ClipPart.objects.filter(stale).delete()[0]


def stitch_with_parts(clips: Sequence, out: Path, *, workdir: Path, track=None, lengths: Sequence[float] | None = None,
                      audio_start: float = 0.0, suppress_video_audio: bool = True,
                      max_speedup: float = 1.0) -> media.StitchResult:
    """Stitch these clips (under the track's song) using the parts kept from earlier
    stitches and keeping the ones it makes; a clip a little longer than its length plays
    faster to fill it (`Clip.fills_by_retime`, up to `max_speedup`). Only the files the
    stitch will read are fetched (a clip whose part is kept is not), all at once."""
    known = [media.MediaInfo.from_dict(c.media or {}) for c in clips]
    unknown = [i for i, k in enumerate(known) if k is None or k.video is None]
    local: dict[int, Path] = dict(zip(unknown, filecache.local_copies([clips[i].file for i in unknown], workdir),
                                      strict=True))  # clips from before their facts were kept
    for i in unknown:
        known[i] = clips[i].media_info(local[i])
    like, targets = media.plan(known, lengths)  # type: ignore[arg-type]
    fast = [c.fills_by_retime(length, max_speedup) for c, length in zip(clips, lengths, strict=True)] if lengths else []
    store = KeptParts(clips, media.format_key(like), workdir)
    found = {i: store.row(i, targets[i], False, bool(fast) and fast[i]) for i, k in enumerate(known)
             if (fast and fast[i]) or media.parts.needs_part(k.video, targets[i], like)}  # type: ignore[union-attr]
    rows = store.claim([r for i in found for r in (found[i], store.row(i, targets[i], True, bool(fast) and fast[i]))
                        if r is not None])
    found = {i: store.row(i, targets[i], False, bool(fast) and fast[i]) for i in found}  # without a pruned one
    wanted = [i for i in range(len(clips)) if i not in local and found.get(i) is None]
    song = [track.file or track.original] if track is not None else []
    fetched = filecache.local_copies([*(r.file for r in rows), *(clips[i].file for i in wanted), *song], workdir)
    store.paths.update({r.pk: p for r, p in zip(rows, fetched, strict=False)})
    local.update(zip(wanted, fetched[len(rows):], strict=False))

    def fetch(index: int):
        return lambda: local.get(index) or filecache.local_copies([clips[index].file], workdir)[0]

    return media.stitch([fetch(i) for i in range(len(clips))], out, audio=fetched[-1] if track is not None else None,
                        audio_start=audio_start, suppress_video_audio=suppress_video_audio, workdir=workdir,
                        lengths=lengths, known=known, song=track.media_info() if track is not None else None, store=store,
                        retimed=fast)


def prepare_part(clip) -> ClipPart | None:
    """Make the part a clip's scene needs for its slot now (in the worker, as the clip
    finishes or is made current), so the next stitch finds it: the frames its slot shows in
    the format of the scenes' clips, trimmed or retimed as the stitch will. None when it needs
    none, or it is already kept."""
    scene = clip.scene
    project = scene.project if scene is not None else None
    if project is None or project.audio_track_id is None or not clip.file:
        return None
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    slots = [s.slot for s in scenes]
    if not all(slots):
        return None
    clips = [clip if s.pk == scene.pk else s.current_clip for s in scenes]
    known = [media.MediaInfo.from_dict(c.media or {}) if c is not None and c.file else None for c in clips]
    mine = known[[s.pk for s in scenes].index(scene.pk)]
    present = [k for k in known if k is not None and k.video is not None]
    if mine is None or mine.video is None:
        return None
    like, _ = media.plan(present, None)
    index = [s.pk for s in scenes].index(scene.pk)
    frames = media.frame_counts([slot.length for slot in slots], like.fps)[index]  # type: ignore[union-attr]
    fast = clip.fills_by_retime(slots[index].length, project.max_speedup)
    if not fast and not media.parts.needs_part(mine.video, frames, like):
        return None
    with files.workdir() as workdir:
        store = KeptParts([clip], media.format_key(like), workdir)
        if store.row(0, frames, False, fast) is not None:
            return None
        src = filecache.local_copies([clip.file], workdir)[0]
        dst = workdir / "part.mp4"
        made = media.parts.make_part(src, dst, mine.video, frames, like, workdir, retime=fast)
        store.keep(0, frames, False, dst, made, fast)
        return store.row(0, frames, False, fast)
