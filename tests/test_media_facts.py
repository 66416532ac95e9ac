"""Each clip's media facts are stored when it arrives, and a stitch probes nothing it knows."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors, media
from mv.models import Clip, JobStatus
from mv.pipeline import rendering, stitching
from tests.factories import finished_clip, written_project


@pytest.fixture
def probes(monkeypatch):
    """Every probe call, by file name: through media.probe and the stitch's own."""
    seen: list[str] = []
    real = media.probe

    def counting(path, **kwargs):
        seen.append(str(path))
        return real(path, **kwargs)

    for module in (media, media.stitching):
        monkeypatch.setattr(module, "probe", counting)
    return seen


def test_a_rendered_clip_keeps_its_media_facts(user, settings):
    settings.MV_LOCAL_RENDER_SIZE = "320x180"
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="facts")
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED
    facts = media.MediaInfo.from_dict(clip.media)
    assert facts is not None and facts.video.codec == "h264"
    assert (facts.video.width, facts.video.height) == (320, 180)
    assert facts.video.fps and facts.video.frames > 0 and facts.video.duration == pytest.approx(clip.duration)
    assert facts.audio is not None and facts.audio.codec == "aac" and facts.audio.layout in ("mono", "stereo")


def test_an_imported_clip_keeps_its_media_facts(user, clip_mp4):
    clip = rendering.import_clip(user, clip_mp4)
    facts = Clip.objects.get(pk=clip.pk).media
    assert facts["video"]["width"] == 320 and facts["audio"]["codec"] == "aac"


def test_a_stitch_probes_no_clip_and_no_song_it_knows(user, clip_mp4, song_mp3, probes):
    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))
    project = written_project(user, scenes=3, audio_track=track, seconds=2.0)
    for scene in project.scenes.all():
        clip = finished_clip(scene, clip_mp4, duration=2.0)
        Clip.objects.filter(pk=clip.pk).update(media=media.probe(clip_mp4).to_dict())
    probes.clear()
    stitch = stitching.restitch_project(project)
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    assert len(probes) == 1 and probes[0].endswith(".mp4")  # only the check of the stitched output itself
    assert stitch.duration == pytest.approx(6.0, abs=0.05)


def test_a_clip_from_before_facts_were_stored_is_probed_once_then_remembered(user, clip_mp4, probes):
    project = written_project(user, scenes=2, seconds=2.0)
    clips = [finished_clip(scene, clip_mp4, duration=2.0) for scene in project.scenes.all()]
    assert all(Clip.objects.get(pk=c.pk).media == {} for c in clips)
    first = stitching.restitch_project(project)
    first.refresh_from_db()
    assert first.status == JobStatus.SUCCEEDED, first.error
    assert len(probes) == 3  # the two clips, then the output
    assert all(Clip.objects.get(pk=c.pk).media["video"]["width"] == 320 for c in clips)
    probes.clear()
    second = stitching.restitch_project(project)
    second.refresh_from_db()
    assert second.status == JobStatus.SUCCEEDED and len(probes) == 1


def test_stored_facts_of_another_shape_are_read_as_none():
    assert media.MediaInfo.from_dict({}) is None
    assert media.MediaInfo.from_dict({"duration": 1, "video": {"width": 1}, "audio": None}) is None
