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
    with django_assert_max_num_queries(9):  # 9th: the user's saved characters (the Input Data select)
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
    """The answer that swaps the card, its start frame, thumbnail and spend, with a new stitch to announce."""
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
    assert "clip-finished" in response["HX-Trigger"] and 'id="counts"' not in response.content.decode()


def test_a_clip_that_just_finished_swaps_only_its_card_its_performer_thumbnail_and_the_spend(alice_client, user):
    project = build(user, 5)
    scene = project.scenes.get(position=2)
    html = alice_client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true").content.decode()
    ids = re.findall(r'\sid="([^"]+)"', html)
    swapped = [f"clip-{scene.pk}", f"performer-{scene.pk}", f"thumb-{scene.pk}", "project-costs"]
    assert [i for i in ids if i in set(swapped)] == swapped and "counts" not in ids  # the counts come with the banner
    assert html.count('hx-swap-oob="true"') == 3  # the start frame, thumbnail and spend; the card is the target
    assert not [i for i in ids if i.startswith(("scene-", "prompt-", "clip-status-")) or i in {"scenes", "studio"}]
    others = [str(pk) for pk in project.scenes.exclude(pk=scene.pk).values_list("pk", flat=True)]
    assert not [pk for pk in others if pk in html]


def test_the_counts_asked_after_a_finish_count_every_kind_of_scene_and_the_newest_ask_wins(alice_client, user):
    """Every clip's finish has the counts line ask again (the newest ask replaces one on its
    way), so two finishes answered out of order never set them back; unchanged, it is left as is."""
    project = build(user, 6)
    waiting, generating, failed, canceled_after_ready, ready_after_failure, _ = project.scenes.order_by("position")
    Scene.objects.filter(pk=waiting.pk).update(current_clip=None)
    Clip.objects.filter(scene=waiting).delete()
    Clip.objects.create(owner=user, scene=generating, status=JobStatus.QUEUED, prompt="p")
    Clip.objects.create(owner=user, scene=failed, status=JobStatus.FAILED, prompt="p")
    Clip.objects.create(owner=user, scene=canceled_after_ready, status=JobStatus.CANCELED, prompt="p")
    Clip.objects.create(owner=user, scene=ready_after_failure, status=JobStatus.FAILED, prompt="p")
    Clip.objects.create(owner=user, scene=ready_after_failure, status=JobStatus.SUCCEEDED, prompt="p")
    assert status.counts(status.project_states(project)) == {"generating": 1, "ready": 2, "failed": 2}
    page = alice_client.get(project.get_absolute_url()).content.decode()
    tag = page.split('<span id="counts"')[1].split(">")[0]
    assert 'hx-trigger="clip-finished from:body, scene-changed from:body"' in tag and 'hx-sync="this:replace"' in tag
    shown = re.search(r'\?shown=(\w+)"', tag).group(1)

    def ask(seen: str):
        return alice_client.get(project.get_absolute_url(), {"shown": seen}, HTTP_HX_REQUEST="true",
                                HTTP_HX_TARGET="counts")

    counts = " ".join(ask("older").content.decode().split())
    assert counts.startswith('<span id="counts"') and "<html" not in counts
    assert ">1 generating</span> <span class=\"badge badge-ok\">2 ready</span> <span class=\"badge badge-fail\">2 failed" in counts
    with CaptureQueriesContext(connection) as asked:
        assert ask(shown).status_code == 204
    assert len(asked.captured_queries) <= 5  # user, project, scenes, their rewrites, clips: not the whole page
    Clip.objects.filter(scene=generating, status=JobStatus.QUEUED).update(status=JobStatus.SUCCEEDED)
    finished = ask(shown)
    assert finished.status_code == 200 and ">0 generating<" in finished.content.decode()
    summary = status.poll_summary(project.pk)
    assert summary.scene_count == 6 and summary.latest_stitch_id is None and not summary.writing


def test_a_poll_for_a_scene_without_clips_answers_its_empty_card_and_stops(alice_client, user):
    project = written_project(user, scenes=2)
    scene = project.scenes.first()
    response = alice_client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 286 and response["HX-Retarget"] == f"#clip-{scene.pk}"
    assert "No clip yet." in response.content.decode()


def test_status_poll_of_someone_elses_rendering_clip_is_not_found(client, user, other_user):
    project = build(user, 1)
    scene = project.scenes.first()
    Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=30)
    client.force_login(other_user)
    response = client.get(f"/scenes/{scene.pk}/clip/status/", HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and b"progress" not in response.content

