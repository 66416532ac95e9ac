"""The timeline edits through the JSON API (mv.timeline_api): the page's edits, owner only,
plain JSON errors for bad input."""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client

from mv.auth import create_key
from mv.models import AudioTrack, Clip, Scene, Stitch, StitchItem
from tests.factories import finished_clip, written_project

BEATS = [1.3, 2.9, 4.6, 7.1, 9.0, 11.5]


@pytest.fixture
def track(user):
    return AudioTrack.objects.create(owner=user, title="song", original="audio/original/x.mp3", duration=40.0,
                                     analysis={"beats": BEATS})


@pytest.fixture
def project(user, track):
    """Three 8 s scenes from 0 s, each with a fitting clip, stitched."""
    project = written_project(user, scenes=3, audio_track=track, video_description="Rooftop concert")
    clips = [finished_clip(scene) for scene in project.scenes.order_by("position")]
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(file="clips/stored.mp4")
    stitch = Stitch.objects.create(owner=user, project=project, status="succeeded", num_clips=3)
    StitchItem.objects.bulk_create(StitchItem(stitch=stitch, clip=c, position=i) for i, c in enumerate(clips))
    return project


@pytest.fixture
def api(user):
    """Alice's own API key (no session)."""
    _, key = create_key(user, "tests")
    client = Client(HTTP_X_API_KEY=key)
    return client


def post(client, url, data=None):
    return client.post(url, json.dumps(data or {}), content_type="application/json")


def scene(project, position: int) -> Scene:
    return project.scenes.get(position=position)


def slots(project) -> list[tuple[float, float]]:
    return [(s.start, s.end) for s in project.scenes.order_by("position")]


def test_splitting_at_a_time_cuts_at_the_nearest_beat_and_answers_the_project_and_the_new_scene(api, project):
    first = scene(project, 0)
    response = post(api, f"/api/mv/scenes/{first.pk}/split", {"at": 3.5})
    assert response.status_code == 201
    body = response.json()
    assert slots(project) == [(0.0, 2.9), (2.9, 8.0), (8.0, 16.0), (16.0, 24.0)]
    assert body["scene"] == scene(project, 1).to_dict() and body["scene"]["start"] == 2.9
    assert [s["position"] for s in body["scenes"]] == [0, 1, 2, 3] and body["project_id"] == str(project.pk)
    # The first scene's 8 s clip still covers its 2.9 s; the new half has no clip.
    assert body["scenes_to_render"] == [body["scene"]["id"]]


def test_duplicating_a_scene_puts_a_copy_after_it(api, project):
    second = scene(project, 1)
    body = post(api, f"/api/mv/scenes/{second.pk}/duplicate").json()
    assert body["scene"]["position"] == 2 and body["scene"]["description"] == "scene 2"
    assert slots(project) == [(0.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 24.0)]  # its slot, split
    assert body["scenes_to_render"] == [body["scene"]["id"]]


def test_deleting_a_scene_keeps_its_clips_and_gives_its_time_to_the_one_before(api, project):
    middle = scene(project, 1)
    clip_id = middle.current_clip_id
    response = post(api, f"/api/mv/scenes/{middle.pk}/delete")
    assert response.status_code == 200
    assert [s["description"] for s in response.json()["scenes"]] == ["scene 1", "scene 3"]
    assert slots(project) == [(0.0, 16.0), (16.0, 24.0)]
    assert Clip.objects.filter(pk=clip_id, scene__isnull=True).exists()


def test_reordering_moves_a_scene_and_keeps_every_length(api, project):
    third = scene(project, 2)
    body = post(api, f"/api/mv/scenes/{third.pk}/move", {"position": 0}).json()
    assert [s["description"] for s in body["scenes"]] == ["scene 3", "scene 1", "scene 2"]
    assert body["scenes_to_render"] == []  # each clip still fits its (moved) slot
    assert Stitch.objects.count() == 2  # re-stitched in the new order at once


def test_moving_a_boundary_snaps_it_to_a_beat_and_names_the_scene_its_clip_no_longer_covers(api, project):
    second = scene(project, 1)
    Clip.objects.filter(pk=second.current_clip_id).update(duration=6.0)  # a 6 s clip in its 8 s slot
    body = post(api, f"/api/mv/scenes/{second.pk}/boundary", {"start": 8.8}).json()
    assert slots(project)[:2] == [(0.0, 9.0), (9.0, 16.0)]
    assert [s["end"] for s in body["scenes"]][:1] == [9.0]
    assert body["scenes_to_render"] == [str(second.pk)]  # 7 s now: its 6 s clip does not cover it
    body = post(api, f"/api/mv/scenes/{second.pk}/boundary", {"start": 11.5}).json()
    assert body["scenes_to_render"] == []  # 4.5 s: covered (the first scene's 11.5 s is as long as clips go)


def test_after_a_boundary_move_the_page_says_the_full_video_is_older_and_counts_what_the_api_names(
        api, alice_client, project):
    Clip.objects.filter(scene__project=project).update(duration=6.0)  # 6 s clips in 6 s scenes, stitched so
    for each in project.scenes.all():
        Scene.objects.filter(pk=each.pk).update(start=6.0 * each.position, end=6.0 * (each.position + 1))
    StitchItem.objects.update(length=6.0)
    assert "Older than the scenes" not in alice_client.get(project.get_absolute_url()).content.decode()
    body = post(api, f"/api/mv/scenes/{scene(project, 2).pk}/boundary", {"start": 11.5}).json()
    assert body["scenes_to_render"] == [str(scene(project, 2).pk)]  # 6-11.5 s still covered; 11.5-18 s not
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Older than the scenes" in html and 'id="video-stale"' in html
    assert f"{len(body['scenes_to_render'])} scene needs a new clip" in html


def test_bringing_up_to_date_renders_what_is_out_of_date_and_then_says_it_is(api, project):
    post(api, f"/api/mv/scenes/{scene(project, 0).pk}/split")
    response = post(api, f"/api/mv/projects/{project.pk}/bring_up_to_date", {"wait": 60})
    assert response.status_code == 200  # rendered in-process on the local provider
    body = response.json()
    assert len(body["video_ids"]) == 1 and body["scenes_to_render"] == []
    assert body["latest_stitch"]["metadata"]["num_videos_stitched"] == 4
    again = post(api, f"/api/mv/projects/{project.pk}/bring_up_to_date")
    assert again.status_code == 400 and again.json()["error"] == "up_to_date"


def test_the_api_edits_as_the_page_does(alice_client, api, user, track):
    by_page, by_api = (written_project(user, scenes=3, audio_track=track) for _ in range(2))
    alice_client.post(f"/scenes/{scene(by_page, 0).pk}/split/", {"at": "5"})
    post(api, f"/api/mv/scenes/{scene(by_api, 0).pk}/split", {"at": 5})
    alice_client.post(f"/scenes/{scene(by_page, 3).pk}/move/", {"to": "1"})  # the page counts places from 1
    post(api, f"/api/mv/scenes/{scene(by_api, 3).pk}/move", {"position": 0})
    alice_client.post(f"/scenes/{scene(by_page, 2).pk}/boundary/", {"start": "11"})
    post(api, f"/api/mv/scenes/{scene(by_api, 2).pk}/boundary", {"start": 11})
    assert slots(by_page) == slots(by_api)
    assert [s.description for s in by_page.scenes.order_by("position")] == \
        [s.description for s in by_api.scenes.order_by("position")]


def test_a_session_works_too(alice_client, project):
    response = post(alice_client, f"/api/mv/scenes/{scene(project, 0).pk}/duplicate")
    assert response.status_code == 201


@pytest.mark.parametrize(("action", "body"), [
    ("split", {"at": 3}), ("duplicate", {}), ("delete", {}), ("move", {"position": 0}), ("boundary", {"start": 9}),
])
def test_another_users_scene_is_a_404_and_stays_as_it_was(project, other_user, action, body):
    _, key = create_key(other_user)
    before = slots(project)
    response = post(Client(HTTP_X_API_KEY=key), f"/api/mv/scenes/{scene(project, 1).pk}/{action}", body)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert slots(project) == before


def test_another_users_project_is_a_404(project, other_user):
    _, key = create_key(other_user)
    post(Client(HTTP_X_API_KEY=key), f"/api/mv/scenes/{scene(project, 0).pk}/split")
    response = post(Client(HTTP_X_API_KEY=key), f"/api/mv/projects/{project.pk}/bring_up_to_date")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert response.json()["message"] == "No such item (or it is not yours)."


def test_an_unknown_scene_is_a_404(api, project):
    response = post(api, f"/api/mv/scenes/{uuid.uuid4()}/split")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.parametrize(("action", "body", "field"), [
    ("split", {"at": "middle"}, "at"),
    ("split", {"at": -1}, "at"),
    ("move", {}, "position"),
    ("move", {"position": 1.5}, "position"),
    ("move", {"position": -1}, "position"),
    ("move", {"position": True}, "position"),
    ("boundary", {}, "start"),
    ("boundary", {"start": [9]}, "start"),
    ("boundary", {"start": "NaN"}, "start"),
])
def test_bad_input_is_a_400_naming_the_field(api, project, action, body, field):
    before = slots(project)
    response = post(api, f"/api/mv/scenes/{scene(project, 1).pk}/{action}", body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["error"] == "validation_error" and list(answer["details"]) == [field]
    assert slots(project) == before


@pytest.mark.parametrize(("action", "body", "code", "message"), [
    ("move", {"position": 3}, "bad_position", "position must be between 0 and 2."),  # three scenes
    ("boundary", {"start": 2}, "first_scene", "The first scene starts where the song starts; move the song's start instead."),
])
def test_an_edit_that_cannot_be_made_is_a_400_saying_why(api, project, action, body, code, message):
    before = slots(project)
    response = post(api, f"/api/mv/scenes/{scene(project, 0).pk}/{action}", body)
    assert response.status_code == 400 and response.json()["error"] == code
    assert response.json()["message"] == message
    assert slots(project) == before


def test_the_last_scene_cannot_be_deleted_and_a_song_less_scene_cannot_be_split(api, user):
    lone = written_project(user, scenes=1)
    delete = post(api, f"/api/mv/scenes/{scene(lone, 0).pk}/delete")
    assert delete.status_code == 400 and delete.json()["error"] == "last_scene"
    split = post(api, f"/api/mv/scenes/{scene(lone, 0).pk}/split")
    assert split.status_code == 400 and split.json()["error"] == "no_song"
    assert lone.scenes.count() == 1


def test_a_body_that_is_not_a_json_object_is_a_400(api, project):
    url = f"/api/mv/scenes/{scene(project, 0).pk}/duplicate"
    for raw in ("[1, 2]", "{not json"):
        response = api.post(url, raw, content_type="application/json")
        assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    assert project.scenes.count() == 3


def test_edits_need_auth_and_post(client, api, project):
    url = f"/api/mv/scenes/{scene(project, 0).pk}/split"
    assert post(client, url).status_code == 401
    assert api.get(url).status_code == 405 and api.get(url).json()["error"] == "method_not_allowed"
    assert project.scenes.count() == 3
