"""Worker start-up recovery with several workers: one poll chain per clip, and a start
another live worker is still making is left alone."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from mv import flavors, tasks
from mv.models import Clip, JobStatus
from mv.pipeline import rendering
from tests.factories import advance


def _queued_clip(user, settings) -> Clip:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    return rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x")


def test_a_start_another_live_worker_is_making_is_left_to_it(fake_replicate, user, settings):
    import subprocess
    import sys

    from mv import liveness

    clip = _queued_clip(user, settings)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # a worker inside the create call
    try:
        claimer = liveness.identity().rsplit("/", 2)[0] + f"/{other.pid}/{liveness._start_time(other.pid)}"
        Clip.objects.filter(pk=clip.pk).update(started_at=timezone.now(), started_by=claimer,
                                               start_key="k" * 64, start_sent_at=timezone.now())
        tasks.resume_interrupted()
        assert advance(clip) is False
        clip.refresh_from_db()
        assert clip.status == JobStatus.QUEUED and not clip.error and fake_replicate.creates() == 0
        assert not fake_replicate.requests_to("GET", r"^/v1/predictions(\?|$)")  # not even looked for
    finally:
        other.kill()
        other.wait()
    settings.MV_CREATE_TIMEOUT = 0
    assert advance(clip) is False  # its claimer is gone, and the provider lists no such create: started again
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and fake_replicate.creates() == 1


def test_a_claim_from_another_machine_is_left_alone_for_the_grace_then_started_again(fake_replicate, user, settings):
    clip = _queued_clip(user, settings)
    Clip.objects.filter(pk=clip.pk).update(started_at=timezone.now(), started_by="another-host/4242/777")
    assert advance(clip) is False
    clip.refresh_from_db()
    assert clip.status == JobStatus.QUEUED and fake_replicate.creates() == 0
    Clip.objects.filter(pk=clip.pk).update(started_at=timezone.now() - timedelta(seconds=settings.MV_START_GRACE + 1))
    assert advance(clip) is False  # no start key: it never sent its create, so it starts again
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and fake_replicate.creates() == 1


def test_recovery_ends_the_older_poll_chain(fake_replicate, user, settings):
    clip = _queued_clip(user, settings)
    assert advance(clip) is False  # running on the fake model
    clip.refresh_from_db()
    old_token = str(clip.poll_token)
    tasks.resume_interrupted()  # a second worker starts: a new chain with a new token
    clip.refresh_from_db()
    assert clip.poll_token is not None and str(clip.poll_token) != old_token
    polls = len(fake_replicate.requests_to("GET", r"/v1/predictions/"))
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    tasks.advance_prediction.call(kind="clip", pk=str(clip.pk), token=old_token)  # the chain from before recovery
    assert len(fake_replicate.requests_to("GET", r"/v1/predictions/")) == polls
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING
    tasks.advance_prediction.call(kind="clip", pk=str(clip.pk), token=str(clip.poll_token))  # the current chain
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and fake_replicate.creates() == 1


def test_a_start_that_outlived_the_grace_cancels_its_prediction(fake_replicate, user, settings, monkeypatch):
    clip = _queued_clip(user, settings)
    from mv.providers.replicate import ReplicateProvider

    real_start = ReplicateProvider.start_clip

    def slow_start(self, *args, **kwargs):
        update = real_start(self, *args, **kwargs)
        # Meanwhile a restarted worker gave up on this start.
        Clip.objects.filter(pk=clip.pk).update(status=JobStatus.FAILED, error="interrupted while starting")
        return update

    monkeypatch.setattr(ReplicateProvider, "start_clip", slow_start)
    assert advance(clip) is True
    clip.refresh_from_db()
    assert clip.status == JobStatus.FAILED and not clip.prediction_id
    assert fake_replicate.requests_to("POST", r"/v1/predictions/[^/]+/cancel")


def test_a_finished_prediction_hands_its_slot_to_the_oldest_waiting_clip(fake_replicate, user, settings):
    from django.tasks import default_task_backend

    settings.MV_MAX_CONCURRENT_PREDICTIONS = 1
    fake_replicate.set_latency("google/veo-3.1", polls=1)
    first, second = _queued_clip(user, settings), rendering.request_clip(owner=user, flavor=flavors.resolve("default"),
                                                                         prompt="waits for a slot")
    assert advance(first) is False  # running: the only slot
    assert advance(second) is False  # waiting for it
    second.refresh_from_db()
    waiting_token = second.poll_token
    assert second.status == JobStatus.QUEUED and second.started_at is None
    assert advance(first) is True  # done: the slot is free
    second.refresh_from_db()
    handed = [r for r in default_task_backend.results
              if r.task.name == "advance_prediction" and r.kwargs.get("token") == str(second.poll_token)]
    assert second.poll_token != waiting_token and len(handed) == 1  # a new chain starts it now
    assert handed[0].kwargs["pk"] == str(second.pk) and handed[0].task.priority == tasks.NEW_WORK_PRIORITY


def test_new_work_is_enqueued_ahead_of_polls(user, settings):
    from django.tasks import default_task_backend

    clip = _queued_clip(user, settings)
    started = [r for r in default_task_backend.results if r.kwargs.get("pk") == str(clip.pk)]
    assert [r.task.priority for r in started] == [tasks.NEW_WORK_PRIORITY]


@pytest.mark.isolated  # it kills by command line across /proc: once seen to miss its orphan beside a parallel worker
def test_a_local_render_a_killed_worker_left_starts_again_at_once_and_its_leftovers_go(user, settings, tmp_path,
                                                                                      monkeypatch):
    import subprocess
    import sys
    import tempfile

    clip = _queued_clip(user, settings)
    Clip.objects.filter(pk=clip.pk).update(started_at=timezone.now())  # the killed worker was rendering it
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs: the killed worker's
    leftover = tmp_path / f"mv-{dead.pid}-render"
    leftover.mkdir()
    (leftover / "clip.part.mp4").write_bytes(b"half a video")
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", f"{leftover}/clip.mp4"])
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    tasks.resume_interrupted()
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and clip.file  # rendered again now, not failed minutes later
    assert not leftover.exists() and orphan.wait(timeout=10) != 0  # the orphaned renderer was stopped


def test_a_killed_process_not_yet_reaped_counts_as_gone():
    import subprocess
    import sys

    from mv.jobs import process_alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    assert process_alive(child.pid)
    child.kill()
    deadline = time.monotonic() + 10
    while process_alive(child.pid) and time.monotonic() < deadline:  # a zombie until we wait for it
        time.sleep(0.05)
    assert not process_alive(child.pid)
    child.wait()


def test_a_local_render_a_live_worker_is_making_is_left_to_it(user, settings):
    import subprocess
    import sys

    from mv import liveness

    clip = _queued_clip(user, settings)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another worker, rendering
    try:
        claimer = liveness.identity().rsplit("/", 2)[0] + f"/{other.pid}/{liveness._start_time(other.pid)}"
        Clip.objects.filter(pk=clip.pk).update(started_at=timezone.now(), started_by=claimer)
        tasks.resume_interrupted()  # this worker starts beside it
        clip.refresh_from_db()
        assert clip.status == JobStatus.QUEUED and clip.started_by == claimer  # not taken from it
        assert advance(clip) is False
    finally:
        other.kill()
        other.wait()
    assert advance(clip) is True  # its worker is gone: rendered again, for free
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and clip.file
