"""Access, CSRF, stored names, headers, CSP, secrets, and the deploy check."""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.test import Client

from mv import flavors, pipeline
from mv.models import AudioTrack

ROOT = Path(__file__).resolve().parents[1]


def test_page_forms_and_htmx_posts_need_csrf(user):
    project = pipeline.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/create/submit/", {"video_description": "x"}).status_code == 403
    assert client.post(f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "mv1"}, HTTP_HX_REQUEST="true").status_code == 403
    page = client.get("/create/")
    token = page.cookies["csrftoken"].value
    response = client.post(f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "mv1"}, HTTP_HX_REQUEST="true",
                           HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200


def test_users_see_only_their_own_things(client, user, other_user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = pipeline.create_project(owner=user, video_description="mine", flavor=flavors.resolve("default"),
                                      number_of_scenes=1, audio_track=track)
    pipeline.start_project(project)
    scene = project.scenes.get()
    clip, stitch = scene.current_clip, project.stitches.get()
    client.force_login(other_user)
    for url in (f"/quick-gen/{project.pk}/", f"/api/mv/get_video/{clip.pk}", f"/api/mv/get_video/{stitch.pk}",
                f"/api/audio/get/{track.pk}", f"/api/mv/projects/{project.pk}", f"/scenes/{scene.pk}/clip/status/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/scenes/{scene.pk}/regenerate/").status_code == 404
    assert client.post("/api/mv/lipsync", json.dumps({"video_id": str(clip.pk), "audio_id": str(track.pk)}),
                       content_type="application/json").status_code == 404
    assert "mine" not in client.get("/").content.decode()
    assert client.get("/admin/").status_code == 302


def test_uploads_get_generated_names_and_a_fixed_content_type(alice_client, song_mp3, tmp_path):
    evil = tmp_path / "..%2F..%2Fevil name.mp3"
    evil.write_bytes(song_mp3.read_bytes())
    with open(evil, "rb") as fh:
        body = alice_client.post("/api/audio/upload", {"file": fh}).json()
    track = AudioTrack.objects.get(pk=body["audio_id"])
    for field in (track.original, track.file):
        assert "evil" not in field.name and ".." not in field.name
        assert Path(field.path).resolve().is_relative_to(Path(track.file.storage.location).resolve())
    response = alice_client.get(f"/api/audio/get/{track.pk}?download=1")
    assert response["Content-Type"] == "audio/mp4"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_send_security_headers_and_a_csp(alice_client):
    response = alice_client.get("/create/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert "<script>" not in response.content.decode()  # no inline scripts: the CSP would block them


def test_secrets_never_reach_logs_pages_errors_or_the_admin(fake_replicate, client, staff_user, user, settings, caplog):
    settings.MV_API_KEYS = ["api-key-secret-123"]
    caplog.set_level(logging.DEBUG)
    project = pipeline.create_project(owner=user, video_description="x", flavor=flavors.resolve("mv1"),
                                      number_of_scenes=1)
    pipeline.start_project(project)
    settings.REPLICATE_API_TOKEN = "wrong-token-also-secret"
    failed = pipeline.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="fails with a bad token")
    failed.refresh_from_db()
    assert "token" in failed.error.lower()
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    pages = [client.get(u).content.decode() for u in (f"/admin/mv/clip/{failed.pk}/change/", "/admin/mv/clip/",
                                                      f"/quick-gen/{project.pk}/")]
    api = client.get(f"/api/mv/get_video/{failed.pk}/info").content.decode()
    logs = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (fake_replicate.token, "wrong-token-also-secret", "api-key-secret-123"):
        assert secret not in logs and secret not in api and secret not in failed.error
        assert all(secret not in page for page in pages)


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MV_", "REPLICATE_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="mvsite.settings", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(64),
               ALLOWED_HOSTS="mv.example.com", SECURE_SSL_REDIRECT="true", SESSION_COOKIE_SECURE="true",
               CSRF_COOKIE_SECURE="true", SECURE_HSTS_SECONDS="31536000", MV_REQUIRE_SECRET_KEY="true",
               MV_SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
