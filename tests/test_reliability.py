"""Faults from the model provider: nothing lost, nothing paid twice, clear errors."""

from __future__ import annotations

import json
from datetime import timedelta
import threading
import time

import pytest

from mv import flavors, pipeline
from mv.models import ACTIVE_STATUSES, Clip, JobStatus, Project

pytestmark = pytest.mark.slow


def run_project(user, scenes: int) -> Project:
    project = pipeline.create_project(owner=user, video_description="chaos", flavor=flavors.resolve("default"),
                                      number_of_scenes=scenes)
    pipeline.start_project(project)
    project.refresh_from_db()
    return project


def test_chaos_ends_every_clip_cleanly_and_never_creates_twice(fake_replicate, user, settings):
    settings.MV_CREATE_RETRIES = 3
    project = run_project(user, 8)
    scenes = list(project.scenes.select_related("current_clip"))
    before = {s.pk: s.current_clip_id for s in scenes}
    assert all(before.values())
    creates_before = fake_replicate.creates()

    fake_replicate.set_latency("google/veo-3.1", run_s=0.2)  # ~10 polls per clip: many calls for the faults to hit
    fake_replicate.set_chaos(fail_fraction=0.3, error_fraction=0.2, drop_fraction=0.05)
    new = [pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=s.description, scene=s)
           for s in scenes]
    fake_replicate.set_chaos()

    clips = list(Clip.objects.filter(pk__in=[c.pk for c in new]))
    assert not [c for c in clips if c.status in ACTIVE_STATUSES]
    failed = [c for c in clips if c.status == JobStatus.FAILED]
    assert all(c.error and "Traceback" not in c.error for c in failed)
    assert fake_replicate.chaos_hits >= 3, f"the chaos settings injected only {fake_replicate.chaos_hits} faults"
    for scene in scenes:
        scene.refresh_from_db()
        mine = next(c for c in clips if c.scene_id == scene.pk)
        expected = mine.pk if mine.status == JobStatus.SUCCEEDED else before[scene.pk]
        assert scene.current_clip_id == expected  # a failure never loses the previous clip
    with_prediction = [c for c in clips if c.prediction_id]
    assert len({c.prediction_id for c in with_prediction}) == len(with_prediction)
    assert fake_replicate.creates() - creates_before == len(with_prediction) <= len(new)


def test_retry_from_the_api_reruns_only_the_failed_clip(fake_replicate, alice_client, user):
    project = run_project(user, 3)
    scene = project.scenes.get(position=1)
    fake_replicate.fail_next("google/veo-3.1", "E6716: content flagged")
    failed = pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x", scene=scene)
    creates = fake_replicate.creates()
    response = alice_client.post("/api/mv/retry_video", json.dumps({"video_id": str(failed.pk), "wait": 30}),
                                 content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    assert fake_replicate.creates() == creates + 1
    scene.refresh_from_db()
    assert str(scene.current_clip_id) == response.json()["video_id"]


def test_retry_from_the_page_reruns_only_the_failed_clip(fake_replicate, alice_client, user):
    project = run_project(user, 2)
    scene = project.scenes.get(position=0)
    fake_replicate.fail_next("google/veo-3.1")
    failed = pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x", scene=scene)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f"/clips/{failed.pk}/retry/" in page and "Retry" in page
    creates = fake_replicate.creates()
    alice_client.post(f"/clips/{failed.pk}/retry/", HTTP_HX_REQUEST="true")
    assert fake_replicate.creates() == creates + 1
    assert Clip.objects.filter(scene=scene, status=JobStatus.SUCCEEDED).count() == 2


def test_worker_restart_resumes_running_clips_from_their_prediction_ids(fake_replicate, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    clip = pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="resume me")
    assert pipeline.advance_clip(str(clip.pk)) is False  # started: prediction id stored, now running
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.prediction_id
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    assert pipeline.recover_stuck() == 1
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and fake_replicate.creates() == 1


def test_a_start_cut_off_by_a_crash_is_failed_not_paid_twice(user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    clip = pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x")
    Clip.objects.filter(pk=clip.pk).update(started_at=clip.created_at - timedelta(seconds=settings.MV_START_GRACE + 1))  # died inside the create call
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    pipeline.recover_stuck()
    clip.refresh_from_db()
    assert clip.status == JobStatus.FAILED and "interrupted" in clip.error


def test_two_lipsyncs_of_one_scene_keep_both_and_end_on_the_last_to_finish(fake_replicate, user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = pipeline.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=2, audio_track=track)
    pipeline.start_project(project)
    scene = project.scenes.get(position=0)
    source = scene.current_clip
    results: dict[str, Clip] = {}

    def lipsync(name: str, run_s: float) -> None:
        fake_replicate.set_latency("sync/lipsync-2-pro", run_s=run_s)
        results[name] = pipeline.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=source,
                                                 audio_track=track, start_time=0, end_time=8)

    slow = threading.Thread(target=lipsync, args=("slow", 2.0))
    slow.start()
    while fake_replicate.creates("sync/lipsync-2-pro") < 1:
        time.sleep(0.01)
    fast = threading.Thread(target=lipsync, args=("fast", 0.05))
    fast.start()
    slow.join(30)
    fast.join(30)
    for clip in results.values():
        clip.refresh_from_db()
        assert clip.status == JobStatus.SUCCEEDED and clip.parent_id == source.pk
    scene.refresh_from_db()
    assert scene.current_clip_id == results["slow"].pk
    latest = project.stitches.order_by("-created_at").first()
    latest.refresh_from_db()
    assert latest.ordered_clips()[0].pk == results["slow"].pk
