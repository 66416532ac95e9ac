"""A fresh project with a song, made the way the create page makes it: every clip fits its
scene, the page says nothing is out of date and "Bring the video up to date" has nothing to do."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio
from mv.models import Project
from tests.fakes import songs


def test_a_fresh_song_project_has_nothing_out_of_date(alice_client, user, tmp_path):
    path = songs.verse_chorus().write(tmp_path / "song.wav")
    track = audio.import_upload(user, SimpleUploadedFile("song.wav", path.read_bytes()))
    track.refresh_from_db()
    print(track.analysis_status)
    response = alice_client.post("/create/submit/", {
        "mode": "music_video", "config_flavor": "default", "audio_track_id": str(track.pk), "audio_start": "0",
        "video_description": "a lighthouse at night"})
    assert response.status_code in (200, 302), response.content[:500]
    project = Project.objects.get()
    scenes = list(project.scenes.select_related("current_clip").order_by("position"))
    print([(s.start, s.end, s.current_clip and s.current_clip.duration, s.current_clip and s.current_clip.input) for s in scenes])
    html = alice_client.get(project.get_absolute_url()).content.decode()
    assert "Out of date" not in html and "need a new clip" not in html and "needs a new clip" not in html
    answer = alice_client.post(f"/api/mv/projects/{project.pk}/bring_up_to_date", "{}",
                               content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"] == "up_to_date", answer.content
