"""When a running prediction is polled again (mv.polling): the steady interval stays within
Replicate's request budget however many run, and a model with a history of run times is
first polled when its quicker runs had finished, not every interval from the start."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mv import flavors, polling
from mv.models import Clip, JobStatus
from mv.pipeline import rendering
from mv.providers import get_provider

VIDEO = "google/veo-3.1"


def _running(user, n: int, *, seconds_ago: float = 0.0) -> list[Clip]:
    started = timezone.now() - timedelta(seconds=seconds_ago)
    return [Clip.objects.create(owner=user, provider="replicate", model=VIDEO, status=JobStatus.RUNNING,
                                started_at=started, prediction_id=f"p{i}") for i in range(n)]


def _history(user, seconds: list[float]) -> None:
    for t in seconds:
        Clip.objects.create(owner=user, provider="replicate", model=VIDEO, status=JobStatus.SUCCEEDED,
                            finished_at=timezone.now(), billed_units={"seconds": 8.0, "reported": {"total_time": t}})


def test_without_history_the_steady_interval_keeps_every_poll_within_the_budget(fake_replicate, user, settings):
    settings.MV_POLL_INTERVAL = 1.0
    budget = get_provider("replicate").polls_per_second
    assert budget == 40.0  # 80 % of the 3000 requests a minute Replicate allows besides creates
    few = _running(user, 8)
    assert polling.next_poll(few[0]) == 1.0
    polling.forget()
    many = few + _running(user, 92)
    interval = polling.next_poll(many[0])
    assert interval == 100 / budget and 100 / interval <= budget


@pytest.fixture
def frozen_now(monkeypatch):
    """One instant for the rows' start times and the poller's reading of the clock, so the
    answer does not depend on how long the queries between them took."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def test_a_model_with_history_is_first_polled_when_its_quicker_runs_had_finished(fake_replicate, user, settings,
                                                                                 frozen_now):
    settings.MV_POLL_INTERVAL = 1.0
    _history(user, [40.0, 50.0, 60.0, 70.0, 80.0, 90.0])
    usual = polling.usual_seconds(Clip, "replicate", VIDEO)
    assert 40.0 < usual < 60.0  # the lower quartile
    fresh = _running(user, 1, seconds_ago=10.0)[0]
    assert abs(polling.next_poll(fresh) - (usual - 10.0)) < 1.0  # one wait, not one poll a second
    due = _running(user, 1, seconds_ago=usual)[0]
    assert polling.next_poll(due) == 1.0  # the steady interval (a tenth of usual is longer)


def test_a_quick_model_is_polled_often_around_its_usual_time_then_less_while_late(fake_replicate, user, settings,
                                                                                 frozen_now):
    settings.MV_POLL_INTERVAL = 1.0
    _history(user, [3.0] * 5)
    due, late, very_late = (_running(user, 1, seconds_ago=s)[0] for s in (3.0, 3.6, 10.0))
    assert abs(polling.next_poll(due) - 0.3) < 0.05  # a tenth of its usual time
    assert 0.35 < polling.next_poll(late) < 1.0
    assert polling.next_poll(very_late) == 1.0


def test_failed_runs_and_rows_without_reported_times_are_no_history(fake_replicate, user):
    _history(user, [3.0] * 3)
    Clip.objects.create(owner=user, provider="replicate", model=VIDEO, status=JobStatus.FAILED,
                        finished_at=timezone.now(), billed_units={"reported": {"total_time": 0.1}})
    Clip.objects.create(owner=user, provider="replicate", model=VIDEO, status=JobStatus.SUCCEEDED,
                        finished_at=timezone.now(), billed_units={"seconds": 8.0})
    assert polling.usual_seconds(Clip, "replicate", VIDEO) is None


def _render(user) -> Clip:
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="a polling test")
    clip.refresh_from_db()  # the immediate task queue ran its whole life on commit
    assert clip.status == JobStatus.SUCCEEDED
    return clip


def _polls_to_finish(user, run_s: float) -> int:
    """How many polls a prediction that runs ``run_s`` seconds gets on ``next_poll``'s schedule,
    on a simulated clock: each poll lands when the one before scheduled it (no wall clock)."""
    import pytest

    elapsed, polls, now = 0.0, 0, timezone.now()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: now)  # frozen: the row is exactly `elapsed` old
        while elapsed < run_s - 1e-9:
            clip = _running(user, 1, seconds_ago=elapsed)[0]
            elapsed += polling.next_poll(clip)
            clip.delete()
            polls += 1
    return polls


def test_with_a_history_a_clip_is_finished_in_fewer_polls(fake_replicate, user, settings):
    """A 1 s run polled every 0.1 s takes ten polls while the model has no history. The fake
    reports each of its runs as 1 s (they finish on their third poll, whatever the load); once
    MIN_HISTORY of them are in, the first poll waits for the usual time and is the last."""
    settings.MV_POLL_INTERVAL = 0.1
    fake_replicate.set_latency(VIDEO, run_s=1.0, polls=3)
    assert _polls_to_finish(user, 1.0) == 10
    rendered = [_render(user) for _ in range(polling.MIN_HISTORY)]
    assert [len(fake_replicate.requests_to("GET", rf"/v1/predictions/{c.prediction_id}$")) for c in rendered] == \
        [3] * polling.MIN_HISTORY
    polling.forget()  # as a worker re-reads the history after CACHE_SECONDS
    assert polling.usual_seconds(Clip, "replicate", VIDEO) == 1.0
    assert _polls_to_finish(user, 1.0) == 1


def test_a_projects_clips_reach_the_queue_together_each_with_its_chain(fake_replicate, user, settings):
    """The database queue gets one task per clip, written in one go after the clips, ahead of
    polls; when the budget runs out midway the clips made before it keep their tasks."""
    from django.db import connection
    from django.db.models.signals import post_save
    from django.tasks.signals import task_enqueued
    from django_tasks_db.models import DBTaskResult

    from mv import tasks
    from tests.factories import written_project

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.MV_USER_DAILY_BUDGET_USD = 3 * 3.2 + 1  # three 8 s clips with sound fit, a fourth does not
    project = written_project(user, scenes=5)
    writes = []  # (what, inside a transaction) in the order they happen

    def clip_saved(sender, created, **kwargs):
        writes.append(("clip", None)) if created else None

    def enqueued(sender, **kwargs):
        writes.append(("task", connection.in_atomic_block))

    post_save.connect(clip_saved, sender=Clip)
    task_enqueued.connect(enqueued)
    try:
        clips = rendering.start_project_clips(project, flavors.resolve("default"))
    finally:
        post_save.disconnect(clip_saved, sender=Clip)
        task_enqueued.disconnect(enqueued)
    assert writes == [("clip", None)] * 3 + [("task", True)] * 3  # one transaction for the queue, after the clips
    assert len(clips) == 3 and Clip.objects.count() == 3
    queued = {t.args_kwargs["kwargs"]["pk"]: t for t in DBTaskResult.objects.all()}
    assert set(queued) == {str(c.pk) for c in clips}
    for clip in Clip.objects.all():
        task = queued[str(clip.pk)]
        assert task.args_kwargs["kwargs"]["token"] == str(clip.poll_token) and task.priority == tasks.NEW_WORK_PRIORITY
    assert fake_replicate.creates() == 0  # nothing ran inline


def test_inside_held_a_projects_clips_stay_with_the_caller(fake_replicate, user, settings):
    from django_tasks_db.models import DBTaskResult

    from mv import tasks
    from tests.factories import written_project

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    with tasks.held() as holder:
        clips = rendering.start_project_clips(written_project(user, scenes=2), flavors.resolve("default"))
    assert [c.pk for c in holder.predictions] == [c.pk for c in clips] and not DBTaskResult.objects.exists()
