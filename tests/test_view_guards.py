"""Every route, page or API, answers the wrong method with 405 and an unknown id with 404,
whoever asks; ids of rows that are not yours are as unknown as made-up ones. Routes are read
from the URL configuration, so a new view is covered the day it is added."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, get_resolver

from mv.models import AudioTrack, Character, Project, SongGeneration, StartFrame
from tests.factories import finished_clip, written_project

UNUSED_METHODS = ("PUT", "DELETE", "PATCH")


def routes() -> list[tuple[str, str]]:
    """(name, route) of every named route of our own views (pages and API; the admin has its own
    guards), converters left in."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLPattern):
                if pattern.name and pattern.callback.__module__.startswith("mv.") and not prefix.startswith("/admin"):
                    found.append((pattern.name, prefix + str(pattern.pattern)))
            else:
                walk(pattern.url_patterns, prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "/")
    return sorted(set(found))


def fill(route: str, value: uuid.UUID | str) -> str:
    return re.sub(r"<uuid:\w+>", str(value), route)


@pytest.mark.parametrize(("name", "route"), routes())
def test_every_route_refuses_methods_it_does_not_take(alice_client, name, route):
    url = fill(route, uuid.uuid4())
    for method in UNUSED_METHODS:
        response = alice_client.generic(method, url)
        assert response.status_code == 405, (name, method, response.status_code)


@pytest.mark.parametrize(("name", "route"), [r for r in routes() if "<uuid:" in r[1]])
def test_every_route_with_an_id_answers_an_unknown_id_with_404(alice_client, name, route):
    url = fill(route, uuid.uuid4())
    statuses = {method: alice_client.generic(method, url).status_code for method in ("GET", "POST")}
    assert 404 in statuses.values() and set(statuses.values()) <= {404, 405}, (name, statuses)


@pytest.mark.parametrize(("name", "route"), [r for r in routes() if "<uuid:" in r[1]])
def test_every_route_with_an_id_answers_another_users_id_with_404(alice_client, other_user, name, route):
    track = AudioTrack.objects.create(owner=other_user, original="audio/original/x.mp3", duration=20.0)
    project = written_project(other_user, scenes=1, audio_track=track)
    scene = project.scenes.get()
    clip = finished_clip(scene)
    character = Character.objects.create(owner=other_user, name="theirs")
    frame = StartFrame.objects.create(owner=other_user, scene=scene, prompt="p", aspect_ratio="9:16",
                                      status="succeeded", file="frames/theirs.png")
    song = SongGeneration.objects.create(track=track, provider="local", prompt="their song", duration=20.0)
    owner_of = {"project": project.pk, "scene": scene.pk, "clip": clip.pk, "video": clip.pk, "audio": track.pk,
                "image": uuid.uuid4(), "character": character.pk, "frame": frame.pk, "song": song.pk}
    kind = _kind(name, route)
    url = fill(route, owner_of[kind])
    statuses = {method: alice_client.generic(method, url).status_code for method in ("GET", "POST")}
    assert 404 in statuses.values() and set(statuses.values()) <= {404, 405}, (name, kind, statuses)
    assert Project.objects.get(pk=project.pk).config_flavor == "default"  # nothing of theirs changed
    assert Character.objects.get(pk=character.pk).name == "theirs"


def _kind(name: str, route: str) -> str:
    """Which of the other user's rows a route's id names."""
    converter = re.search(r"<uuid:(\w+)>", route).group(1)
    if converter != "pk":
        return {"project_id": "project", "scene_id": "scene", "video_id": "video", "audio_id": "audio",
                "image_id": "image", "character_id": "character", "frame_id": "frame", "song_id": "song"}[converter]
    first = route.strip("/").split("/")[0]
    return {"quick-gen": "project", "projects": "project", "scenes": "scene", "clips": "clip", "songs": "audio",
            "characters": "character"}[first]
