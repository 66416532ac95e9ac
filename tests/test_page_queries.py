"""The quick-gen page and its status poll cost a fixed number of queries."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from mv.models import Clip, JobStatus, Project, Scene
from tests.factories import written_project


def build(owner, scenes: int) -> Project:
    project = written_project(owner, scenes=scenes, autorun_started=True, auto_stitch_done=True)
    for scene in project.scenes.all():
        parent = None
        for n in range(3):
            parent = Clip.objects.create(owner=owner, scene=scene, status=JobStatus.SUCCEEDED, parent=parent, prompt="p",
                                         duration=8.0, file=f"clips/{scene.position}-{n}.mp4")
        Scene.objects.filter(pk=scene.pk).update(current_clip=parent)
    return project


def queries(client, url: str) -> int:
    client.get(url)  # warm the session cache
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code in (200, 286)
    return len(ctx.captured_queries)


def test_quick_gen_queries_do_not_grow_with_scenes(alice_client, user, django_assert_max_num_queries):
    small, big = build(user, 2), build(user, 20)
    assert queries(alice_client, f"/quick-gen/{small.pk}/") == queries(alice_client, f"/quick-gen/{big.pk}/")
    with django_assert_max_num_queries(8):
        alice_client.get(f"/quick-gen/{big.pk}/")


def test_status_poll_of_a_rendering_clip_takes_two_queries(alice_client, user, django_assert_max_num_queries):
    """The user, then the scene's clip in progress with its scene, checked as theirs in the
    same query (the session comes from the cache)."""
    project = build(user, 3)
    scene = project.scenes.first()
    Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=30)
    alice_client.get(f"/scenes/{scene.pk}/clip/status/")
    with django_assert_max_num_queries(2):
        response = alice_client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'value="30"' in response.content.decode()


def test_status_poll_of_someone_elses_rendering_clip_is_not_found(client, user, other_user):
    project = build(user, 1)
    scene = project.scenes.first()
    Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=30)
    client.force_login(other_user)
    response = client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and b"progress" not in response.content
