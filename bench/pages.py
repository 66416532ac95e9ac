"""Project page and status poll: server time and SQL queries, 60 scenes/180 clips and 20/60 vs 2/6."""

from __future__ import annotations

import statistics
import time

from bench.common import Row


def build(owner, scenes: int):
    from mv.models import Clip, JobStatus, Scene
    from tests.factories import written_project

    project = written_project(owner, scenes=scenes, video_description=f"bench {scenes}", autorun_started=True,
                              auto_stitch_done=True)
    for scene in project.scenes.all():
        position = scene.position
        Scene.objects.filter(pk=scene.pk).update(description=f"scene {position} " * 20)
        parent = None
        for n in range(3):
            parent = Clip.objects.create(owner=owner, scene=scene, status=JobStatus.SUCCEEDED, parent=parent,
                                         prompt="p", duration=8.0, file=f"clips/fake-{position}-{n}.mp4")
        Scene.objects.filter(pk=scene.pk).update(current_clip=parent)
    project.refresh_from_db()
    return project


def measure(client, url: str, repeat: int = 30) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code in (200, 286), response.status_code
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return statistics.median(times), len(ctx.captured_queries)


def run(args) -> list[Row]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-pages")
    client = Client()
    client.force_login(user)
    small, big, huge = build(user, 2), build(user, 20), build(user, 60)
    small_t, small_q = measure(client, f"/quick-gen/{small.pk}/")
    big_t, big_q = measure(client, f"/quick-gen/{big.pk}/")
    huge_t, huge_q = measure(client, f"/quick-gen/{huge.pk}/", repeat=15)
    from mv.models import Clip, JobStatus

    scene = big.scenes.first()
    Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=40)
    poll_t, poll_q = measure(client, f"/scenes/{scene.pk}/clip/status/", repeat=50)
    return [
        Row("pages", "quick-gen, 20 scenes / 60 clips", f"{big_t * 1000:.1f} ms, {big_q} queries",
            f"2 scenes: {small_t * 1000:.1f} ms, {small_q} queries", f"{big_t / small_t:.1f}x time, {big_q - small_q:+d} queries",
            "<= 50 ms, queries flat", big_t <= 0.05 and big_q == small_q),
        Row("pages", "project page, 60 scenes / 180 clips", f"{huge_t * 1000:.1f} ms, {huge_q} queries",
            f"2 scenes: {small_t * 1000:.1f} ms, {small_q} queries", f"{huge_t / small_t:.1f}x time, {huge_q - small_q:+d} queries",
            "<= 50 ms, queries flat", huge_t <= 0.05 and huge_q == small_q),
        Row("pages", "clip status poll (clip rendering)", f"{poll_t * 1000:.1f} ms, {poll_q} queries", "-", "-",
            "<= 5 ms, <= 2 queries", poll_t <= 0.005 and poll_q <= 2),
    ]
