"""Director styles: presets beside the flavors, combinable with any of them, reaching the scene
writer and every clip prompt."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks

from mv import flavors, styles
from mv.checks import check_director_styles
from mv.models import Clip, Project, SceneWriting


def post(client, url, data):
    return client.post(url, json.dumps(data), content_type="application/json")


def test_at_least_six_styles_are_listed_with_a_description(alice_client):
    body = alice_client.get("/api/mv/get_director_styles").json()
    names = [s["name"] for s in body["styles"]]
    assert len(names) >= 6
    assert {"performance-documentary", "one-take-steadicam", "mtv-quick-cut", "dreamy-16mm", "neon-noir",
            "product-reveal"} <= set(names)
    assert all(s["description"].strip() for s in body["styles"])
    assert body["default"] is None


def test_the_styles_folder_is_not_a_flavor():
    assert "styles" not in flavors.names()


def test_a_non_default_style_reaches_the_scene_writer_and_every_clip_prompt(alice_client):
    response = post(alice_client, "/api/mv/create_scenes",
                    {"idea": "a night drive", "number_of_scenes": 2, "director_style": "neon-noir", "wait": 30})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["director_style"] == "neon-noir"
    style = styles.resolve("neon-noir")
    writing = SceneWriting.objects.get(project_id=body["project_id"], scene__isnull=True)
    assert style.values["lens_and_colour"] in writing.input["sent"]["prompt"]
    assert style.values["cutting"] in writing.input["sent"]["prompt"]

    scene_id = body["scenes"][0]["id"]
    clip = post(alice_client, "/api/mv/generate_video", {"prompt": "a car in the rain", "scene_id": scene_id})
    assert clip.status_code in (200, 202), clip.content
    prompt = Clip.objects.get(pk=clip.json()["video_id"]).prompt
    assert style.clip_text(used_in="test") in prompt


def test_without_a_style_the_writer_is_told_the_flavor_decides(alice_client):
    body = post(alice_client, "/api/mv/create_scenes", {"idea": "a night drive", "number_of_scenes": 1, "wait": 30}).json()
    writing = SceneWriting.objects.get(project_id=body["project_id"], scene__isnull=True)
    assert "none: follow the look and feel above" in writing.input["sent"]["prompt"]
    assert body["director_style"] is None


def test_a_template_without_the_placeholder_still_gets_the_style():
    from mv.providers.base import SceneRequest

    style = styles.resolve("dreamy-16mm").writer_text(used_in="test")
    request = SceneRequest(idea="x", character_description="", character_characteristics="", number_of_scenes=1,
                           video_type="", video_characteristics="", camera_angle="", director_style=style)
    assert request.prompt("Write {number_of_scenes} scene about {idea}.").endswith(style)
    assert request.prompt("Style: {director_style}") == f"Style: {style}"


def test_an_unknown_style_is_refused_with_the_list_and_nothing_is_made(alice_client):
    response = post(alice_client, "/api/mv/create_scenes", {"idea": "x", "director_style": "wes-anderson"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unknown_director_style"
    assert "neon-noir" in body["message"]
    assert Project.objects.count() == 0


def test_a_revision_changes_the_style_only_when_sent(alice_client):
    body = post(alice_client, "/api/mv/create_scenes",
                {"idea": "x", "number_of_scenes": 1, "director_style": "mtv-quick-cut", "wait": 30}).json()
    again = post(alice_client, "/api/mv/create_scenes",
                 {"idea": "y", "project_id": body["project_id"], "wait": 30}).json()
    assert again["director_style"] == "mtv-quick-cut"
    cleared = post(alice_client, "/api/mv/create_scenes",
                   {"idea": "y", "project_id": body["project_id"], "director_style": "", "wait": 30}).json()
    assert cleared["director_style"] is None


def test_the_project_page_changes_the_style_and_refuses_an_unknown_one(alice_client, user):
    project = Project.objects.create(owner=user, video_description="x")
    page = alice_client.get(f"/quick-gen/{project.pk}/")
    assert b'id="quick-director-style"' in page.content
    alice_client.post(f"/quick-gen/{project.pk}/style/", {"director_style": "neon-noir"}, HTTP_HX_REQUEST="true")
    project.refresh_from_db()
    assert project.director_style == "neon-noir"
    refused = alice_client.post(f"/quick-gen/{project.pk}/style/", {"director_style": "nope"}, HTTP_HX_REQUEST="true")
    assert "Choose one of the director styles" in refused.content.decode()
    project.refresh_from_db()
    assert project.director_style == "neon-noir"


def test_the_create_page_offers_the_styles_and_keeps_the_choice(alice_client):
    page = alice_client.get("/create/").content.decode()
    assert 'name="director_style"' in page and "Neon noir" in page
    response = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                    "director_style": "product-reveal",
                                                    "video_description": "a watch on a table"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Project.objects.get().director_style == "product-reveal"


def test_style_values_are_traced_in_debug_mode(caplog):
    with caplog.at_level(logging.DEBUG, logger="mv.styles"):
        styles.resolve("neon-noir").clip_text(used_in="mv.pipeline.rendering.request_clip: director style")
    assert any("director style=neon-noir" in r.getMessage() and "request_clip" in r.getMessage() for r in caplog.records)


def test_the_system_check_reports_a_broken_style_and_the_others_still_load(tmp_path: Path):
    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "good.yaml").write_text("\n".join(f"{key}: some text" for key in styles.FIELDS))
    (folder / "broken.yaml").write_text("description: only this\n")
    (folder / "bad-yaml.yaml").write_text("description: [unclosed\n")
    saved = styles.registry()
    try:
        styles.install(styles.load_registry(tmp_path))
        assert styles.names() == ["good"]
        errors = check_director_styles()
        assert {e.id for e in errors} == {"mv.E007"}
        text = " ".join(e.msg for e in errors)
        assert "broken.yaml" in text and "bad-yaml.yaml" in text and "camera" in text
    finally:
        styles.install(saved)
    assert not check_director_styles()
    assert not [m for m in checks.run_checks() if m.id == "mv.E007"]
    assert (Path(settings.MV_CONFIGS_DIR) / "styles").is_dir()


@pytest.mark.parametrize("name", ["../flavors", "UPPER", "x" * 65])
def test_style_names_outside_the_list_are_unknown(name):
    with pytest.raises(styles.UnknownStyle):
        styles.resolve(name)
