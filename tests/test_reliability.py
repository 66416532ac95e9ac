"""Faults from the model provider: nothing lost, nothing paid twice, clear errors."""

from __future__ import annotations

import collections
import json
import threading
import time
from datetime import timedelta

import pytest

from mv import flavors, tasks
from mv.models import ACTIVE_STATUSES, Clip, JobStatus, Project
from mv.pipeline import projects, rendering
from tests.factories import advance
from tests.database import closes_its_connections

pytestmark = pytest.mark.slow


def run_project(user, scenes: int) -> Project:
    project = projects.create_project(owner=user, video_description="chaos", flavor=flavors.resolve("default"),
                                      number_of_scenes=scenes)
    projects.start_project(project)
    project.refresh_from_db()
    return project


VEO = "google/veo-3.1"
VEO_CREATE = r"^/v1/models/google/veo-3\.1/predictions$"


def test_chaos_ends_every_clip_cleanly_and_never_creates_twice(fake_replicate, user, settings):
    settings.MV_CREATE_RETRIES = 3
    project = run_project(user, 8)
    scenes = list(project.scenes.select_related("current_clip"))
    before = {s.pk: s.current_clip_id for s in scenes}
    assert all(before.values())
    known = set(fake_replicate.predictions)

    # Counted in polls, not seconds, and the faults are seeded: the clips run one after another,
    # so the same requests meet the same faults however loaded the machine is.
    fake_replicate.set_latency(VEO, polls=6)
    # The first create is made, but its answer is lost: the client sees a broken connection.
    fake_replicate.drop_connection("POST", VEO_CREATE, after=True)
    fake_replicate.set_chaos(fail_fraction=0.3, error_fraction=0.2, drop_fraction=0.05, drop_after_fraction=0.05)
    new = [rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=s.description, scene=s)
           for s in scenes]
    fake_replicate.set_chaos()
    faults = [kind for kind, _, _ in fake_replicate.chaos_faults]
    print(f"chaos faults: {len(faults)} {sorted(collections.Counter(faults).items())}")
    for kind in ("failed prediction", "error", "drop"):
        assert kind in faults, f"the seeded chaos injected no {kind!r}: {faults}"
    assert fake_replicate.chaos_hits == len(faults) >= 5

    clips = list(Clip.objects.filter(pk__in=[c.pk for c in new]))
    assert not [c for c in clips if c.status in ACTIVE_STATUSES]
    failed = [c for c in clips if c.status == JobStatus.FAILED]
    assert all(c.error and "Traceback" not in c.error for c in failed)
    for scene in scenes:
        scene.refresh_from_db()
        mine = next(c for c in clips if c.scene_id == scene.pk)
        expected = mine.pk if mine.status == JobStatus.SUCCEEDED else before[scene.pk]
        assert scene.current_clip_id == expected  # a failure never loses the previous clip

    # Nothing created twice, nothing lost: every prediction is a clip's stored one, those whose
    # create answer was lost included (found again at the provider by the create's key and
    # resumed); each clip led to at most one.
    created = {pid: p for pid, p in fake_replicate.predictions.items() if pid not in known}
    lost = {d["id"] for d in fake_replicate.dropped_responses if d["status"] == 201 and d["id"]}
    stored = {c.prediction_id for c in clips if c.prediction_id}
    assert lost and all(p.model == VEO for p in created.values())
    assert len(stored) == len([c for c in clips if c.prediction_id]) and lost <= stored
    assert set(created) == stored
    per_clip = collections.Counter(p.input["prompt"] for p in created.values())
    assert set(per_clip) <= {c.prompt for c in clips} and max(per_clip.values()) == 1
    for clip in clips:
        if clip.prediction_id in lost:  # resumed: it ends as its prediction did, never as "interrupted"
            assert "interrupted" not in clip.error.lower() and "may have been created" not in clip.error

    # Explicit retries of every failed clip: the provider sees exactly one create more for each.
    retried = [rendering.retry_clip(c) for c in failed]
    after = {pid for pid in fake_replicate.predictions if pid not in known}
    assert len(after) == len(created) + len(retried) <= len(new) + len(retried)
    assert all(c.status == JobStatus.SUCCEEDED for c in Clip.objects.filter(pk__in=[r.pk for r in retried]))


def test_retry_from_the_api_reruns_only_the_failed_clip(fake_replicate, alice_client, user):
    project = run_project(user, 3)
    scene = project.scenes.get(position=1)
    fake_replicate.fail_next("google/veo-3.1", "E6716: content flagged")
    failed = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x", scene=scene)
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
    failed = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x", scene=scene)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f"/clips/{failed.pk}/retry/" in page and "Retry" in page
    creates = fake_replicate.creates()
    alice_client.post(f"/clips/{failed.pk}/retry/", HTTP_HX_REQUEST="true")
    assert fake_replicate.creates() == creates + 1
    assert Clip.objects.filter(scene=scene, status=JobStatus.SUCCEEDED).count() == 2


def test_worker_restart_resumes_running_clips_from_their_prediction_ids(fake_replicate, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="resume me")
    assert advance(clip) is False  # started: prediction id stored, now running
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.prediction_id
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    assert tasks.resume_interrupted() == 1
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and fake_replicate.creates() == 1


def test_a_local_render_cut_off_by_a_dead_worker_is_rendered_again(user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x")
    Clip.objects.filter(pk=clip.pk).update(started_at=clip.created_at - timedelta(seconds=settings.MV_START_GRACE + 1))
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    tasks.resume_interrupted()  # free work: started again from scratch, not failed
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and clip.file


def test_a_start_cut_off_before_its_create_was_sent_is_started_again_once(fake_replicate, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x")
    # Claimed by a worker that died before it sent anything (no start key recorded).
    Clip.objects.filter(pk=clip.pk).update(started_at=clip.created_at, started_by="")
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    tasks.resume_interrupted()
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and not clip.error
    assert fake_replicate.creates() == 1


def test_two_lipsyncs_of_one_scene_keep_both_and_end_on_the_last_to_finish(fake_replicate, user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=2, audio_track=track, song_end=16.0)
    projects.start_project(project)
    scene = project.scenes.get(position=0)
    source = scene.current_clip
    results: dict[str, Clip] = {}
    model = "sync/lipsync-2-pro"

    def lipsync(name: str) -> None:
        results[name] = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=source,
                                                 audio_track=track, start_time=0, end_time=8)

    # The slow one is held at the provider until the fast one has finished and re-stitched:
    # the order of finishing is fixed, not a race against a time window.
    fake_replicate.hold(model)
    slow = threading.Thread(target=closes_its_connections(lipsync), args=("slow",))
    slow.start()
    deadline = time.monotonic() + 60
    while fake_replicate.creates(model) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    (slow_prediction,) = [p.id for p in fake_replicate.predictions.values() if p.model == model]
    fake_replicate.stop_holding(model)
    fast = threading.Thread(target=closes_its_connections(lipsync), args=("fast",))
    fast.start()
    fast.join(120)
    assert not fast.is_alive() and not fake_replicate.finished(slow_prediction)
    results["fast"].refresh_from_db()
    scene.refresh_from_db()
    assert results["fast"].status == JobStatus.SUCCEEDED and scene.current_clip_id == results["fast"].pk
    fake_replicate.release(prediction_id=slow_prediction)
    slow.join(120)
    assert not slow.is_alive()
    for clip in results.values():
        clip.refresh_from_db()
        assert clip.status == JobStatus.SUCCEEDED and clip.parent_id == source.pk
    assert results["slow"].prediction_id == slow_prediction
    assert results["slow"].finished_at > results["fast"].finished_at
    scene.refresh_from_db()
    assert scene.current_clip_id == results["slow"].pk  # the last to finish
    assert results["fast"].followup_stitch.ordered_clips()[0].pk == results["fast"].pk
    latest = results["slow"].followup_stitch  # the automatic re-stitch after the last one
    assert latest is not None and latest.status == JobStatus.SUCCEEDED
    assert latest.ordered_clips()[0].pk == results["slow"].pk
    assert latest.created_at >= results["fast"].followup_stitch.created_at


def test_cancelling_a_rendering_clip_stops_its_prediction_and_keeps_the_scenes_clip(fake_replicate, alice_client, user,
                                                                                    other_user, settings):
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=1)
    projects.start_project(project)
    scene = project.scenes.get()
    kept = scene.current_clip
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    fake_replicate.hold("google/veo-3.1")
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="too slow", scene=scene)
    assert advance(clip) is False  # rendering at the provider
    from django.test import Client

    intruder = Client()
    intruder.force_login(other_user)
    assert intruder.post(f"/clips/{clip.pk}/cancel/", HTTP_HX_REQUEST="true").status_code == 404
    html = alice_client.post(f"/clips/{clip.pk}/cancel/", HTTP_HX_REQUEST="true").content.decode()
    clip.refresh_from_db()
    scene.refresh_from_db()
    assert clip.status == JobStatus.CANCELED and scene.current_clip_id == kept.pk
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{clip.prediction_id}/cancel")
    assert "The last attempt was cancelled; the clip above is kept." in html and "Retry" in html
    assert advance(clip) is True  # its poll chain ends
    api = alice_client.post("/api/mv/cancel_video", json.dumps({"video_id": str(clip.pk)}),
                            content_type="application/json")
    assert api.status_code == 400 and api.json()["error"] == "not_active"
    again = alice_client.post(f"/clips/{clip.pk}/cancel/", HTTP_HX_REQUEST="true").content.decode()
    assert "Only a queued or rendering clip can be cancelled." in again
    fake_replicate.release()


def test_the_api_cancels_a_rendering_clip(fake_replicate, alice_client, user, other_user, settings):
    from django.test import Client

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    fake_replicate.hold("google/veo-3.1")
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="stop me")
    assert advance(clip) is False
    intruder = Client()
    intruder.force_login(other_user)
    assert intruder.post("/api/mv/cancel_video", json.dumps({"video_id": str(clip.pk)}),
                         content_type="application/json").status_code == 404
    response = alice_client.post("/api/mv/cancel_video", json.dumps({"video_id": str(clip.pk)}),
                                 content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert fake_replicate.requests_to("POST", r"/cancel$")
    fake_replicate.release()
