"""Pages and their HTMX partials (server side)."""

from __future__ import annotations

import pytest

from mv import flavors, pipeline
from mv.models import AudioTrack, Clip, Project

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(user) -> Project:
    return pipeline.create_project(owner=user, video_description="A band on a rooftop", flavor=flavors.resolve("mv1"),
                                   number_of_scenes=2)


def test_create_page_lists_sections_in_order_with_configuration_collapsed(alice_client):
    html = alice_client.get("/create/").content.decode()
    order = [html.index(h) for h in ("Generation Mode", "Configuration", "Music Source", "Video Description",
                                     "Character &amp; Style")]
    assert order == sorted(order)
    assert '<details class="card collapsible" id="section-config">' in html
    for name in flavors.names():
        assert f'<option value="{name}"' in html


def test_create_submit_keeps_typed_text_on_error(alice_client):
    response = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "mv1",
                                                     "character_description": "a drummer", "video_description": ""})
    assert response.status_code == 200
    html = response.content.decode()
    assert "a drummer" in html and "This field is required" in html
    assert Project.objects.count() == 0


def test_create_submit_creates_a_project_and_goes_to_quick_gen(alice_client):
    response = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "mv1",
                                                     "video_description": "neon city", "audio_start": "0"})
    project = Project.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/quick-gen/{project.pk}/"
    assert project.config_flavor == "mv1"


def test_quick_gen_starts_the_run_once_and_reload_does_not_regenerate(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    clips = Clip.objects.filter(scene__project=project).count()
    assert clips == 2
    page = alice_client.get(f"/quick-gen/{project.pk}/")
    assert page.status_code == 200
    assert Clip.objects.filter(scene__project=project).count() == clips
    project.refresh_from_db()
    assert project.stitches.count() == 1


def test_another_users_project_is_a_404(client, other_user, project):
    client.force_login(other_user)
    assert client.get(f"/quick-gen/{project.pk}/").status_code == 404
    assert client.post(f"/quick-gen/{project.pk}/restitch/").status_code == 404


def test_flavor_change_is_saved_and_updates_the_input_data(alice_client, project):
    response = alice_client.post(f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "default"}, **HX)
    project.refresh_from_db()
    assert project.config_flavor == "default"
    html = response.content.decode()
    assert 'id="config-card"' in html and '<span id="input-flavor" hx-swap-oob="true">default</span>' in html
    assert "<html" not in html


def test_regenerate_with_lipsync_makes_a_lipsync_clip_and_restitches(alice_client, user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = pipeline.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=2, audio_track=track)
    alice_client.get(f"/quick-gen/{project.pk}/")
    scene = project.scenes.get(position=1)
    old = scene.current_clip
    response = alice_client.post(f"/scenes/{scene.pk}/regenerate/", {"lipsync": "on"}, **HX)
    assert response.status_code == 200
    scene.refresh_from_db()
    assert scene.current_clip.kind == "lipsync" and scene.current_clip.parent_id == old.pk
    assert (scene.current_clip.audio_start, scene.current_clip.audio_end) == (8.0, 16.0)
    latest = project.stitches.order_by("-created_at").first()
    assert latest.ordered_clips()[1].pk == scene.current_clip.pk
    assert str(scene.current_clip.pk) in response.content.decode()


def test_plain_regenerate_keeps_history_and_offers_the_old_clip(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    scene = project.scenes.get(position=0)
    old = scene.current_clip
    html = alice_client.post(f"/scenes/{scene.pk}/regenerate/", {}, **HX).content.decode()
    scene.refresh_from_db()
    assert scene.current_clip.parent_id == old.pk
    assert "Make current" in html
    alice_client.post(f"/clips/{old.pk}/make-current/", **HX)
    scene.refresh_from_db()
    assert scene.current_clip_id == old.pk


def test_clip_status_stops_polling_and_swaps_the_section_when_done(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    scene = project.scenes.first()
    response = alice_client.get(f"/scenes/{scene.pk}/clip/status/", **HX)
    assert response.status_code == 286
    assert response["HX-Retarget"] == f"#clip-{scene.pk}"
    assert 'hx-swap-oob="true"' in response.content.decode()


def test_scene_prompt_edit_is_saved(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    scene = project.scenes.first()
    html = alice_client.post(f"/scenes/{scene.pk}/prompt/", {"description": "new words", "negative_description": ""},
                             **HX).content.decode()
    scene.refresh_from_db()
    assert scene.description == "new words" and "Saved" in html


def test_views_reject_wrong_methods(alice_client, project):
    assert alice_client.get(f"/quick-gen/{project.pk}/restitch/").status_code == 405
    assert alice_client.post(f"/quick-gen/{project.pk}/").status_code == 405


def test_non_htmx_posts_redirect_back_to_the_page(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    response = alice_client.post(f"/quick-gen/{project.pk}/restitch/")
    assert response.status_code == 302 and response["Location"] == f"/quick-gen/{project.pk}/"


def test_audio_upload_partial_shows_the_track(alice_client, song_mp3):
    with open(song_mp3, "rb") as fh:
        html = alice_client.post("/create/audio/upload/", {"file": fh}, **HX).content.decode()
    track = AudioTrack.objects.get()
    assert f'value="{track.pk}"' in html and "<audio" in html and "Use another song" in html
    again = alice_client.get("/create/audio/", **HX).content.decode()
    assert 'id="id_file"' in again and str(track.pk) not in again


def test_polled_partials_stop_when_nothing_is_left_to_wait_for(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    scenes = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="scenes", **HX)
    assert scenes.status_code == 286 and 'id="scenes"' in scenes.content.decode()
    assert "<html" not in scenes.content.decode()
    full = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="full-video", **HX)
    assert full.status_code == 286 and "Download" in full.content.decode()
    scene = project.scenes.first()
    prompt = alice_client.get(f"/scenes/{scene.pk}/prompt/status/", **HX)
    assert prompt.status_code == 286 and f'id="prompt-{scene.pk}"' in prompt.content.decode()


def test_character_images_render_and_the_grid_stops_polling(alice_client):
    response = alice_client.post("/create/characters/", {"character_description": "a drummer", "config_flavor": "mv1"},
                                 **HX)
    html = response.content.decode()
    assert html.count('type="radio"') == 4 and "Option 4" in html
    ids = [line.split('value="')[1].split('"')[0] for line in html.splitlines() if 'name="image_ids"' in line]
    poll = alice_client.get("/create/characters/status/?" + "&".join(f"id={i}" for i in ids), **HX)
    assert poll.status_code == 286


def test_rewriting_one_scene_leaves_the_others(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    first, second = project.scenes.order_by("position")
    pipeline.update_scene_prompt(first, description="hand-written")
    pipeline.update_scene_prompt(second, description="also hand-written")
    alice_client.post(f"/scenes/{second.pk}/rewrite/", **HX)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.description == "hand-written" and second.description != "also hand-written"


def test_ad_creative_mode_writes_ad_scenes(alice_client, user):
    project = pipeline.create_project(owner=user, video_description="new running shoes", mode=Project.Mode.AD_CREATIVE,
                                      flavor=flavors.resolve("default"), number_of_scenes=1)
    alice_client.get(f"/quick-gen/{project.pk}/")
    assert "product ad creative" in project.scenes.get().description


def test_a_polled_section_never_starts_work(alice_client, project):
    response = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="scenes", **HX)
    project.refresh_from_db()
    assert response.status_code == 286 and not project.autorun_started
    assert Clip.objects.count() == 0
