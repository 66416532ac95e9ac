"""Projects: rename, duplicate, delete (with their media), and the screen format."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from mv import flavors
from mv.errors import Refused
from mv.models import AudioTrack, CharacterImage, Clip, Project, Stitch, StitchItem
from mv.pipeline import projects, rendering
from mv.providers.local import frame_size
from tests.factories import finished_clip, written_project

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(user):
    track = AudioTrack.objects.create(owner=user, title="song", original="audio/original/x.mp3", duration=40.0)
    return written_project(user, scenes=2, audio_track=track, video_description="Rooftop concert at dusk",
                           aspect_ratio="9:16")


def test_a_new_project_is_named_after_its_description(user):
    project = written_project(user, video_description="  A band plays\non a rooftop  ")
    assert project.title == "A band plays on a rooftop"


def test_renaming_keeps_the_name_and_names_the_download(alice_client, project):
    response = alice_client.post(f"/quick-gen/{project.pk}/rename/", {"title": "Rooftop Concert"})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.title == "Rooftop Concert"
    stitch = Stitch.objects.create(owner=project.owner, project=project)
    assert stitch.download_name() == "rooftop-concert.mp4"
    assert ">Rooftop Concert</h1>" in alice_client.get(f"/quick-gen/{project.pk}/").content.decode()


def test_a_blank_name_is_refused_with_a_message(alice_client, project):
    page = alice_client.post(f"/quick-gen/{project.pk}/rename/", {"title": "   "}, follow=True)
    project.refresh_from_db()
    assert project.title == "Rooftop concert at dusk"
    assert [str(m) for m in page.context["messages"]] == ["Give the project a name (at most 120 characters)."]
    with pytest.raises(Refused):
        projects.rename_project(project, " \n ")


def test_renaming_from_the_list_goes_back_to_the_list(alice_client, project):
    response = alice_client.post(f"/quick-gen/{project.pk}/rename/", {"title": "New name", "from": "list"})
    assert response.url == "/"
    assert "New name" in alice_client.get("/").content.decode()


def test_duplicating_copies_song_flavor_format_prompts_and_slots_but_no_clips(alice_client, project):
    finished_clip(project.scenes.get(position=0))
    response = alice_client.post(f"/quick-gen/{project.pk}/duplicate/")
    copy = Project.objects.exclude(pk=project.pk).get()
    assert response.status_code == 302 and response.url == copy.get_absolute_url()
    assert copy.title == "Rooftop concert at dusk (copy)"
    assert (copy.audio_track_id, copy.config_flavor, copy.aspect_ratio) == (project.audio_track_id, "default", "9:16")
    assert [(s.description, s.start, s.end, s.current_clip_id) for s in copy.scenes.order_by("position")] == [
        ("scene 1", 0.0, 8.0, None), ("scene 2", 8.0, 16.0, None)]
    assert copy.scenes_status == Project.ScenesStatus.READY and not copy.autorun_started
    assert not Clip.objects.filter(scene__project=copy).exists()


def test_deleting_asks_first_then_removes_the_project_and_its_media_files(alice_client, project, clip_mp4):
    clip = finished_clip(project.scenes.get(position=0), clip_mp4)
    stitch = Stitch.objects.create(owner=project.owner, project=project, status="succeeded", file=clip.file.name)
    StitchItem.objects.create(stitch=stitch, clip=clip, position=0)
    assert default_storage.exists(clip.file.name)
    confirm = alice_client.get(f"/quick-gen/{project.pk}/delete/")
    assert confirm.status_code == 200 and "Delete for good" in confirm.content.decode()
    assert Project.objects.filter(pk=project.pk).exists()
    response = alice_client.post(f"/quick-gen/{project.pk}/delete/")
    assert response.status_code == 302 and response.url == "/"
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Clip.objects.filter(pk=clip.pk).exists() and not Stitch.objects.filter(pk=stitch.pk).exists()
    assert not default_storage.exists(clip.file.name)
    assert AudioTrack.objects.filter(pk=project.audio_track_id).exists()  # the song stays for reuse


def test_another_users_project_cannot_be_renamed_duplicated_or_deleted(client, other_user, project):
    client.force_login(other_user)
    for action in ("rename", "duplicate", "delete"):
        assert client.post(f"/quick-gen/{project.pk}/{action}/", {"title": "x"}).status_code == 404
    assert Project.objects.count() == 1


def test_project_actions_answer_405_to_get(alice_client, project):
    assert alice_client.get(f"/quick-gen/{project.pk}/rename/").status_code == 405
    assert alice_client.get(f"/quick-gen/{project.pk}/duplicate/").status_code == 405


def test_with_htmx_a_duplicate_redirects_the_browser(alice_client, project):
    response = alice_client.post(f"/quick-gen/{project.pk}/duplicate/", **HX)
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/quick-gen/")


# --- the screen format ---------------------------------------------------------------------------


def test_the_create_page_offers_the_flavors_formats_and_keeps_the_choice(alice_client, user):
    html = alice_client.get("/create/").content.decode()
    assert 'value="9:16"' in html and 'value="16:9"' in html
    alice_client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default", "audio_start": "0",
                                          "video_description": "Neon skyline", "aspect_ratio": "9:16",
                                          "number_of_scenes": "1"})
    assert Project.objects.get().aspect_ratio == "9:16"


def test_a_format_the_flavors_video_model_cannot_make_is_refused(user):
    with pytest.raises(Refused) as refused:
        projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                aspect_ratio="4:3")
    assert refused.value.code == "bad_aspect_ratio" and "16:9, 9:16" in refused.value.message


def test_the_api_takes_an_aspect_ratio(alice_client):
    response = alice_client.post("/api/mv/create_scenes", {"idea": "x", "aspect_ratio": "9:16", "number_of_scenes": 1},
                                 content_type="application/json")
    assert response.status_code in (200, 202), response.content
    assert Project.objects.get().aspect_ratio == "9:16"
    bad = alice_client.post("/api/mv/generate_video", {"prompt": "x", "aspect_ratio": "4:3"},
                            content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"] == "bad_aspect_ratio"


def test_a_scenes_clip_is_asked_in_its_projects_format_and_rendered_portrait_locally(project, settings):
    from mv import media

    settings.MV_LOCAL_RENDER_SIZE = "320x180"
    clip = rendering.request_clip(owner=project.owner, flavor=flavors.resolve("default"), prompt="a drummer",
                                  scene=project.scenes.get(position=0))
    clip.refresh_from_db()
    assert clip.input["aspect_ratio"] == "9:16" and clip.status == "succeeded"
    video = media.probe(default_storage.path(clip.file.name)).video
    assert (video.width, video.height) == (180, 320)


def test_the_local_frame_follows_the_aspect_ratio():
    assert frame_size("640x360", "16:9") == "640x360"
    assert frame_size("640x360", "9:16") == "360x640"
    assert frame_size("640x360", "1:1") == "640x640"


def test_a_card_says_when_the_video_model_cannot_take_the_reference_image(alice_client, project, settings,
                                                                          monkeypatch):
    from mv.providers.replicate import ReplicateProvider

    image = CharacterImage.objects.create(owner=project.owner, description="a fox", status="succeeded",
                                          file="images/fox.png")
    Project.objects.filter(pk=project.pk).update(character_image=image)
    settings.MV_PROVIDER = "replicate"
    html = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert 'class="muted small reference-note"' not in html  # a start frame carries the picture instead
    assert html.count("New start frame") == 2
    monkeypatch.setattr(ReplicateProvider, "makes_start_frames", lambda self, flavor: False)  # no start_frame_model
    html = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert html.count('class="muted small reference-note"') == 2
    assert "use the character reference image for 9:16 clips" in html


def test_reference_images_are_made_in_the_chosen_screen_format(alice_client):
    import struct

    html = alice_client.post("/create/characters/", {"character_description": "a drummer", "config_flavor": "default",
                                                     "aspect_ratio": "9:16"}, **HX).content.decode()
    assert html.count('type="radio"') == 4
    image = CharacterImage.objects.first()
    assert image.input["aspect_ratio"] == "9:16" and image.status == "succeeded"
    header = default_storage.open(image.file.name).read(24)  # a PNG's IHDR: width, height
    width, height = struct.unpack(">II", header[16:24])
    assert header.startswith(b"\x89PNG") and (width, height) == (288, 512)


def test_the_image_model_is_asked_for_the_projects_format(fake_replicate, user):
    from mv.pipeline import characters
    from tests.factories import advance

    (image,) = characters.request_character_images(owner=user, flavor=flavors.resolve("default"), description="a fox",
                                                   num_images=1, aspect_ratio="9:16")
    advance(image)
    image.refresh_from_db()
    assert image.input["aspect_ratio"] == "9:16"
    sent = fake_replicate.requests_to("POST", r"/v1/models/google/imagen-4/predictions")[0]["json"]["input"]
    assert sent["aspect_ratio"] == "9:16"
