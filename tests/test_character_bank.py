"""The character bank: a character saved once (from a generated reference image or an uploaded
picture) is listed, cast in several projects, and projects keep their copy when it changes."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from mv.models import Character, CharacterImage, Project
from tests import factories
from tests.fakes.media import fake_image


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def _generated(client) -> dict:
    response = post(client, "/api/mv/generate_character_reference",
                    {"character_description": "a drummer in a red jacket", "num_images": 2, "wait": 60})
    assert response.status_code == 200
    return response.json()["images"][0]


def _png(tmp_path) -> bytes:
    return fake_image(tmp_path, "png")


def test_a_character_saved_from_a_generated_image_is_listed_and_used_by_two_projects(alice_client):
    image = _generated(alice_client)
    response = post(alice_client, "/api/mv/characters",
                    {"name": "Red", "description": "a drummer in a red jacket", "reference_image_id": image["id"]})
    assert response.status_code == 201
    body = response.json()
    assert set(body) >= {"character_id", "name", "description", "reference_image_url"}
    assert body["name"] == "Red" and body["reference_image_url"] == image["image_url"]
    listed = alice_client.get("/api/mv/characters").json()["characters"]
    assert [c["character_id"] for c in listed] == [body["character_id"]]
    for idea in ("rooftop concert", "desert road trip"):
        made = post(alice_client, "/api/mv/create_scenes",
                    {"idea": idea, "character_id": body["character_id"], "wait": 60})
        assert made.status_code == 200, made.content
        assert made.json()["character_id"] == body["character_id"]
        assert made.json()["reference_image_id"] == image["id"]
        assert made.json()["character_description"] == "a drummer in a red jacket"
    assert Project.objects.filter(character_id=body["character_id"]).count() == 2


def test_a_character_from_an_uploaded_picture(alice_client, tmp_path):
    upload = SimpleUploadedFile("me.png", _png(tmp_path), "image/png")
    response = alice_client.post("/api/mv/characters", {"name": "Me", "description": "the singer", "file": upload})
    assert response.status_code == 201, response.content
    body = response.json()
    picture = alice_client.get(body["reference_image_url"])
    assert picture.status_code == 200 and b"".join(picture.streaming_content).startswith(b"\x89PNG")
    image = CharacterImage.objects.get(pk=body["reference_image_id"])
    assert image.provider == "upload" and image.cost_usd is None  # nothing was paid for it


def test_an_upload_that_is_not_a_real_picture_is_refused_and_nothing_is_kept(alice_client, tmp_path):
    fake = SimpleUploadedFile("me.png", b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 20, "image/png")
    response = alice_client.post("/api/mv/characters", {"name": "Me", "file": fake})
    assert response.status_code == 400 and response.json()["error"] == "not_image"
    assert "PNG, JPEG or WebP" in response.json()["message"]
    text = SimpleUploadedFile("me.png", b"hello", "image/png")
    assert alice_client.post("/api/mv/characters", {"name": "Me", "file": text}).status_code == 400
    assert not Character.objects.exists() and not CharacterImage.objects.exists()


def test_an_oversized_picture_is_refused(alice_client, settings, tmp_path):
    settings.MV_MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.png", _png(tmp_path) + b"\0" * (2 * 1024 * 1024), "image/png")
    response = alice_client.post("/api/mv/characters", {"name": "Big", "file": big})
    assert response.status_code == 413, response.content and not Character.objects.exists()


def test_bad_character_requests_say_what_is_wrong(alice_client, client, other_user):
    assert post(alice_client, "/api/mv/characters", {"name": "x"}).json()["error"] == "validation_error"
    assert post(alice_client, "/api/mv/characters", {"reference_image_id": "not-an-id", "name": "x"}).status_code == 400
    image = _generated(alice_client)
    client.force_login(other_user)
    assert post(client, "/api/mv/characters", {"name": "x", "reference_image_id": image["id"]}).status_code == 404
    assert client.get("/api/mv/characters").json() == {"characters": []}
    unknown = post(alice_client, "/api/mv/create_scenes", {"idea": "x", "character_id": image["id"]})
    assert unknown.status_code == 404


def test_renaming_repicking_or_deleting_a_character_leaves_projects_their_copy(alice_client, user, tmp_path):
    first = _generated(alice_client)
    body = post(alice_client, "/api/mv/characters", {"name": "Red", "reference_image_id": first["id"]}).json()
    made = post(alice_client, "/api/mv/create_scenes", {"idea": "gig", "character_id": body["character_id"]}).json()
    url = f"/api/mv/characters/{body['character_id']}"
    other = post(alice_client, url, {})  # nothing asked: nothing changes
    assert other.status_code == 200 and other.json()["name"] == "Red"
    second = CharacterImage.objects.create(owner=user, description="x", provider="upload", status="succeeded",
                                           character_id=body["character_id"], file="images/x.png")
    changed = post(alice_client, url, {"name": "Crimson", "reference_image_id": str(second.pk)}).json()
    assert changed["name"] == "Crimson" and changed["reference_image_id"] == str(second.pk)
    assert post(alice_client, f"{url}/delete", {}).json()["deleted"] is True
    project = Project.objects.get(pk=made["project_id"])
    assert project.character_id is None  # gone from the bank
    assert str(project.character_image_id) == first["id"] and project.character_description == "a drummer in a red jacket"
    assert CharacterImage.objects.filter(pk=first["id"]).exists()


def test_a_project_duplicate_keeps_the_character(user, alice_client):
    from mv.pipeline import projects

    image = _generated(alice_client)
    body = post(alice_client, "/api/mv/characters", {"name": "Red", "reference_image_id": image["id"]}).json()
    project = factories.written_project(user, scenes=1, character_id=body["character_id"])
    assert str(projects.duplicate_project(project).character_id) == body["character_id"]
