"""A finish is one transaction: a prediction's status, its ledger entry and every row it causes
(the re-stitch, the slot it frees, the next step of the automatic run) commit together under
its project's lock, so whoever reads the row finished reads its consequences too. These tests
read between commits (from another connection while the finish is open, and right after each
commit) rather than waiting on a clock."""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.tasks.signals import task_enqueued

from mv import audio, flavors
from mv.models import ACTIVE_STATUSES, AudioTrack, Clip, Job, JobStatus, Prediction, Project, SceneWriting, Stitch
from mv.pipeline import projects, rendering, stitching
from tests.database import closes_its_connections
from tests.factories import advance, rendered_project, written_project

VEO = "google/veo-3.1"
DUMMY = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
HX = {"HTTP_HX_REQUEST": "true"}


def read_elsewhere(function):
    """What another connection (another thread) reads now: only what has committed."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(closes_its_connections(function)).result(timeout=60)


@pytest.fixture
def track(user, song_mp3) -> AudioTrack:
    return audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))


def test_two_last_clips_finishing_at_the_same_moment_stitch_exactly_once(fake_replicate, user, settings,
                                                                          monkeypatch):
    """Both finishes enter their transactions together (a barrier after their files are
    stored); the project row is locked first, so the second sees the first's finish and
    stitches, the first saw the second still running: one stitch, on PostgreSQL as on SQLite."""
    settings.TASKS = DUMMY
    fake_replicate.hold(VEO)
    project = written_project(user, scenes=2, autorun_started=True)
    clips = rendering.start_project_clips(project, flavors.resolve("default"))
    for clip in clips:
        advance(clip)
    assert sorted(Clip.objects.values_list("status", flat=True)) == [JobStatus.RUNNING] * 2
    fake_replicate.release()
    together = threading.Barrier(2, timeout=60)
    prepare = Clip.prepare_output

    def prepared_together(self, update):
        fields = prepare(self, update)
        together.wait()
        return fields

    monkeypatch.setattr(Clip, "prepare_output", prepared_together)
    # Inside the transaction, each finish waits a moment for the other once it has asked
    # "every scene ready?": without the project lock both would ask before either committed,
    # and neither would stitch. With it the second is still waiting for the lock, and the
    # first goes on alone (the outcome does not depend on how long the moment is).
    inside = threading.Barrier(2, timeout=2)
    ready = stitching.all_scenes_ready

    def asked_then_wait(project):
        answer = ready(project)
        with contextlib.suppress(threading.BrokenBarrierError):
            inside.wait()
        return answer

    monkeypatch.setattr(stitching, "all_scenes_ready", asked_then_wait)

    def finish(clip: Clip) -> None:
        while not advance(clip):  # (the fake may still say "processing" while it makes the video)
            pass

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(closes_its_connections(finish), clips))
    assert sorted(Clip.objects.values_list("status", flat=True)) == [JobStatus.SUCCEEDED] * 2
    stitches = list(Stitch.objects.filter(project=project))
    assert len(stitches) == 1 and [c.pk for c in stitches[0].ordered_clips()] == [c.pk for c in clips]
    assert Project.objects.get(pk=project.pk).auto_stitch_done


def test_a_lipsync_of_the_current_clip_is_never_seen_succeeded_before_its_restitch(user, track, clip_mp4, settings,
                                                                                   monkeypatch):
    """While the finish writes the re-stitch, another connection still reads the lipsync as
    running: had the success committed first, it would read it succeeded with no stitch."""
    settings.TASKS = DUMMY
    project = rendered_project(user, clip_mp4, scenes=2, audio_track=track)
    scene = project.scenes.get(position=1)
    sync = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=scene.current_clip,
                                     audio_track=track, start_time=scene.start, end_time=scene.end)
    seen = []
    restitch = stitching.restitch_project

    def watched(project):
        seen.append(read_elsewhere(lambda: Clip.objects.values_list("status", "followup_stitch").get(pk=sync.pk)))
        return restitch(project)

    monkeypatch.setattr(stitching, "restitch_project", watched)
    while not advance(sync):
        pass
    assert len(seen) == 1 and seen[0][0] in ACTIVE_STATUSES and seen[0][1] is None
    status, stitch = read_elsewhere(lambda: Clip.objects.values_list("status", "followup_stitch").get(pk=sync.pk))
    assert status == JobStatus.SUCCEEDED and stitch is not None
    scene.refresh_from_db()
    assert scene.current_clip_id == sync.pk


class WorkerThread:
    """Tasks run on one worker thread after the request that enqueued them, as a worker
    process would run them beside the web process."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.Queue = queue.Queue()
        self.thread = threading.Thread(target=closes_its_connections(self._run), daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import time

        from django.utils import timezone

        while (result := self.queue.get()) is not None:
            if result.task.run_after is not None:  # a poll chain's next step, deferred
                time.sleep(max(0.0, (result.task.run_after - timezone.now()).total_seconds()))
            result.task.func(*result.args, **result.kwargs)


def test_a_waited_lipsync_on_a_current_clip_carries_its_stitch_id_every_time(alice_client, user, track, clip_mp4,
                                                                             settings):
    """The API's `wait` answered by the web thread while a worker thread finishes the lipsync;
    meanwhile a third connection reads each lipsync's status and stitch in one query over and
    over: never succeeded without its stitch."""
    settings.TASKS = DUMMY
    settings.MV_MAX_WAIT_SECONDS = 120  # each answer waits for its lipsync and stitch, on a loaded machine too
    project = rendered_project(user, clip_mp4, scenes=2, audio_track=track)
    worker = WorkerThread()

    def run_on_worker(sender, task_result, **kwargs):
        worker.queue.put(task_result)

    task_enqueued.connect(run_on_worker)
    broken: list = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.005):  # a pause: the requests and the worker get the interpreter too
            rows = Clip.objects.filter(kind=Clip.Kind.LIPSYNC, promote_on_success=True)
            broken.extend(r for r in rows.values_list("status", "followup_stitch") if r[0] == "succeeded" and not r[1])

    watcher = threading.Thread(target=closes_its_connections(watch))
    watcher.start()
    try:
        scene = project.scenes.get(position=1)
        for _ in range(5):
            scene.refresh_from_db()
            response = alice_client.post("/api/mv/lipsync", {
                "video_id": str(scene.current_clip_id), "audio_id": str(track.pk), "start_time": scene.start,
                "end_time": scene.end, "wait": 120}, content_type="application/json")
            body = response.json()
            assert response.status_code == 200 and body["status"] == "succeeded", body
            assert body["replaces_current_clip"] is True and body["stitch_id"], body
            assert Stitch.objects.filter(pk=body["stitch_id"], project=project).exists()
    finally:
        stop.set()
        watcher.join()
        task_enqueued.disconnect(run_on_worker)
        worker.queue.put(None)
        worker.thread.join(timeout=120)
    assert broken == []


def test_a_finish_whose_follow_up_breaks_leaves_nothing_half_written(user, monkeypatch, settings):
    """The scene plan is written and its clips started in one transaction: when starting the
    clips breaks, the plan is not left written without them (a page would stop polling on
    cards that never get a clip); the writing fails with the plain message instead."""
    settings.TASKS = DUMMY
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=2)

    def broken(*args, **kwargs):
        raise RuntimeError("the clips could not be started")

    monkeypatch.setattr(rendering, "start_project_clips", broken)
    projects.start_project(project)
    writing = project.plan_writing
    while not advance(writing):
        pass
    writing.refresh_from_db()
    assert writing.status == JobStatus.FAILED and writing.error == "Something went wrong on our side; retry it."
    assert project.scenes.count() == 0 and Clip.objects.count() == 0
    assert writing.cost_usd is not None  # its ledger entry was still written


class Queue:
    """The task queue, run by hand: each enqueued task is kept, and `drain` runs them in order
    (a prediction's chain re-enqueues itself while it runs, as with a real worker)."""

    def __init__(self) -> None:
        self.pending: list = []
        task_enqueued.connect(self._keep)

    def _keep(self, sender, task_result, **kwargs) -> None:
        self.pending.append(task_result)

    def drain(self, limit: int = 2000) -> None:
        for _ in range(limit):
            if not self.pending:
                return
            result = self.pending.pop(0)
            result.task.func(*result.args, **result.kwargs)
        raise AssertionError("the queue never emptied")

    def close(self) -> None:
        task_enqueued.disconnect(self._keep)


@pytest.fixture
def queue(settings):
    settings.TASKS = DUMMY
    settings.MV_POLL_INTERVAL = 0.0  # the chains poll at once: the fake finishes after a number of polls
    kept = Queue()
    yield kept
    kept.close()


def studio(client, project) -> tuple[int, str]:
    response = client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="studio", **HX)
    return response.status_code, response.content.decode()


def check_answers(client, project: Project, shown: dict) -> None:
    """What every answer says right after a commit: a finished row is never named without
    its consequences."""
    project = Project.objects.get(pk=project.pk)
    code, html = studio(client, project)
    scenes = list(project.scenes.order_by("position"))
    if code == 286:  # the studio stops polling: each card has a clip, or a clip rendering (which polls)
        for scene in scenes:
            rendering_now = Clip.objects.filter(scene=scene, status__in=ACTIVE_STATUSES).exists()
            assert scene.current_clip_id or rendering_now, f"scene {scene.number} has no clip and none coming"
            if rendering_now:
                assert f"/scenes/{scene.pk}/clip/status/" in html
    for scene in scenes:
        poll = client.get(f"/scenes/{scene.pk}/clip/status/", {"shown_stitch": shown.get("stitch", "")}, **HX)
        newest = Clip.objects.filter(scene=scene).order_by("-created_at").first()
        if poll.status_code == 286 and newest is not None and newest.kind == Clip.Kind.LIPSYNC \
                and newest.status == JobStatus.SUCCEEDED and newest.promote_on_success:
            assert newest.followup_stitch_id and "new-stitch" in poll.get("HX-Trigger", ""), "re-stitch not announced"
    for clip in Clip.objects.filter(scene__project=project, kind=Clip.Kind.LIPSYNC, promote_on_success=True):
        answer = client.get(f"/api/mv/get_video/{clip.pk}/info").json()
        assert answer["status"] != "succeeded" or answer["stitch_id"], "a succeeded lipsync without its stitch"
    busy = Clip.objects.filter(scene__project=project, status__in=ACTIVE_STATUSES).exists()
    if project.autorun_started and scenes and not busy and all(s.current_clip_id for s in scenes):
        assert project.stitches.exists(), "every scene is ready and nothing stitches them"


def answers_problem(client, project: Project, shown: dict) -> str | None:
    """check_answers' complaint, if any (kept: a check that raises inside a worker's step
    would be taken for a bug of that step)."""
    try:
        check_answers(client, project, shown)
    except AssertionError as exc:
        return str(exc)
    return None


def test_no_answer_names_a_finished_row_without_its_consequences_and_stopped_polls_leave_a_clip_everywhere(
        alice_client, user, track, queue, fake_replicate, settings, monkeypatch):
    """A whole automatic run on the fake Replicate (one slot, so clips wait for grants), then a
    lipsync of a current clip. Right after every finish commits, before anything else runs,
    the studio poll, every scene's clip poll and the API are asked: each answer that names a
    finished row carries what it caused. Once every poll has stopped, every scene has a clip."""
    settings.MV_MAX_CONCURRENT_PREDICTIONS = 1
    fake_replicate.set_latency(VEO, polls=2)
    fake_replicate.set_latency("openai/gpt-4o-mini", polls=2)
    fake_replicate.set_latency("sync/lipsync-2-pro", polls=2)
    project = projects.create_project(owner=user, video_description="a storm", flavor=flavors.resolve("default"),
                                      number_of_scenes=3, audio_track=track, song_end=24.0)
    shown: dict = {}
    checked: list = []

    def checked_on_commit(write):
        """The write that finishes a row, followed by the checks as soon as it commits."""
        def finish(row, *args, **kwargs):
            write(row, *args, **kwargs)
            if row.finished_here:
                transaction.on_commit(lambda: checked.append(answers_problem(alice_client, project, shown)))
        return finish

    monkeypatch.setattr(Prediction, "succeed", checked_on_commit(Prediction.succeed))
    monkeypatch.setattr(Job, "_finish", checked_on_commit(Job._finish))
    projects.start_project(project)
    queue.drain()
    stitch = project.stitches.get()
    shown["stitch"] = str(stitch.pk)
    scene = project.scenes.get(position=1)
    rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=scene.current_clip,
                              audio_track=track, start_time=scene.start, end_time=scene.end)
    queue.drain()
    # the plan, three clips, the song's vocal stem the lipsync is cut from, the lipsync: each
    # checked right after its commit, all answers sound
    assert track.stems.get().status == "succeeded"
    assert checked == [None] * (1 + 3 + 1 + 1)
    assert fake_replicate.creates(VEO) == 3 and SceneWriting.objects.get(project=project).status == "succeeded"
    # Every poll has stopped: the studio, each card and the full video.
    assert studio(alice_client, project)[0] == 286
    for each in project.scenes.all():
        assert alice_client.get(f"/scenes/{each.pk}/clip/status/", **HX).status_code == 286
        assert each.current_clip is not None and each.current_clip.status == JobStatus.SUCCEEDED
    assert alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="full-video", **HX).status_code == 286
    assert project.stitches.count() == 2 and all(s.status == JobStatus.SUCCEEDED for s in project.stitches.all())


def test_provider_cancels_and_the_lipsync_slice_happen_outside_transactions(fake_replicate, user, track, clip_mp4,
                                                                            settings, monkeypatch):
    """A new scene plan replacing one being written cancels the old one at the provider once
    the request's transaction has committed (never inside it, holding its locks while the
    provider answers); Stop all the same; a lipsync's song slice is cut and stored before
    the transaction that creates its row."""
    from django.db import connection

    from mv import files
    from mv.providers.replicate import ReplicateProvider

    settings.TASKS = DUMMY
    fake_replicate.hold("openai/gpt-4o-mini")
    fake_replicate.hold(VEO)
    inside: list = []
    cancel = ReplicateProvider.cancel

    def cancel_noting(self, prediction_id):
        inside.append(("cancel", connection.in_atomic_block))
        return cancel(self, prediction_id)

    monkeypatch.setattr(ReplicateProvider, "cancel", cancel_noting)
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=2)
    first = projects.request_scenes(project, flavors.resolve("default"))
    advance(first)  # running at the fake
    projects.request_scenes(project, flavors.resolve("default"))
    first.refresh_from_db()
    assert first.status == JobStatus.CANCELED and inside == [("cancel", False)]
    assert fake_replicate.finished(first.prediction_id)

    scenes_project = rendered_project(user, clip_mp4, scenes=1, audio_track=track)
    running = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="p",
                                     scene=scenes_project.scenes.get())
    advance(running)
    assert projects.stop_project(scenes_project) == 1 and inside[-1] == ("cancel", False)

    store = files.store

    def store_noting(field_file, path, name):
        inside.append(("store", connection.in_atomic_block))
        return store(field_file, path, name)

    monkeypatch.setattr(files, "store", store_noting)
    scene = scenes_project.scenes.get()
    rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=scene.current_clip,
                              audio_track=track, start_time=scene.start, end_time=scene.end)
    assert inside[-1] == ("store", False)
