"""The quick-gen page and its status poll cost a fixed number of queries."""

from __future__ import annotations

import re
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mv import status
from mv.models import Clip, JobStatus, Project, Scene
from tests.factories import finished_stitch, written_project


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


def test_status_poll_of_a_clip_that_just_finished_takes_three_queries_whatever_the_scenes(
        alice_client, user, django_assert_max_num_queries):
    """The answer that swaps the card, its thumbnail and the counts, with a new stitch to announce."""
    small, big = build(user, 2), build(user, 20)
    for project in (small, big):
        finished_stitch(project)
        Clip.objects.create(owner=user, scene=project.scenes.get(position=1), status=JobStatus.FAILED, prompt="p")
    scene = big.scenes.get(position=3)
    url = f"/scenes/{scene.pk}/clip/status/"
    assert queries(alice_client, url) == queries(alice_client, f"/scenes/{small.scenes.first().pk}/clip/status/")
    with django_assert_max_num_queries(3):
        response = alice_client.get(url, {"shown_stitch": "an older one"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 286 and "new-stitch" in response["HX-Trigger"]
    html = response.content.decode()
    assert '<span class="badge badge-ok">19 ready</span>' in html and "1 failed" in html


def test_a_clip_that_just_finished_swaps_only_its_card_its_thumbnail_the_counts_and_the_spend(alice_client, user):
    project = build(user, 5)
    scene = project.scenes.get(position=2)
    html = alice_client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    top_level = [i for i in ids if i in {f"clip-{scene.pk}", f"thumb-{scene.pk}", "counts", "project-costs"}]
    assert top_level == [f"clip-{scene.pk}", f"thumb-{scene.pk}", "counts", "project-costs"]
    assert html.count('hx-swap-oob="true"') == 3  # the thumbnail, the counts and the spend; the card is the target
    assert not [i for i in ids if i.startswith(("scene-", "prompt-", "clip-status-")) or i in {"scenes", "studio"}]
    others = [str(pk) for pk in project.scenes.exclude(pk=scene.pk).values_list("pk", flat=True)]
    assert not [pk for pk in others if pk in html]


def test_the_poll_counts_scenes_as_the_page_does(user):
    """poll_summary's SQL and scene_state's rule agree on every kind of scene."""
    project = build(user, 6)
    waiting, generating, failed, canceled_after_ready, ready_after_failure, _ = project.scenes.order_by("position")
    Scene.objects.filter(pk=waiting.pk).update(current_clip=None)
    Clip.objects.filter(scene=waiting).delete()
    Clip.objects.create(owner=user, scene=generating, status=JobStatus.QUEUED, prompt="p")
    Clip.objects.create(owner=user, scene=failed, status=JobStatus.FAILED, prompt="p")
    Clip.objects.create(owner=user, scene=canceled_after_ready, status=JobStatus.CANCELED, prompt="p")
    Clip.objects.create(owner=user, scene=ready_after_failure, status=JobStatus.FAILED, prompt="p")
    Clip.objects.create(owner=user, scene=ready_after_failure, status=JobStatus.SUCCEEDED, prompt="p")
    summary = status.poll_summary(project.pk)
    expected = status.counts(status.project_states(project))
    assert {"generating": summary.generating, "ready": summary.ready, "failed": summary.failed} == expected
    assert expected == {"generating": 1, "ready": 2, "failed": 2}
    assert summary.scene_count == 6 and summary.latest_stitch_id is None and not summary.writing


def test_a_poll_for_a_scene_without_clips_answers_its_empty_card_and_stops(alice_client, user):
    project = written_project(user, scenes=2)
    scene = project.scenes.first()
    response = alice_client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 286 and response["HX-Retarget"] == f"#clip-{scene.pk}"
    assert "No clip yet." in response.content.decode() and "0 ready" in response.content.decode()


def test_status_poll_of_someone_elses_rendering_clip_is_not_found(client, user, other_user):
    project = build(user, 1)
    scene = project.scenes.first()
    Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=30)
    client.force_login(other_user)
    response = client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and b"progress" not in response.content

