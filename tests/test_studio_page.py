"""The studio page's labels and offers: a fresh project with a song, made the way the create page
makes it, has nothing out of date; Re-stitch only when there is something to stitch; the full
video's poster is its own first frame; small texts for people."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio
from mv.models import AudioTrack, Clip, JobStatus, Project, Scene, SceneWriting
from tests.factories import finished_clip, finished_stitch, written_project
from tests.fakes import songs


def test_a_fresh_song_project_has_nothing_out_of_date_and_bringing_it_up_to_date_has_nothing_to_do(alice_client, user, tmp_path):
    path = songs.verse_chorus().write(tmp_path / "song.wav")
    track = audio.import_upload(user, SimpleUploadedFile("song.wav", path.read_bytes()))
    track.refresh_from_db()
    response = alice_client.post("/create/submit/", {
        "mode": "music_video", "config_flavor": "default", "audio_track_id": str(track.pk), "audio_start": "0",
        "video_description": "a lighthouse at night"})
    assert response.status_code in (200, 302), response.content[:500]
    project = Project.objects.get()
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    assert len(scenes) >= 2 and all(s.current_clip is not None for s in scenes)
    assert any(s.current_clip.duration > s.end - s.start + 0.1 for s in scenes)  # a longer clip, trimmed: it fits
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Out of date" not in html and "need a new clip" not in html and "needs a new clip" not in html
    answer = alice_client.post(f"/api/mv/projects/{project.pk}/bring_up_to_date", "{}",
                               content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"] == "up_to_date", answer.content


def test_re_stitch_is_offered_only_when_every_scene_has_a_clip_and_the_plan_is_written(alice_client, user):
    project = written_project(user, scenes=2)
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Re-stitch with current clips" not in html  # a copy with no clips yet
    for scene in project.scenes.all():
        finished_clip(scene)
    assert "Re-stitch with current clips" in alice_client.get(project.get_absolute_url()).content.decode()
    SceneWriting.objects.create(project=project, status=JobStatus.RUNNING, provider="local")  # written again
    assert "Re-stitch with current clips" not in alice_client.get(project.get_absolute_url()).content.decode()


def test_the_studio_says_which_flavor_writes_the_scenes_and_shows_a_rendering_clips_progress(alice_client, user):
    """What the page shows in passing (the browser tests cannot catch it reliably: the local
    renderer is quick)."""
    project = written_project(user, scenes=2, flavor="mv1")
    SceneWriting.objects.create(project=project, status=JobStatus.RUNNING, provider="local")
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Writing scenes with the <strong>mv1</strong> flavor" in html
    SceneWriting.objects.filter(project=project, status=JobStatus.RUNNING).update(status=JobStatus.SUCCEEDED)
    scene = project.scenes.order_by("position").first()
    Clip.objects.create(owner=user, scene=scene, status=JobStatus.RUNNING, prompt="p", progress=30, provider="local")
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Writing scenes" not in html and '<progress max="100" value="30">30%</progress>' in html


def test_the_full_videos_poster_is_its_own_first_clip_whatever_the_scenes_order_now(alice_client, user):
    project = written_project(user, scenes=2)
    first, second = project.scenes.order_by("position")
    clips = [finished_clip(first), finished_clip(second)]
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(poster="posters/p.jpg")
    finished_stitch(project)
    Scene.objects.filter(pk=first.pk).update(position=5)
    Scene.objects.filter(pk=second.pk).update(position=0)
    Scene.objects.filter(pk=first.pk).update(position=1)  # reordered, not stitched again
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert f'poster="/api/mv/get_video/{clips[0].pk}/poster"' in html and 'id="video-stale"' in html


def test_opening_the_create_forms_address_goes_to_the_create_page(alice_client):
    response = alice_client.get("/create/submit/")
    assert response.status_code == 302 and response.url == "/create/"


def test_small_texts_read_well(alice_client, user):
    create = alice_client.get("/create/").content.decode()
    assert "configs/" not in create
    empty = alice_client.get("/").content.decode()
    assert "<span>No projects yet: " in empty and "make your first video</a>.</span>" in empty
    project = written_project(user, scenes=1)
    Clip.objects.create(owner=user, scene=project.scenes.get(), status="running", prompt="p")
    page = alice_client.get(project.get_absolute_url()).content.decode()
    assert "⏳" not in page and '<text class="tl-num" x="6" y="16">1 …</text>' in page


def test_section_labels_are_cut_at_their_band_instead_of_running_together(alice_client, user):
    track = AudioTrack.objects.create(owner=user, title="song", original="audio/original/x.mp3", duration=40.0,
                                      analysis={"beats": [1.0], "sections": [
                                          {"start": 0.0, "end": 1.0, "label": "verse", "energy": 0.3},
                                          {"start": 1.0, "end": 40.0, "label": "chorus", "energy": 1.0}]})
    project = written_project(user, scenes=2, audio_track=track)
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert ('<svg x="0.0%" width="2.5%" height="100%" overflow="hidden"><text class="tl-label" x="4" y="14">verse</text>'
            in html)
