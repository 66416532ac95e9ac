"""The Characters page and the character selects on the create page and the project page."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from mv.models import Character, CharacterImage, JobStatus, Project
from mv.pipeline import characters
from tests import factories
from tests.fakes.media import fake_image

HX = {"HTTP_HX_REQUEST": "true"}


def _saved(user, tmp_path, name: str = "Red") -> Character:
    upload = SimpleUploadedFile("red.png", fake_image(tmp_path, "png"), "image/png")
    return characters.save_character(user, name=name, description="a drummer in a red jacket", upload=upload)


def test_a_character_is_made_from_an_uploaded_picture_on_the_page(alice_client, tmp_path):
    upload = SimpleUploadedFile("me.png", fake_image(tmp_path, "png"), "image/png")
    response = alice_client.post("/characters/new/", {"name": "Me", "description": "the singer", "file": upload})
    assert response.status_code == 302
    character = Character.objects.get()
    assert character.name == "Me" and character.image.file
    page = alice_client.get("/characters/").content.decode()
    assert "Me" in page and "Chosen" in page


def test_a_character_without_a_picture_gets_four_generated_to_pick_from(alice_client):
    alice_client.post("/characters/new/", {"name": "Blue", "description": "a bassist in blue"})
    character = Character.objects.get()
    pictures = character.pictures()
    assert len(pictures) == 4 and all(p.status == JobStatus.SUCCEEDED for p in pictures)  # rendered locally
    assert character.ready_image() == pictures[0]  # until one is picked
    alice_client.post(f"/characters/{character.pk}/pictures/", {"image_id": str(pictures[2].pk)}, **HX)
    character.refresh_from_db()
    assert character.image == pictures[2]


def test_a_bad_new_character_is_refused_with_a_message_and_nothing_saved(alice_client):
    page = alice_client.post("/characters/new/", {"name": "Nobody"}).content.decode()
    assert "Upload a picture, or describe the character" in page
    fake = SimpleUploadedFile("x.png", b"not an image", "image/png")
    page = alice_client.post("/characters/new/", {"name": "Fake", "file": fake}).content.decode()
    assert "PNG, JPEG or WebP" in page
    assert not Character.objects.exists()


def test_rename_and_delete_on_the_page_keep_projects_their_copy(alice_client, user, tmp_path):
    character = _saved(user, tmp_path)
    project = factories.written_project(user, scenes=1)
    characters.cast_character(project, character)
    response = alice_client.post(f"/characters/{character.pk}/rename/", {"name": "Crimson", "description": "new"}, **HX)
    assert "Crimson" in response.content.decode()
    alice_client.post(f"/characters/{character.pk}/delete/", **HX)
    assert not Character.objects.exists()
    project.refresh_from_db()
    assert project.character_description == "a drummer in a red jacket" and project.character_image.file


def test_another_users_character_is_not_found(client, other_user, user, tmp_path):
    character = _saved(user, tmp_path)
    client.force_login(other_user)
    assert client.post(f"/characters/{character.pk}/rename/", {"name": "Mine"}).status_code == 404
    assert client.post(f"/characters/{character.pk}/delete/").status_code == 404
    assert client.get(f"/characters/{character.pk}/pictures/status/").status_code == 404
    assert "Red" not in client.get("/characters/").content.decode()


def test_the_create_page_casts_a_saved_character(alice_client, user, tmp_path):
    character = _saved(user, tmp_path)
    page = alice_client.get("/create/").content.decode()
    assert 'name="character_id"' in page and f'value="{character.pk}"' in page
    response = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                     "video_description": "a gig", "character_id": str(character.pk),
                                                     "aspect_ratio": "16:9"})
    assert response.status_code == 302
    project = Project.objects.get()
    assert project.character == character and project.character_image == character.image
    assert project.character_description == "a drummer in a red jacket"


def test_the_project_page_changes_its_character(alice_client, user, tmp_path):
    character = _saved(user, tmp_path)
    project = factories.written_project(user, scenes=1)
    assert "None (this project" in alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    response = alice_client.post(f"/quick-gen/{project.pk}/character/", {"character_id": str(character.pk)}, **HX)
    assert response.status_code == 200 and "a drummer in a red jacket" in response.content.decode()
    project.refresh_from_db()
    assert project.character == character and project.character_image == character.image


def test_a_character_still_rendering_cannot_be_cast_yet(alice_client, user):
    character = Character.objects.create(owner=user, name="Soon", description="x")
    CharacterImage.objects.create(owner=user, description="x", character=character, status=JobStatus.QUEUED)
    project = factories.written_project(user, scenes=1)
    response = alice_client.post(f"/quick-gen/{project.pk}/character/", {"character_id": str(character.pk)}, **HX)
    assert "no finished picture yet" in response.content.decode()
    project.refresh_from_db()
    assert project.character is None


def test_a_characters_pictures_poll_swaps_only_its_grid_and_only_when_a_picture_changes(alice_client, user,
                                                                                       tmp_path):
    """While a picture renders only that character's grid polls (a name being typed in its
    card stays), and an unchanged answer is a 204: a click on "Use this one" is never
    swallowed by a swap under the pointer."""
    character = _saved(user, tmp_path)
    pending = CharacterImage.objects.create(owner=user, description="x", character=character, status=JobStatus.QUEUED)
    page = alice_client.get("/characters/").content.decode()
    assert '<section id="character-list">' in page  # the list itself never polls
    url = f"/characters/{character.pk}/pictures/status/"
    shown = re.search(rf'<fieldset class="image-grid" id="pictures-{character.pk}" hx-get="{url}\?shown=(\w+)"',
                      page).group(1)
    pending.status = JobStatus.RUNNING  # looks the same
    pending.save(update_fields=["status"])
    same = alice_client.get(f"{url}?shown={shown}", **HX)
    assert same.status_code == 204 and same.content == b""
    pending.status = JobStatus.FAILED
    pending.save(update_fields=["status"])
    changed = alice_client.get(f"{url}?shown={shown}", **HX)
    html = changed.content.decode()
    assert changed.status_code == 286 and "Picture 2 failed" in html
    assert html.strip().startswith(f'<fieldset class="image-grid" id="pictures-{character.pk}"') and "Rename" not in html
    assert alice_client.get(f"/characters/{character.pk}/pictures/status/", **HX).status_code == 286
