"""Pages and their HTMX partials (server side)."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from mv import flavors
from mv.models import AudioTrack, CharacterImage, Clip, JobStatus, Project, SceneWriting, Stitch
from mv.pipeline import projects, stitching
from tests.factories import rendered_project

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(user, clip_mp4) -> Project:
    """A project as its automatic run leaves it (scenes, a clip each, stitched), built directly:
    these tests are about the pages, not the rendering."""
    return rendered_project(user, clip_mp4, scenes=2, flavor="mv1", video_description="A band on a rooftop")


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


def test_opening_a_project_page_never_starts_paid_work(alice_client, user):
    unstarted = projects.create_project(owner=user, video_description="a link someone sent",
                                        flavor=flavors.resolve("mv1"), number_of_scenes=2)
    for _ in range(2):
        assert alice_client.get(f"/quick-gen/{unstarted.pk}/").status_code == 200
    assert not unstarted.writings.exists() and not Clip.objects.filter(scene__project=unstarted).exists()


def test_the_create_submit_starts_the_run_once_and_reload_does_not_regenerate(alice_client):
    alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "mv1", "video_description": "neon",
                                          "audio_start": "0", "number_of_scenes": "2"})
    project = Project.objects.get()
    assert Clip.objects.filter(scene__project=project).count() == 2
    assert alice_client.get(f"/quick-gen/{project.pk}/").status_code == 200
    assert not projects.start_project(project)  # a second submit of the same project starts nothing
    assert Clip.objects.filter(scene__project=project).count() == 2 and project.writings.count() == 1
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


def test_an_unknown_flavor_is_refused_next_to_the_picker(alice_client, project):
    response = alice_client.post(f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "no-such-flavor"}, **HX)
    project.refresh_from_db()
    assert project.config_flavor == "mv1"
    assert 'role="alert">Choose one of the config flavors in the list.</p>' in response.content.decode()


def test_regenerate_with_lipsync_makes_a_lipsync_clip_and_restitches(alice_client, user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=2, audio_track=track, song_end=16.0)
    projects.start_project(project)
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
    scene = project.scenes.first()
    response = alice_client.get(f"/scenes/{scene.pk}/clip/status/", **HX)
    assert response.status_code == 286
    assert response["HX-Retarget"] == f"#clip-{scene.pk}"
    assert 'hx-swap-oob="true"' in response.content.decode()


def test_pages_check_on_running_work_as_often_as_configured(alice_client, project, settings):
    settings.MV_PAGE_POLL_SECONDS = 0.5
    scene = project.scenes.first()
    Clip.objects.create(owner=project.owner, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=40)
    card = alice_client.get(f"/scenes/{scene.pk}/clip/status/", **HX).content.decode()
    assert f'id="clip-status-{scene.pk}"' in card and 'hx-trigger="every 500ms"' in card
    project.stitches.create(owner=project.owner, status=JobStatus.RUNNING)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert 'hx-trigger="every 1000ms, new-stitch from:body"' in page  # the full video: half as often


def test_scene_prompt_edit_is_saved(alice_client, project):
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
    scenes = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="studio", **HX)
    assert scenes.status_code == 286 and 'id="scenes"' in scenes.content.decode()
    assert "<html" not in scenes.content.decode()
    full = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="full-video", **HX)
    assert full.status_code == 286 and "Download" in full.content.decode()
    scene = project.scenes.first()
    prompt = alice_client.get(f"/scenes/{scene.pk}/prompt/status/", **HX)
    assert prompt.status_code == 286 and f'id="prompt-{scene.pk}"' in prompt.content.decode()


def test_the_studio_stops_polling_as_soon_as_the_plan_reads_written(alice_client, project):
    """The clips a written plan starts commit with the plan (one transaction), so the first
    poll that reads it written has every card it needs: no moment of grace is waited for."""
    SceneWriting.objects.filter(project=project).update(finished_at=timezone.now())
    assert '<div id="studio" >' in alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    written = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="studio", **HX)
    assert written.status_code == 286
    # The clips may have finished meanwhile: the page's Stop all goes with the swap.
    html = written.content.decode()
    assert 'id="scenes"' in html and 'id="project-costs" hx-swap-oob="true"' in html and 'id="stop-all"' not in html
    SceneWriting.objects.filter(project=project).update(status=JobStatus.RUNNING, finished_at=None)
    assert '<div id="studio" hx-get=' in alice_client.get(f"/quick-gen/{project.pk}/").content.decode()


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
    projects.update_scene_prompt(first, description="hand-written")
    projects.update_scene_prompt(second, description="also hand-written")
    alice_client.post(f"/scenes/{second.pk}/rewrite/", **HX)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.description == "hand-written" and second.description != "also hand-written"


def test_ad_creative_mode_writes_ad_scenes(alice_client, user):
    project = projects.create_project(owner=user, video_description="new running shoes", mode=Project.Mode.AD_CREATIVE,
                                      flavor=flavors.resolve("default"), number_of_scenes=1)
    projects.start_project(project)
    assert "product ad creative" in project.scenes.get().description


@pytest.fixture
def unstarted(user) -> Project:
    return projects.create_project(owner=user, video_description="not started", flavor=flavors.resolve("mv1"),
                                   number_of_scenes=2)


def test_a_polled_section_never_starts_work(alice_client, unstarted):
    response = alice_client.get(f"/quick-gen/{unstarted.pk}/", HTTP_HX_TARGET="studio", **HX)
    unstarted.refresh_from_db()
    assert response.status_code == 286 and not unstarted.autorun_started
    assert Clip.objects.count() == 0


@pytest.fixture
def song_project(user, song_mp3) -> Project:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=3, audio_track=track, audio_start=5.0, song_end=29.0)
    projects.start_project(project)
    return project


def test_clip_status_has_the_full_video_fetch_itself_only_when_a_new_stitch_exists(alice_client, project):
    scene = project.scenes.first()
    shown = project.stitches.get()
    same = alice_client.get(f"/scenes/{scene.pk}/clip/status/", {"shown_stitch": str(shown.pk)}, **HX)
    assert 'id="full-video"' not in same.content.decode()
    assert json.loads(same["HX-Trigger"]) == {"clip-finished": {}}  # the counts and the banner ask again
    stitching.restitch_project(project)
    newer = alice_client.get(f"/scenes/{scene.pk}/clip/status/", {"shown_stitch": str(shown.pk)}, **HX)
    assert 'id="full-video"' not in newer.content.decode()
    assert json.loads(newer["HX-Trigger"]) == {"clip-finished": {}, "new-stitch": {}}
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()  # the section listens for that event
    assert 'hx-trigger="new-stitch from:body"' in page.split('id="full-video"')[1].split(">")[0]
    banner_tag = page.split('id="banner"')[1].split(">")[0]
    assert 'hx-trigger="new-stitch from:body, clip-finished from:body, scene-changed from:body"' in banner_tag
    assert 'hx-sync="this:replace" hx-disinherit="hx-sync"' in banner_tag  # its newest ask wins; its form posts freely
    banner = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="banner", **HX).content.decode()
    assert banner.lstrip().startswith('<div id="banner"') and "<html" not in banner and 'id="counts"' not in banner
    # Asked again with what it shows: nothing to swap (its button stays under the pointer) until it changes.
    shown = re.search(r'<div id="banner" hx-get="[^"?]+\?shown=(\w+)"', banner).group(1)
    again = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="banner", **HX)
    assert again.status_code == 204
    scene.current_clip = None
    scene.save(update_fields=["current_clip"])
    changed = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="banner", **HX)
    assert changed.status_code == 200 and "1 scene needs a new clip" in changed.content.decode()


def test_the_timeline_marks_boundaries_and_a_finished_clip_swaps_only_its_thumbnail(alice_client, song_project):
    page = alice_client.get(f"/quick-gen/{song_project.pk}/").content.decode()
    # 40 s song, audio start 5 s, three 8 s clips: marks at 5, 13, 21 and 29 s.
    assert page.count('class="tl-cut"') == 4 and 'x1="12.5%"' in page and 'x1="72.5%"' in page
    scene = song_project.scenes.get(position=0)
    html = alice_client.get(f"/scenes/{scene.pk}/clip/status/", **HX).content.decode()
    assert html.count('class="tl-thumb') == 1 and f'id="thumb-{scene.pk}"' in html and 'x="12.5%"' in html
    assert 'id="scenes"' not in html and 'id="counts"' not in html  # the counts ask again on the finish event


def test_lipsync_slice_is_the_scenes_slot_whatever_the_clip_lengths(alice_client, song_project):
    first, second, third = song_project.scenes.order_by("position")
    short = Clip.objects.create(owner=song_project.owner, scene=first, kind=Clip.Kind.UPLOADED, status="succeeded",
                                duration=6.0)
    first.current_clip = short
    first.save(update_fields=["current_clip"])
    alice_client.post(f"/scenes/{third.pk}/regenerate/", {"lipsync": "on"}, **HX)
    third.refresh_from_db()
    assert (third.current_clip.kind, third.current_clip.audio_start, third.current_clip.audio_end) == ("lipsync", 21.0, 29.0)


def test_create_errors_open_the_configuration_and_keep_what_was_typed(alice_client):
    html = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "mv1", "number_of_scenes": "500",
                                                 "video_description": "neon city", "url": "https://example.com/a.mp3",
                                                 "character_description": "x" * 6000}).content.decode()
    assert '<details class="card collapsible" id="section-config" open>' in html
    assert "Ensure this value is less than or equal to 450" in html
    assert "Ensure this value has at most" in html  # the character description's limit, next to it
    assert 'value="https://example.com/a.mp3"' in html and "neon city" in html
    assert Project.objects.count() == 0


def test_create_refuses_another_users_song_with_a_message(alice_client, other_user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(other_user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    html = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                                 "video_description": "neon city", "audio_track_id": str(track.pk)})
    assert "That song is not available any more" in html.content.decode()
    assert Project.objects.count() == 0


def test_create_refuses_an_audio_start_past_the_song(alice_client, user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    html = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default", "audio_start": "41",
                                                 "video_description": "neon city", "audio_track_id": str(track.pk)})
    assert "between 0 and the song&#x27;s length (40.0" in html.content.decode()
    assert Project.objects.count() == 0


def test_the_image_grid_poll_keeps_the_picked_image(alice_client):
    html = alice_client.post("/create/characters/", {"character_description": "a drummer"}, **HX).content.decode()
    ids = [line.split('value="')[1].split('"')[0] for line in html.splitlines() if 'name="image_ids"' in line]
    poll = alice_client.get("/create/characters/status/", {"id": ids, "character_image_id": ids[2]}, **HX)
    checked = poll.content.decode().split("checked")[0]
    assert checked.rsplit('value="', 1)[1].startswith(ids[2])


def test_a_failed_htmx_restitch_says_so_once(alice_client, unstarted):
    response = alice_client.post(f"/quick-gen/{unstarted.pk}/restitch/", **HX)
    assert "Every scene needs a finished clip" in response.content.decode()
    page = alice_client.get(f"/quick-gen/{unstarted.pk}/", HTTP_HX_TARGET="full-video", **HX)
    assert "Every scene needs a finished clip" not in page.content.decode()
    assert list(page.context["messages"]) == []


def test_prompt_rewrite_and_regenerate_use_the_flavor_chosen_on_the_page(alice_client, project):
    alice_client.get(f"/quick-gen/{project.pk}/")
    alice_client.post(f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "default"}, **HX)
    scene = project.scenes.get(position=0)
    alice_client.post(f"/scenes/{scene.pk}/regenerate/", {}, **HX)
    scene.refresh_from_db()
    assert scene.current_clip.config_flavor == "default"
    alice_client.post(f"/scenes/{scene.pk}/rewrite/", **HX)
    scene.refresh_from_db()
    default_words = flavors.resolve("default").values["parameters"]["video_characteristics"]
    assert default_words.split(",")[0].strip() in scene.description


def test_scene_and_clip_actions_of_another_user_are_404(client, other_user, alice_client, project):
    scene = project.scenes.first()
    clip = scene.current_clip
    client.force_login(other_user)
    for url in (f"/quick-gen/{project.pk}/flavor/", f"/scenes/{scene.pk}/prompt/", f"/scenes/{scene.pk}/rewrite/",
                f"/scenes/{scene.pk}/regenerate/", f"/clips/{clip.pk}/retry/", f"/clips/{clip.pk}/make-current/"):
        assert client.post(url, {"description": "x", "config_flavor": "default"}, **HX).status_code == 404, url
    for url in (f"/scenes/{scene.pk}/prompt/status/", f"/scenes/{scene.pk}/clip/status/"):
        assert client.get(url, **HX).status_code == 404, url


def test_scene_actions_without_htmx_redirect_to_the_page(alice_client, project):
    scene = project.scenes.first()
    page = f"/quick-gen/{project.pk}/"
    for url, data in ((f"/scenes/{scene.pk}/prompt/", {"description": "plain form"}),
                      (f"/scenes/{scene.pk}/regenerate/", {}), (f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "mv1"})):
        response = alice_client.post(url, data)
        assert response.status_code == 302 and response["Location"] == page, url
    scene.refresh_from_db()
    assert scene.description == "plain form"


def test_project_list_summarises_each_project_in_a_fixed_number_of_queries(alice_client, project, user,
                                                                             django_assert_max_num_queries):
    alice_client.get(f"/quick-gen/{project.pk}/")
    for n in range(3):
        projects.create_project(owner=user, video_description=f"other {n}", flavor=flavors.resolve("default"))
    with django_assert_max_num_queries(4):
        html = alice_client.get("/").content.decode()
    cover = project.scenes.get(position=0).current_clip
    assert f"/api/mv/get_video/{cover.pk}/poster" in html
    assert "2/2 clips ready" in html and "full video 16.0 s" in html and "0/0 clips ready" in html
    assert html.count('class="project-title"') == 4


def test_regenerate_uses_the_prompt_as_shown_even_when_not_saved(alice_client, project):
    scene = project.scenes.get(position=0)
    alice_client.post(f"/scenes/{scene.pk}/regenerate/", {"description": "a close-up of the drummer",
                                                          "negative_description": "no crowd"}, **HX)
    scene.refresh_from_db()
    assert (scene.description, scene.negative_description) == ("a close-up of the drummer", "no crowd")
    assert scene.current_clip.prompt.startswith("a close-up of the drummer")
    assert scene.current_clip.negative_prompt == "no crowd"


def test_the_full_video_poll_replaces_nothing_until_what_it_shows_changes(alice_client, project):
    """While a stitch renders the section polls; an answer that would show the same thing is
    a 204 (htmx swaps nothing), so the section, and a click half-way on its Re-stitch button,
    are not replaced several times a second."""
    stitch = Stitch.objects.create(owner=project.owner, project=project, status=JobStatus.QUEUED, num_clips=2)
    first = alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="full-video", **HX)
    html = first.content.decode()
    assert first.status_code == 200 and "Stitching 2 clips" in html
    shown = re.search(r'hx-get="[^"?]+\?shown=([^"]+)"', html).group(1)
    same = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="full-video", **HX)
    assert same.status_code == 204 and same.content == b""
    stitch.status = JobStatus.RUNNING  # looks the same as queued: still nothing to swap
    stitch.save(update_fields=["status"])
    assert alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="full-video",
                            **HX).status_code == 204
    scene = project.scenes.first()
    scene.current_clip = None  # e.g. a scene duplicated meanwhile: nothing to re-stitch until it has a clip
    scene.save(update_fields=["current_clip"])
    changed = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="full-video", **HX)
    assert changed.status_code == 200 and "Re-stitch with current clips" not in changed.content.decode()
    shown = re.search(r'hx-get="[^"?]+\?shown=([^"]+)"', changed.content.decode()).group(1)
    stitch.status = JobStatus.SUCCEEDED
    stitch.save(update_fields=["status"])
    done = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="full-video", **HX)
    assert done.status_code == 286 and 'id="full-video-player"' in done.content.decode()


def test_the_full_video_waits_for_the_automatic_stitch_on_the_last_clips_event_not_a_clock(alice_client, project):
    """Before the automatic run's stitch exists the section does not poll (a failed clip
    would keep it polling for good); the last clip's poll announces the stitch (new-stitch)."""
    project.stitches.all().delete()
    Project.objects.filter(pk=project.pk).update(auto_stitch_done=False)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert 'hx-trigger="new-stitch from:body"' in page
    assert alice_client.get(f"/quick-gen/{project.pk}/", HTTP_HX_TARGET="full-video", **HX).status_code == 286


def test_the_studio_poll_replaces_nothing_while_the_plan_is_written(alice_client, project):
    """While the plan is written the studio polls; an unchanged answer is a 204, so the cards,
    the player and the Stop all button beside it stay under the pointer."""
    SceneWriting.objects.filter(project=project).update(status=JobStatus.RUNNING, finished_at=None)
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    shown = re.search(r'<div id="studio" hx-get="[^"?]+\?shown=(\w+)"', page).group(1)
    same = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="studio", **HX)
    assert same.status_code == 204 and same.content == b""
    SceneWriting.objects.filter(project=project).update(status=JobStatus.SUCCEEDED, finished_at=timezone.now())
    written = alice_client.get(f"/quick-gen/{project.pk}/?shown={shown}", HTTP_HX_TARGET="studio", **HX)
    assert written.status_code == 286 and 'id="scenes"' in written.content.decode()


def test_a_rendering_clips_status_poll_swaps_no_button(alice_client, project):
    """The status is replaced at every poll; its Cancel button stays outside it, so a click on
    Cancel is never swallowed by a swap under the pointer."""
    scene = project.scenes.first()
    clip = Clip.objects.create(owner=project.owner, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=40)
    polled = alice_client.get(f"/scenes/{scene.pk}/clip/status/", **HX).content.decode()
    assert 'value="40"' in polled and "<button" not in polled and "<form" not in polled
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f'hx-post="/clips/{clip.pk}/cancel/"' in page


def test_the_create_pages_picture_grid_poll_swaps_only_when_a_picture_changes(alice_client, user):
    image = CharacterImage.objects.create(owner=user, description="a drummer", status=JobStatus.RUNNING)
    first = alice_client.get("/create/characters/status/", {"id": str(image.pk)}, **HX).content.decode()
    shown = re.search(r'hx-get="[^"]*shown=(\w+)"', first).group(1)
    same = alice_client.get("/create/characters/status/", {"id": str(image.pk), "shown": shown}, **HX)
    assert same.status_code == 204 and same.content == b""
    image.status = JobStatus.FAILED
    image.save(update_fields=["status"])
    changed = alice_client.get("/create/characters/status/", {"id": str(image.pk), "shown": shown}, **HX)
    assert changed.status_code == 286 and "Option 1 failed" in changed.content.decode()


def test_a_cancelled_picture_on_the_create_page_says_so(alice_client, user):
    image = CharacterImage.objects.create(owner=user, description="a drummer", status=JobStatus.CANCELED,
                                          error="Cancelled.")
    grid = alice_client.get("/create/characters/status/", {"id": str(image.pk)}, **HX)
    assert grid.status_code == 286 and "Option 1 failed: Cancelled." in grid.content.decode()


def test_a_refused_create_keeps_polling_the_pictures_still_rendering(alice_client, user):
    image = CharacterImage.objects.create(owner=user, description="a drummer", status=JobStatus.RUNNING)
    html = alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "mv1", "video_description": "",
                                                 "image_ids": [str(image.pk)]}).content.decode()
    assert "This field is required" in html and "Option 1: rendering" in html
    assert re.search(r'<div id="character-images" hx-get="[^"]*shown=\w+" hx-trigger="every', html)
