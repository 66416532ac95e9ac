"""No page shows a UUID to a person outside a <details> disclosure (tests/uuids.py)."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors
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
