"""Parts kept per clip and slot: a clip trimmed to its scene's slot is made once (cut by copy
up to its last copyable cut, only the frames after it re-encoded), stored beside the clips on
local storage or S3, reused by every later stitch, made ahead when a clip becomes current,
and removed with its clip. Real ffmpeg on tiny clips encoded as the local renderer encodes
(B-frames, our encoder's headers)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from mv import audio, flavors, media, storage
from mv.media import parts as media_parts
from mv.models import Clip, ClipPart, JobStatus, Stitch
from mv.models.parts import KeptParts
from mv.pipeline import projects, rendering, stitching
from tests.factories import finished_clip, written_project
from tests.test_scaleout import s3_endpoint, s3_storage  # noqa: F401  (fixtures)
from tests.test_stitch_fetch import downloads  # noqa: F401  (fixture)

SLOT = 1.7  # seconds: no clip is 1.7 s long, so every clip is trimmed (41, 41, 40 frames of 48)


def preview(path: Path, seed: int) -> Path:
    """A 2 s clip encoded as the local renderer encodes (x264 veryfast, B-frames, our headers),
    of a picture that changes every frame, so each frame can be told from its neighbours."""
    media.run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=24:duration=2,hue=h={seed * 40}", "-f", "lavfi",
                      "-i", f"sine=frequency={200 + 50 * seed}:duration=2", "-c:v", "libx264", "-preset", "veryfast",
                      "-crf", "26", *media.STITCHABLE, "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path])
    return path


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in container.decode(video=0)]


def closest(frame: np.ndarray, candidates: list[np.ndarray]) -> int:
    return int(np.argmin([np.abs(frame - c).mean() for c in candidates]))


@pytest.fixture
def planned(user, song_mp3, tmp_path):
    return planned_project(user, song_mp3, tmp_path)


def planned_project(user, song_mp3, tmp_path):
    """A project of three scenes of 1.7 s under a song, each with a finished 2 s clip whose facts are stored."""
    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))
    project = written_project(user, scenes=3, audio_track=track, seconds=SLOT)
    sources = []
    for i, scene in enumerate(project.scenes.order_by("position")):
        source = preview(tmp_path / f"clip{i}.mp4", seed=i + 1)
        clip = finished_clip(scene, source, duration=2.0)
        Clip.objects.filter(pk=clip.pk).update(media=media.probe(source).to_dict())
        sources.append(source)
    project.sources = sources
    return project


@pytest.fixture
def made(monkeypatch):
    """The clips each part was made from, as the stitch makes them."""
    calls: list[Path] = []
    real = media_parts.make_part

    def spy(src, dst, *args, **kwargs):
        calls.append(Path(src))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(media_parts, "make_part", spy)
    return calls


def stitched(stitch: Stitch, tmp_path: Path) -> Path:
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    out = tmp_path / f"{stitch.pk}.mp4"
    with stitch.file.open("rb") as fh:
        out.write_bytes(fh.read())
    return out


def test_a_part_shows_exactly_its_frames_copying_all_but_the_last_few(tmp_path):
    clip = preview(tmp_path / "clip.mp4", seed=3)
    info, whole = media.probe(clip), frames_of(clip)
    for frames in (1, 7, 20, 41, 47, 48, 53):  # cuts inside and at the end of groups of B-frames, and past the end
        part = tmp_path / f"part-{frames}.mp4"
        made = media.make_part(clip, part, info.video, frames, info.video, tmp_path)
        got, facts = frames_of(part), media.probe(part).video
        assert made.how in ("copy", "smart") and made.reencoded <= 4 + max(0, frames - 48)  # a group of B-frames at most, and the frames held
        assert len(got) == facts.frames == frames and facts.duration == pytest.approx(frames / 24, abs=1e-9)
        assert facts.headers == info.video.headers  # one SPS/PPS: it joins the other clips by copy
        kept = frames - made.reencoded
        assert all(np.array_equal(a, b) for a, b in zip(got[:kept], whole[:kept], strict=True))  # copied: bit-exact
        expected = [whole[min(i, 47)] for i in range(frames)]
        for i in range(kept, frames):  # re-encoded: each is the right frame (nearer to it than to its neighbours)
            assert closest(got[i], whole) == min(i, 47)
        assert np.abs(got[-1] - expected[-1]).mean() < 2


def test_a_restitch_reuses_every_kept_part_and_makes_none(planned, made, tmp_path):
    first = stitching.restitch_project(planned)
    out = stitched(first, tmp_path)
    assert len(made) == 3 and ClipPart.objects.count() == 3
    assert first.reencoded_clips == ClipPart.objects.filter(reencoded_frames__gt=0).count()  # the rest cut by copy alone
    kept = set(ClipPart.objects.values_list("pk", "file"))
    made.clear()
    again = stitching.restitch_project(planned)
    stitched(again, tmp_path)
    assert made == [] and again.reencoded_clips == 0
    assert set(ClipPart.objects.values_list("pk", "file")) == kept
    # The video lasts exactly its frames (41 + 41 + 40), and every cut lands on its frame.
    info, got = media.probe(out), frames_of(out)
    assert info.video.frames == len(got) == 122 and info.video.duration == pytest.approx(122 / 24, abs=1e-9)
    start = 0
    for source, count in zip(planned.sources, (41, 41, 40), strict=True):
        whole = frames_of(source)
        assert np.array_equal(got[start], whole[0])  # each clip starts on its first frame
        assert closest(got[start + count - 1], whole) == count - 1  # and ends on the last frame of its slot
        start += count


def test_a_lipsyncs_automatic_restitch_reencodes_at_most_the_new_clip(planned, made, user, tmp_path):
    stitched(stitching.restitch_project(planned), tmp_path)
    others = set(ClipPart.objects.exclude(clip__scene__position=0).values_list("pk", flat=True))
    source = planned.scenes.get(position=0).current_clip
    made.clear()
    lipsync = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=source,
                                        audio_track=planned.audio_track, start_time=0.0, end_time=SLOT)
    lipsync.refresh_from_db()
    assert lipsync.status == JobStatus.SUCCEEDED and lipsync.followup_stitch is not None
    out = stitched(lipsync.followup_stitch, tmp_path)
    assert lipsync.followup_stitch.reencoded_clips <= 1
    assert len(made) == 1  # the new clip's part only (made by the stitch or ahead of it, once)
    assert set(ClipPart.objects.exclude(clip=lipsync).exclude(clip=source).values_list("pk", flat=True)) == others
    assert ClipPart.objects.filter(clip=lipsync, frames=41).count() == 1
    assert media.probe(out).video.frames == 122


def test_a_clip_made_current_has_its_part_made_ahead(planned, made, tmp_path):
    scene = planned.scenes.get(position=1)
    other = finished_clip(scene, preview(tmp_path / "other.mp4", seed=9), duration=2.0, current=False)
    Clip.objects.filter(pk=other.pk).update(media=media.probe(tmp_path / "other.mp4").to_dict())
    other.refresh_from_db()
    rendering.make_current(other)  # the worker makes its part once this commits
    part = ClipPart.objects.get(clip=other)
    assert part.frames == 41 and not part.forced and len(made) == 1
    assert media.MediaInfo.from_dict(part.media).video.frames == 41
    made.clear()
    stitched(stitching.restitch_project(planned), tmp_path)
    assert len(made) == 2 and Path(other.file.path) not in made  # only the two other scenes' parts were missing
    assert ClipPart.objects.filter(clip=other).count() == 1


def test_parts_go_with_their_clip_and_its_file(planned, tmp_path):
    stitched(stitching.restitch_project(planned), tmp_path)
    names = list(ClipPart.objects.values_list("file", flat=True))
    assert len(names) == 3 and all(default_storage.exists(n) for n in names)
    assert not set(storage.prune_unreferenced(0)) & set(names)  # prune_media knows them: kept while their clip is
    first, second = (planned.scenes.get(position=i).current_clip for i in (0, 1))
    lost = [ClipPart.objects.get(clip=c).file.name for c in (first, second)]
    first.file.delete(save=True)  # a clip's file deleted: its parts go
    assert not ClipPart.objects.filter(clip=first).exists() and not default_storage.exists(lost[0])
    Clip.objects.filter(pk=second.pk).update(file="")  # lost without a save: prune_media drops its parts
    storage.prune_unreferenced(3600)
    assert not ClipPart.objects.filter(clip=second).exists() and not default_storage.exists(lost[1])
    projects.delete_project(planned)
    assert ClipPart.objects.count() == 0 and not any(default_storage.exists(n) for n in names)


def test_parts_no_stitch_used_for_a_month_are_pruned_and_made_again_when_needed(planned, made, tmp_path, settings):
    settings.MV_PRUNE_PARTS_UNUSED_DAYS = 30
    stitched(stitching.restitch_project(planned), tmp_path)
    month_ago = timezone.now() - timedelta(days=31)
    ClipPart.objects.update(used_at=month_ago)
    made.clear()
    stitched(stitching.restitch_project(planned), tmp_path)  # reuses all three: each is used again
    assert made == [] and not ClipPart.objects.filter(used_at__lte=month_ago).exists()
    stale = ClipPart.objects.get(clip=planned.scenes.get(position=1).current_clip)
    ClipPart.objects.filter(pk=stale.pk).update(used_at=month_ago)
    storage.prune_unreferenced(3600)  # what prune_media and every worker start run
    assert ClipPart.objects.count() == 2 and not default_storage.exists(stale.file.name)
    stitched(stitching.restitch_project(planned), tmp_path)
    assert len(made) == 1 and ClipPart.objects.count() == 3  # made again, only that one


def test_a_part_pruned_while_a_stitch_starts_is_made_again_and_the_stitch_succeeds(planned, made, tmp_path,
                                                                                  monkeypatch):
    """A stitch marks the parts it will read as used before reading them (so no prune takes
    them meanwhile); one pruned just before that is made again instead of failing the stitch."""
    stitched(stitching.restitch_project(planned), tmp_path)
    victim = ClipPart.objects.get(clip=planned.scenes.get(position=0).current_clip)
    real = KeptParts.claim

    def pruned_first(store, rows):
        if ClipPart.objects.filter(pk=victim.pk).exists():
            ClipPart.objects.filter(pk=victim.pk).delete()  # a worker start's prune, at the worst moment
        return real(store, rows)

    monkeypatch.setattr(KeptParts, "claim", pruned_first)
    made.clear()
    before = timezone.now()
    stitched(stitching.restitch_project(planned), tmp_path)
    assert len(made) == 1 and ClipPart.objects.count() == 3
    assert all(used >= before for used in ClipPart.objects.values_list("used_at", flat=True))


def test_two_stitches_keeping_the_same_part_keep_one(planned, tmp_path):
    clip = planned.scenes.get(position=0).current_clip
    info = media.MediaInfo.from_dict(clip.media)
    key = media.format_key(info.video)
    kept = []
    for attempt in range(2):  # both made it before either kept it
        store = KeptParts([clip], key, tmp_path)
        part = tmp_path / f"part-{attempt}.mp4"
        made = media.make_part(planned.sources[0], part, info.video, 41, info.video, tmp_path)
        kept.append(store.keep(0, 41, False, part, made))
    row = ClipPart.objects.get(clip=clip)
    assert all(k.info.video.frames == 41 for k in kept)
    folder = Path(default_storage.path("parts"))
    assert sorted(p.name for p in folder.iterdir()) == [Path(row.file.name).name]  # the loser's file is gone


@pytest.mark.slow
def test_parts_are_kept_in_s3_and_a_restitch_fetches_only_them_and_the_song(s3_storage, downloads, user, song_mp3,  # noqa: F811
                                                                           made, tmp_path, settings):
    project = planned_project(user, song_mp3, tmp_path)
    stitched(stitching.restitch_project(project), tmp_path)
    names = set(ClipPart.objects.values_list("file", flat=True))
    listed = s3_storage.list_objects_v2(Bucket="mv-media", Prefix="parts/").get("Contents", [])
    assert len(names) == 3 and {o["Key"] for o in listed} == names
    shutil.rmtree(settings.MV_FILE_CACHE_DIR)  # another machine: nothing cached
    downloads.clear()
    made.clear()
    again = stitching.restitch_project(project)
    assert made == [] and sorted(downloads) == sorted([*names, project.audio_track.file.name])  # no clip fetched
    assert media.probe(stitched(again, tmp_path)).video.frames == 122
    projects.delete_project(project)
    assert s3_storage.list_objects_v2(Bucket="mv-media", Prefix="parts/").get("KeyCount") == 0


def test_parts_of_trimmed_clips_join_by_copy_in_this_process(tmp_path, song_mp3):
    clips = [preview(tmp_path / f"c{i}.mp4", seed=i) for i in range(4)]
    song = tmp_path / "song.m4a"
    media.transcode_song(song_mp3, song)
    lengths = [1.625, 1.7, 1.75, 1.9]  # 39, 41, 42, 45 frames: cuts in and at the end of groups of B-frames
    result = media.stitch(clips, tmp_path / "out.mp4", audio=song, workdir=tmp_path, lengths=lengths)
    frames = sum(media.frame_counts(lengths, "24/1"))
    assert result.in_process and result.parts_made == 4 and result.reencoded_frames <= 4 * 3
    info = media.probe(tmp_path / "out.mp4")
    assert info.video.frames == len(frames_of(tmp_path / "out.mp4")) == frames == 167
    assert info.video.duration == pytest.approx(frames / 24, abs=1e-9) and info.audio.duration >= frames / 24


def test_a_clip_that_finishes_for_its_scene_has_its_part_made_ahead_of_any_stitch(planned, made, user):
    planned.__class__.objects.filter(pk=planned.pk).update(auto_stitch_done=True)  # no automatic stitch follows
    scene = planned.scenes.get(position=2)
    clip = rendering.regenerate_scene(scene, owner=user)  # the local renderer: it finishes, then its part is made
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and not Stitch.objects.exists()
    part = ClipPart.objects.get(clip=clip)
    assert part.frames == 40 and len(made) == 1 and media.MediaInfo.from_dict(part.media).video.frames == 40


def test_another_encoders_clip_is_reencoded_whole_once_and_kept(planned, made, tmp_path):
    """Its cut is a copy (no B-frames), but it carries other headers than the parts we
    re-encoded: a copy decodes every clip under one set, so it is re-encoded whole (a
    ``forced`` part), kept like any part."""
    scene = planned.scenes.get(position=1)
    foreign = tmp_path / "foreign.mp4"
    media.run_ffmpeg(["-i", planned.sources[1], "-c:v", "libx264", "-preset", "veryfast", "-x264-params",
                      "bframes=0:cabac=0:weightp=0", "-an", foreign])  # still High profile: only the headers differ
    other = finished_clip(scene, foreign, duration=2.0)
    Clip.objects.filter(pk=other.pk).update(media=media.probe(foreign).to_dict())
    first = stitching.restitch_project(planned)
    out = stitched(first, tmp_path)
    assert ClipPart.objects.filter(clip=other, forced=False, reencoded_frames=0).exists()  # its cut: a copy
    assert ClipPart.objects.filter(clip=other, forced=True, frames=41, reencoded_frames=41).count() == 1
    assert media.probe(out).video.frames == len(frames_of(out)) == 122
    made.clear()
    stitched(stitching.restitch_project(planned), tmp_path)
    assert made == []
