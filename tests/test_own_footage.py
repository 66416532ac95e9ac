"""Your own clip into a scene: stored at once, checked and fitted to the project's format and
the scene's slot in the worker, current like a rendered clip, free, lipsynced and stitched like
any other; a file that is not a usable video never costs the scene its clip."""

from __future__ import annotations

import json

import pytest

from mv import files, media
from mv.models import AudioTrack, Clip, JobStatus
from mv.pipeline import stitching
from tests.conftest import make_clip
from tests.factories import finished_clip, written_project

SLOTS = [(0.0, 6.5), (6.5, 12.0)]
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(scope="module")
def short_square_video(media_dir):
    """3 s of 4:3 video at 30 fps, with sound: neither the project's shape nor its rate."""
    return make_clip(media_dir / "own-3s.mp4", seconds=3.0, size="320x240", rate=30)


@pytest.fixture(scope="module")
def long_video(media_dir):
    return make_clip(media_dir / "own-9s.mp4", seconds=9.0, size="320x180", rate=24)


@pytest.fixture(scope="module")
def rendered(media_dir):
    return make_clip(media_dir / "own-rendered-8s.mp4", seconds=8.0, size="320x180", rate=24)


def _project(user, song_mp3, rendered, aspect="16:9"):
    track = AudioTrack.objects.create(owner=user, title="song", duration=media.audio_duration(song_mp3))
    files.store(track.file, song_mp3, "song.mp3")
    track.save(update_fields=["file"])
    project = written_project(user, scenes=2, audio_track=track, aspect_ratio=aspect, song_end=12.0)
    for scene, (start, end) in zip(project.scenes.order_by("position"), SLOTS, strict=True):
        scene.start, scene.end = start, end
        scene.save(update_fields=["start", "end"])
        finished_clip(scene, rendered)
    return project


@pytest.fixture
def project(user, song_mp3, rendered):
    return _project(user, song_mp3, rendered)


def upload(client, scene, path, **extra):
    with open(path, "rb") as fh:
        return client.post(f"/api/mv/scenes/{scene.pk}/upload_clip", {"file": fh}, **extra)


def first_scene(project):
    return project.scenes.order_by("position").first()


def test_an_uploaded_clip_is_fitted_to_the_slot_and_becomes_current_for_free(alice_client, project,
                                                                              short_square_video):
    scene = first_scene(project)
    before = scene.current_clip
    spend = project.spend_usd
    response = upload(alice_client, scene, short_square_video)
    assert response.status_code == 202, response.content
    clip = Clip.objects.get(pk=response.json()["video_id"])
    assert clip.status == JobStatus.SUCCEEDED, clip.error  # fitted by the (immediate) worker
    scene.refresh_from_db()
    assert scene.current_clip == clip and clip.parent == before  # the rendered clip stays in the history
    with files.local_path(clip.file) as path:
        info = media.probe(path)
    like = media.MediaInfo.from_dict(before.media) or media.probe(files.Path(before.file.path))
    assert (info.video.width, info.video.height, info.video.fps) == (like.video.width, like.video.height, like.video.fps)
    assert info.video.duration == pytest.approx(6.5, abs=1 / 24)  # 3 s, its last frame held to the slot's end
    assert "last frame is held" in clip.fit_note
    project.refresh_from_db()
    assert project.spend_usd == spend
    assert clip.cost_usd in (None, 0)


def test_a_longer_clip_is_trimmed_to_the_slot(alice_client, project, long_video):
    scene = first_scene(project)
    clip = Clip.objects.get(pk=upload(alice_client, scene, long_video).json()["video_id"])
    assert clip.status == JobStatus.SUCCEEDED
    assert clip.duration == pytest.approx(6.5, abs=1 / 24)
    assert "first 6.5 s" in clip.fit_note


def test_the_restitch_with_an_uploaded_clip_keeps_the_parts_exact_length(alice_client, project, short_square_video):
    upload(alice_client, first_scene(project), short_square_video)
    stitch = stitching.restitch_project(project)
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    assert stitch.duration == pytest.approx(12.0, abs=1 / 24)


def test_an_uploaded_clip_can_be_lipsynced_like_a_rendered_one(alice_client, project, short_square_video):
    scene = first_scene(project)
    clip_id = upload(alice_client, scene, short_square_video).json()["video_id"]
    response = alice_client.post("/api/mv/lipsync", json.dumps({
        "video_id": clip_id, "audio_id": str(project.audio_track_id), "start_time": 0.0, "end_time": 6.5, "wait": 30}),
        content_type="application/json")
    assert response.status_code == 200, response.content
    lipsync = Clip.objects.get(pk=response.json()["video_id"])
    assert lipsync.status == JobStatus.SUCCEEDED and str(lipsync.parent_id) == clip_id


def test_a_portrait_project_gets_a_portrait_clip(alice_client, user, song_mp3, long_video, media_dir):
    portrait = make_clip(media_dir / "own-rendered-portrait.mp4", seconds=8.0, size="90x160", rate=24)
    project = _project(user, song_mp3, portrait, aspect="9:16")
    clip = Clip.objects.get(pk=upload(alice_client, first_scene(project), long_video).json()["video_id"])
    with files.local_path(clip.file) as path:
        video = media.probe(path).video
    assert video.height > video.width


@pytest.mark.parametrize("name", ["song_mp3", "text"])
def test_something_that_is_not_a_video_is_refused_and_nothing_is_kept(alice_client, project, request, tmp_path, name):
    path = request.getfixturevalue(name) if name == "song_mp3" else tmp_path / "notes.mp4"
    if name == "text":
        path.write_text("not a video at all, only words")
    scene = first_scene(project)
    before = scene.current_clip
    response = upload(alice_client, scene, path)
    assert response.status_code == 400
    assert response.json()["error"] == "not_video"
    assert "MP4, MOV, WebM or MKV" in response.json()["message"]
    scene.refresh_from_db()
    assert scene.current_clip == before
    assert not Clip.objects.filter(kind=Clip.Kind.UPLOADED).exists()


def test_a_broken_video_fails_plainly_and_the_scene_keeps_its_clip(alice_client, project, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)  # an MP4's first bytes, then nothing
    scene = first_scene(project)
    before = scene.current_clip
    clip = Clip.objects.get(pk=upload(alice_client, scene, broken).json()["video_id"])
    assert clip.status == JobStatus.FAILED
    assert clip.error == "This file isn't a video we can read — MP4, MOV, WebM or MKV work."
    scene.refresh_from_db()
    assert scene.current_clip == before


def test_an_upload_over_the_limit_is_refused_before_it_is_stored(alice_client, project, long_video, settings):
    settings.MV_MAX_UPLOAD_MB = 0
    response = upload(alice_client, first_scene(project), long_video)
    assert response.status_code == 413
    assert not Clip.objects.filter(kind=Clip.Kind.UPLOADED).exists()


def test_another_users_scene_is_not_found(client, other_user, project, long_video):
    client.force_login(other_user)
    assert upload(client, first_scene(project), long_video).status_code == 404


def test_the_card_offers_my_own_clip_and_says_how_it_was_fitted(alice_client, project, short_square_video):
    scene = first_scene(project)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "Use my own clip" in page and f"/scenes/{scene.pk}/upload-clip/" in page
    with open(short_square_video, "rb") as fh:
        card = alice_client.post(f"/scenes/{scene.pk}/upload-clip/", {"file": fh}, **HX).content.decode()
    assert "its last frame is held to the end" in card
    refused = alice_client.post(f"/scenes/{scene.pk}/upload-clip/", {}, **HX).content.decode()
    assert "Choose a video file to upload." in refused
