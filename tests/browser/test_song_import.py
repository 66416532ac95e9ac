"""The song card while the worker imports the song, and Create pressed before it is in."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from mv.models import AudioTrack, Project

from .conftest import WorkerThreadBackend

pytestmark = pytest.mark.browser


def test_create_pressed_while_the_song_imports_keeps_the_song(logged_in, live_server, song_mp3):
    page = logged_in
    page.goto(f"{live_server.url}/create/")
    page.fill("#id_video_description", "A band plays on a rooftop at dusk")
    with WorkerThreadBackend.held():  # the import waits until the project is created
        with page.expect_response(re.compile(r"/create/audio/upload/$")) as upload:
            page.set_input_files("#id_file", str(song_mp3))
        assert 'badge-busy">Importing…' in upload.value.text()  # the answer came before the import
        expect(page.locator("#music-source input[name=audio_track_id]")).to_be_attached()  # the answer is on the page
        page.click("button:has-text('Create project')")  # not waiting for the song
        page.wait_for_url(re.compile(r"/quick-gen/"))
        assert AudioTrack.objects.get().analysis_status == AudioTrack.AnalysisStatus.IMPORTING  # created meanwhile
    project = Project.objects.get()
    track = AudioTrack.objects.get()
    assert project.audio_track_id == track.pk  # the song was kept
    expect(page.locator(".scene-card").first).to_be_visible(timeout=60000)  # planned once it landed
    track.refresh_from_db()
    scenes = list(project.scenes.order_by("position"))
    assert scenes and scenes[0].start == 0 and scenes[-1].end <= track.duration + 1e-6
    assert track.analysis_status == AudioTrack.AnalysisStatus.READY
