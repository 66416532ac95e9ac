"""Fit to fill: a clip a little longer than its scene plays faster to fill it exactly instead of
losing its end (up to the flavor's max_speedup). One rule (mv.music.retimed) for the plan, the
paid and trimmed seconds, the stitch's parts, lipsync and the exports. Real ffmpeg on tiny clips."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors, media, planning
from mv.models import Clip, ClipPart, JobStatus
from mv.models.parts import prepare_part, stitch_with_parts
from mv.music import Slot, paid_seconds, plan_scenes, retimed, retimed_scenes
from mv.music.plan import required_cuts
from mv.pipeline import rendering, stitching
from tests.factories import finished_clip, written_project
from tests.test_music import SONG_FORM, SONG_LABELS, VEO, _check_plan, _synthetic

FAST = 1.1  # the shipped flavors' max_speedup
SLOT = 1.875  # s: a 2 s clip fills it at 1.07x (45 frames at 24 fps); trimmed, it would lose its last 3 frames


def slots_of(*lengths: float) -> list[Slot]:
    out, t = [], 0.0
    for length in lengths:
        out.append(Slot(t, t + length, "", None, ""))
        t += length
    return out


def red_ending_clip(path: Path, seconds: float = 2.0, red: float = 0.125) -> Path:
    """A blue clip whose last `red` seconds are red (the end a trim would cut off), with sound,
    encoded as the local renderer encodes (x264, our headers)."""
    media.run_ffmpeg(["-f", "lavfi", "-i", f"color=c=blue:size=160x90:rate=24:duration={seconds - red}",
                      "-f", "lavfi", "-i", f"color=c=red:size=160x90:rate=24:duration={red}",
                      "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                      "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-map", "2:a",
                      "-c:v", "libx264", "-preset", "veryfast", *media.STITCHABLE, "-pix_fmt", "yuv420p",
                      "-c:a", "aac", "-shortest", path])
    return path


def colours(path: Path) -> list[str]:
    """Each frame as "red" or "blue" (whichever channel dominates)."""
    with av.open(str(path)) as container:
        means = [f.to_ndarray(format="rgb24").mean(axis=(0, 1)) for f in container.decode(video=0)]
    return ["red" if m[0] > m[2] else "blue" for m in means]


# --- the rule -------------------------------------------------------------------------------------

def test_a_clip_a_little_longer_than_its_slot_is_retimed_and_anything_else_trimmed_or_held():
    assert retimed(8, 7.5, FAST) and retimed(6, 5.5, FAST) and retimed(8, 8 / 1.1, FAST)  # up to 1.1x
    assert not retimed(8, 7.2, FAST)  # 1.11x: too fast, trimmed
    assert not retimed(8, 7.95, FAST)  # a few frames over: trimmed (nobody misses them; no whole re-encode)
    assert not retimed(4, 5.0, FAST) and not retimed(8, 8.0, FAST)  # never slower, nothing to fill
    assert not retimed(8, 7.5, 1.0)  # max_speedup 1.0: trim only, as before
    assert list(retimed(np.array([8.0, 8.0, 6.0]), np.array([7.5, 6.5, 5.5]), FAST)) == [True, False, True]


def test_paid_and_trimmed_seconds_follow_the_rule():
    slots = slots_of(7.5, 5.5, 6.5, 4.0)  # clips of 8, 6, 8, 4 s
    assert paid_seconds(slots, VEO) == (26, 2.5)  # trimmed only: 0.5 + 0.5 + 1.5 + 0
    assert paid_seconds(slots, VEO, FAST) == (26, 1.5)  # 7.5 and 5.5 filled by playing faster; 6.5 is 1.23x: trimmed
    assert retimed_scenes(slots, VEO, FAST) == 2 and retimed_scenes(slots, VEO, 1.0) == 0


def test_the_flavors_max_speedup_is_read_in_one_place_and_reaches_the_api_numbers():
    flavor = flavors.resolve("default")
    assert planning.max_speedup(flavor) == FAST == planning.max_speedup(flavors.resolve("mv1"))
    paid = planning.clip_seconds(slots_of(7.5, 5.5), flavor)
    assert paid == {"paid_seconds": 14, "trimmed_seconds": 0.0, "retimed_scenes": 2}
    assert planning.trimmed_note(paid) == ""


# --- the plan -------------------------------------------------------------------------------------

def test_plans_with_retime_waste_less_than_trim_only_and_keep_every_guarantee():
    totals = {"trim": [0.0, 0], "fast": [0.0, 0]}
    musical = {"trim": 0, "fast": 0}
    for bpm in (70, 84, 97, 110, 128, 150, 174):
        bars = sum(SONG_FORM) + 2
        analysis = _synthetic(bpm, 0.3 + bars * 4 * 60 / bpm + 1.234, SONG_FORM + [2], SONG_LABELS + ["outro"])
        beats = np.asarray(analysis.beats)
        halves = (beats[1:] + beats[:-1]) / 2
        trim_only = plan_scenes(analysis, start=0, end=analysis.duration, durations=VEO)
        fitted = plan_scenes(analysis, start=0, end=analysis.duration, durations=VEO, max_speedup=FAST)
        assert plan_scenes(analysis, start=0, end=analysis.duration, durations=VEO, max_speedup=1.0) == trim_only
        _check_plan(fitted, 0, analysis.duration)  # no gap, none past the end, every scene 4 to 8 s, the last too
        fixed = required_cuts([s.start for s in analysis.sections[1:]], 0.0, fitted[-1].end, 4)
        assert set(fixed) <= {s.start for s in fitted}  # every section start a cut
        paid, trimmed = paid_seconds(fitted, VEO, FAST)
        assert trimmed / paid < 0.03, f"{trimmed} of {paid} s trimmed at {bpm} BPM"
        for key, slots, speedup in (("trim", trim_only, 1.0), ("fast", fitted, FAST)):
            totals[key][0] += paid_seconds(slots, VEO, speedup)[1]
            totals[key][1] += paid_seconds(slots, VEO, speedup)[0]
            musical[key] += sum(1 for s in slots[1:]
                                if min(np.min(np.abs(beats - s.start)), np.min(np.abs(halves - s.start))) < 0.002)
    fast, trim = (totals[k][0] / totals[k][1] for k in ("fast", "trim"))
    assert fast < trim / 3, (fast, trim)
    assert musical["fast"] >= 0.95 * musical["trim"]  # as many cuts on a beat or half beat


# --- the stitch -----------------------------------------------------------------------------------

def test_a_retimed_clip_fills_exactly_its_slots_frames_and_shows_its_end(tmp_path):
    clip = red_ending_clip(tmp_path / "clip.mp4")
    assert colours(clip)[-3:] == ["red"] * 3 and len(colours(clip)) == 48
    fitted = media.stitch([clip, clip], tmp_path / "fitted.mp4", workdir=tmp_path, lengths=[SLOT, SLOT],
                          retimed=[True, False])
    shown = colours(tmp_path / "fitted.mp4")
    assert fitted.frames == len(shown) == 2 * 45 and media.probe(tmp_path / "fitted.mp4").video.frames == 90
    assert shown[43:45] == ["red", "red"]  # the retimed clip ends on its own last frames
    assert "red" not in shown[45:]  # the trimmed one lost them
    part = tmp_path / "part.mp4"
    info = media.probe(clip)
    made = media.make_part(clip, part, info.video, 45, info.video, tmp_path, retime=True)
    facts = media.probe(part)
    assert made.how == "retimed" and facts.video.frames == 45 and facts.video.duration == pytest.approx(45 / 24)
    assert facts.video.headers == info.video.headers  # joins the other clips by stream copy
    assert facts.audio.duration == pytest.approx(45 / 24, abs=0.05)  # its sound sped up with it (atempo)


@pytest.fixture
def fitted_project(user, song_mp3, tmp_path):
    """Two scenes of 1.875 s under a song, each with a finished 2 s clip that ends in red."""
    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))
    project = written_project(user, scenes=2, audio_track=track, seconds=SLOT)
    for i, scene in enumerate(project.scenes.order_by("position")):
        source = red_ending_clip(tmp_path / f"clip{i}.mp4")
        clip = finished_clip(scene, source, duration=2.0)
        Clip.objects.filter(pk=clip.pk).update(media=media.probe(source).to_dict())
    return project


def test_a_project_stitch_retimes_its_clips_and_keeps_trimmed_and_retimed_parts_apart(fitted_project, tmp_path):
    stitch = stitching.restitch_project(fitted_project)
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    out = tmp_path / "stitch.mp4"
    with stitch.file.open("rb") as fh:
        out.write_bytes(fh.read())
    shown = colours(out)
    assert len(shown) == 90 and shown[44] == shown[89] == "red"  # each scene ends on its clip's last frame
    assert set(ClipPart.objects.values_list("frames", "retimed")) == {(45, True)}
    clips = [s.current_clip for s in fitted_project.scenes.order_by("position")]
    # The same clips and frames trimmed (max_speedup 1.0): other parts, never the retimed ones.
    stitch_with_parts(clips, tmp_path / "trimmed.mp4", workdir=tmp_path, lengths=[SLOT, SLOT], max_speedup=1.0)
    assert colours(tmp_path / "trimmed.mp4")[44] == "blue"
    assert sorted(ClipPart.objects.values_list("frames", "retimed")) == [(45, False)] * 2 + [(45, True)] * 2
    kept = ClipPart.objects.count()
    stitch_with_parts(clips, tmp_path / "again.mp4", workdir=tmp_path, lengths=[SLOT, SLOT], max_speedup=FAST)
    assert ClipPart.objects.count() == kept and colours(tmp_path / "again.mp4")[44] == "red"  # reused, not remade


def test_a_lipsync_is_sent_the_retimed_clip_and_is_not_retimed_again(fitted_project, user, tmp_path):
    scene = fitted_project.scenes.get(position=0)
    source = scene.current_clip
    lipsync = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=source,
                                        audio_track=fitted_project.audio_track, start_time=scene.start,
                                        end_time=scene.end)
    lipsync.refresh_from_db()
    assert lipsync.status == JobStatus.SUCCEEDED, lipsync.error
    # The local lipsync lasts as long as the video it is sent: the clip retimed to the slot, all of it.
    assert lipsync.duration == pytest.approx(45 / 24, abs=0.01)
    with lipsync.file.open("rb") as fh:
        (tmp_path / "lipsync.mp4").write_bytes(fh.read())
    assert colours(tmp_path / "lipsync.mp4")[-1] == "red"
    assert not lipsync.fills_by_retime(SLOT, FAST) and source.fills_by_retime(SLOT, FAST)
    stitch = lipsync.followup_stitch
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    assert not ClipPart.objects.filter(clip=lipsync, retimed=True).exists()


def test_a_lipsync_of_a_clip_the_stitch_trims_is_sent_the_clip_itself(fitted_project, user, tmp_path):
    scene = fitted_project.scenes.get(position=0)
    lipsync = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=scene.current_clip,
                                        audio_track=fitted_project.audio_track, start_time=scene.start,
                                        end_time=scene.start + 1.5)  # 2 s in 1.5 s would be 1.33x: trimmed
    lipsync.refresh_from_db()
    assert lipsync.status == JobStatus.SUCCEEDED, lipsync.error
    assert lipsync.duration == pytest.approx(2.0, abs=0.05)  # the whole clip as it was made


def test_a_clip_a_frame_longer_than_asked_still_fills_the_slot_planned_for_it():
    """Models often return a frame more than asked (193 frames for "8 s" at 24 fps): judged as
    asked, as the plan was, it is retimed, not trimmed by 0.77 s."""
    slot = 8.0 / FAST + 0.001  # the shortest slot the planner lets an 8 s clip fill
    one_more = Clip(kind=Clip.Kind.GENERATED, input={"duration": 8}, duration=193 / 24)
    assert one_more.fills_by_retime(slot, FAST)
    assert not retimed(193 / 24, slot, FAST)  # the rule on the measured length alone would trim it
    far_off = Clip(kind=Clip.Kind.GENERATED, input={"duration": 8}, duration=8.5)
    assert not far_off.fills_by_retime(slot, FAST)


def test_a_lipsync_of_a_slice_other_than_its_scenes_is_sent_the_clip_itself(fitted_project, user):
    scene = fitted_project.scenes.get(position=0)
    lipsync = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=scene.current_clip,
                                        audio_track=fitted_project.audio_track, start_time=scene.start,
                                        end_time=scene.start + 1.85)  # 2 s in 1.85 s would be 1.08x, but not its slot
    lipsync.refresh_from_db()
    assert lipsync.status == JobStatus.SUCCEEDED, lipsync.error
    assert lipsync.duration == pytest.approx(2.0, abs=0.05)  # the whole clip as it was made


def test_a_part_prepared_as_a_clip_finishes_is_the_retimed_one_and_the_stitch_reuses_it(fitted_project, tmp_path):
    scene = fitted_project.scenes.order_by("position").first()
    part = prepare_part(scene.current_clip)
    assert part is not None and part.retimed and part.frames == 45
    stitch = stitching.restitch_project(fitted_project)
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    assert ClipPart.objects.filter(clip=scene.current_clip).count() == 1  # the prepared part, not another
    with stitch.file.open("rb") as fh:
        (tmp_path / "stitch.mp4").write_bytes(fh.read())
    assert colours(tmp_path / "stitch.mp4")[44] == "red"
