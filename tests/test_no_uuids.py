"""No page shows a UUID to a person outside a <details> disclosure (tests/uuids.py)."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors
from mv.models import Clip
from mv.pipeline import characters, projects

from .uuids import assert_no_visible_uuids, visible_text, visible_uuids

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def track(user, song_mp3):
    return audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))


@pytest.fixture
def finished_project(user, track):
    """Every kind of id a page could show: song, reference image, clips, a stitch."""
    (image,) = characters.request_character_images(owner=user, flavor=flavors.resolve("default"), description="a fox",
                                                num_images=1)
    project = projects.create_project(owner=user, video_description="A fox in the snow", flavor=flavors.resolve("default"),
                                      number_of_scenes=2, audio_track=track, song_end=16.0, character_image=image)
    projects.start_project(project)
    return project


def test_the_check_finds_ids_in_text_but_not_in_attributes_disclosures_or_scripts():
    an_id = str(uuid.uuid4())
    assert visible_uuids(f"<p>clip {an_id}</p>") == [an_id]
    assert visible_uuids(f'<p class="sr-only">{an_id}</p>') == [an_id]  # read aloud is shown too
    assert visible_uuids(f"<details><summary>id {an_id}</summary></details>") == [an_id]  # a summary is visible
    assert visible_uuids(f'<input type="text" value="{an_id}">') == [an_id]
    assert visible_uuids(f"<p>file {uuid.UUID(an_id).hex}.mp4</p>") == [uuid.UUID(an_id).hex]
    hidden = (f'<a href="/x/{an_id}/" data-id="{an_id}">open</a><input type="hidden" value="{an_id}">'
              f"<details><summary>Details</summary><p>id {an_id}</p><details><summary>{an_id}</summary></details>"
              f"</details><script>var a = '{an_id}';</script><template><p>{an_id}</p></template>")
    assert visible_uuids(hidden) == []
    assert visible_text(hidden) == "open Details"
    with pytest.raises(AssertionError, match="outside a <details> disclosure"):
        assert_no_visible_uuids(f"<main><p>id {an_id}</p></main>")


def test_the_project_list_shows_no_ids(alice_client, finished_project):
    html = alice_client.get("/").content.decode()
    assert finished_project.title in html
    assert_no_visible_uuids(html, "the project list")


def test_the_create_page_shows_no_ids_with_a_song_and_reference_images_chosen(alice_client, user, track):
    assert_no_visible_uuids(alice_client.get("/create/").content.decode(), "the empty create page")
    images = characters.request_character_images(owner=user, flavor=flavors.resolve("default"), description="a fox",
                                               num_images=2)
    picked = alice_client.post("/create/audio/upload/", {"file": SimpleUploadedFile("song.mp3", track.original.read())},
                               **HX).content.decode()
    assert 'class="track-title"' in picked
    assert_no_visible_uuids(picked, "the chosen song")
    again = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                  "audio_track_id": str(track.pk), "audio_start": "0",
                                                  "image_ids": [str(i.pk) for i in images],
                                                  "character_image_id": str(images[0].pk), "video_description": ""})
    html = again.content.decode()
    assert again.status_code == 200 and "Option 2" in html and 'class="track-title"' in html
    assert_no_visible_uuids(html, "the create page after an error")


def test_error_pages_show_no_ids(alice_client):
    assert_no_visible_uuids(alice_client.get(f"/quick-gen/{uuid.uuid4()}/").content.decode(), "the 404 page")


def test_the_project_page_shows_no_ids(alice_client, finished_project):
    html = alice_client.get(f"/quick-gen/{finished_project.pk}/").content.decode()
    assert 'id="full-video-player"' in html
    assert_no_visible_uuids(html, "the project page")


def test_the_project_pages_parts_show_no_ids_as_they_change(alice_client, finished_project):
    """What htmx swaps into the page: the studio after a timeline edit, a finished clip's poll
    answer, the Full Video section, a failed attempt's message; and the delete confirmation."""
    first, second = finished_project.scenes.order_by("position")
    studio = alice_client.post(f"/scenes/{first.pk}/split/", {"at": ""}, **HX).content.decode()
    assert 'id="place-2"' in studio and 'id="timeline"' in studio and "Bring the video up to date" in studio
    assert_no_visible_uuids(studio, "the parts a split swaps")
    Clip.objects.create(owner=finished_project.owner, scene=second, status="failed", prompt="p",
                        error="The model refused the prompt.")
    poll = alice_client.get(f"/scenes/{second.pk}/clip/status/", **HX).content.decode()
    assert "The last attempt failed" in poll
    assert_no_visible_uuids(poll, "a finished clip's poll answer")
    full = alice_client.get(f"/quick-gen/{finished_project.pk}/", HTTP_HX_TARGET="full-video", **HX).content.decode()
    assert 'id="full-video-player"' in full
    assert_no_visible_uuids(full, "the Full Video section")
    page = alice_client.get(f"/quick-gen/{finished_project.pk}/").content.decode()
    assert "1 scene needs a new clip" in page and "The last attempt failed" in page
    assert_no_visible_uuids(page, "the project page after an edit and a failure")
    confirm = alice_client.get(f"/quick-gen/{finished_project.pk}/delete/").content.decode()
    assert finished_project.title in confirm
    assert_no_visible_uuids(confirm, "the delete confirmation")


def test_the_song_card_shows_no_ids(alice_client, track):
    status = alice_client.get(f"/songs/{track.pk}/status/", **HX).content.decode()
    assert 'class="song-status"' in status
    assert_no_visible_uuids(status, "the song's status line")
    pasted = alice_client.post(f"/songs/{track.pk}/lyrics/", {"lyrics": "first line\nsecond line"}, **HX)
    assert 'class="song-card"' in pasted.content.decode()
    assert_no_visible_uuids(pasted.content.decode(), "the song card with pasted lyrics")
    refused = alice_client.post(f"/songs/{track.pk}/lyrics/", {"lyrics": "[99:00.00] past the end"}, **HX)
    assert 'class="field-error"' in refused.content.decode()
    assert_no_visible_uuids(refused.content.decode(), "the song card with refused lyrics")


def test_the_403_page_shows_no_ids(user, track):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/create/submit/", {"audio_track_id": str(track.pk), "video_description": "x"})
    assert response.status_code == 403
    assert_no_visible_uuids(response.content.decode(), "the 403 page")


@pytest.mark.urls("tests.error_urls")
def test_the_500_page_and_an_unknown_page_show_no_ids(alice_client):
    from django.test import Client

    crash = Client(raise_request_exception=False).get("/boom/")
    assert crash.status_code == 500
    assert_no_visible_uuids(crash.content.decode(), "the 500 page")
    unknown = alice_client.get(f"/songs/{uuid.uuid4()}/status/")
    assert unknown.status_code == 404
    assert_no_visible_uuids(unknown.content.decode(), "the 404 page of an unknown song")
