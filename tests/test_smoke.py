from __future__ import annotations

from mv import media


def test_ffmpeg_makes_a_real_clip(clip_mp4):
    assert clip_mp4.stat().st_size > 1000
    assert media.ffmpeg_exe()


def test_project_list_needs_login(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_project_list_renders_for_a_logged_in_user(alice_client):
    response = alice_client.get("/")
    assert response.status_code == 200
    assert b"Projects" in response.content
