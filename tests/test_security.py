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

from mv import flavors, tasks
from mv.models import AudioTrack
from mv.pipeline import characters, projects, rendering, stitching

ROOT = Path(__file__).resolve().parents[1]


def owned_things(user, song_mp3) -> dict:
    """One of everything a user owns: project, scene, clips (ok and failed), stitch, track, image."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio
    from mv.models import Clip, JobStatus

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = projects.create_project(owner=user, video_description="mine", flavor=flavors.resolve("default"),
                                      number_of_scenes=1, audio_track=track, song_end=8.0)
    projects.start_project(project)
    scene = project.scenes.get()
    with tasks.held():
        failed = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x", scene=scene)
    Clip.objects.filter(pk=failed.pk).update(status=JobStatus.FAILED, error="the model failed")
    (image,) = characters.request_character_images(owner=user, flavor=flavors.resolve("default"), description="a fox",
                                                num_images=1)
    return {"project": project, "scene": scene, "clip": scene.current_clip, "failed": failed,
            "stitch": project.stitches.get(), "track": track, "image": image}


POST_ROUTES = ["create_submit", "create_audio_upload", "create_audio_url", "create_character_images", "change_flavor",
               "restitch", "project_stop", "scene_prompt", "scene_rewrite", "scene_regenerate", "clip_retry", "clip_cancel",
               "clip_make_current", "song_lyrics", "project_rename", "project_duplicate", "project_delete", "project_refresh",
               "scene_split", "scene_duplicate", "scene_delete", "scene_move", "scene_boundary", "change_style",
               "scene_upload_clip", "create_audio_generate"]


def page_post_routes(t: dict) -> dict[str, str]:
    """Every POST page route of mv.urls, filled in with the owner's ids."""
    from django.urls import URLPattern

    from mv import urls

    ids = {"quick-gen": t["project"].pk, "scenes": t["scene"].pk, "clips": t["failed"].pk, "songs": t["track"].pk}
    routes = {}
    for pattern in urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        route = str(pattern.pattern)
        path = "/" + route.replace("<uuid:pk>", str(ids.get(route.split("/")[0], "")))
        routes[pattern.name] = path
    return routes


def test_page_forms_and_htmx_posts_need_csrf(user, song_mp3):
    """Every page route refuses a POST without the CSRF token (403), with or without HTMX; with
    the token, the routes that take a POST get through (and the others answer 405)."""
    from django.test import Client as C

    things = owned_things(user, song_mp3)
    client = C(enforce_csrf_checks=True)
    client.force_login(user)
    routes = page_post_routes(things)
    for name, url in routes.items():
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            assert client.post(url, {"video_description": "x"}, **headers).status_code == 403, (name, url)
    token = client.get("/create/").cookies["csrftoken"].value
    accepted = []
    for name, url in routes.items():
        status = client.post(url, {"config_flavor": "mv1"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token).status_code
        assert status != 403, (name, url)
        if status != 405:
            accepted.append(name)
    assert sorted(accepted) == sorted(POST_ROUTES)
    # the JSON API with a session cookie needs the token too (an X-API-Key call does not)
    from mv import api_urls

    for pattern in api_urls.urlpatterns:
        if pattern.name in {None, "api_get_config_flavors"} or "<" in str(pattern.pattern):
            continue
        status = client.post(f"/api/{pattern.pattern}", "{}", content_type="application/json").status_code
        assert status in (403, 405), (pattern.name, status)
    assert client.post("/accounts/logout/").status_code == 403


def test_users_see_only_their_own_things(client, user, other_user, song_mp3):
    t = owned_things(user, song_mp3)
    project, scene, clip, stitch, track, image = (t[k] for k in ("project", "scene", "clip", "stitch", "track", "image"))
    client.force_login(other_user)
    for url in (f"/quick-gen/{project.pk}/", f"/scenes/{scene.pk}/clip/status/", f"/scenes/{scene.pk}/prompt/status/",
                f"/api/mv/get_video/{clip.pk}", f"/api/mv/get_video/{clip.pk}/info", f"/api/mv/get_video/{clip.pk}/poster",
                f"/api/mv/get_video/{stitch.pk}", f"/api/mv/get_video/{stitch.pk}/info",
                f"/api/mv/get_video/{t['failed'].pk}/info", f"/api/audio/get/{track.pk}",
                f"/api/audio/get/{track.pk}?download=1", f"/api/audio/waveform/{track.pk}",
                f"/api/mv/get_character_reference/{image.pk}", f"/api/mv/projects/{project.pk}"):
        assert client.get(url).status_code == 404, url
    assert str(image.pk) not in client.get(f"/create/characters/status/?ids={image.pk}").content.decode()
    for name, url in page_post_routes(t).items():
        if name in POST_ROUTES and not url.startswith("/create/"):
            assert client.post(url, {"config_flavor": "mv1", "description": "stolen"}).status_code == 404, (name, url)
    for endpoint, body in (
        ("lipsync", {"video_id": str(clip.pk), "audio_id": str(track.pk)}),
        ("retry_video", {"video_id": str(t["failed"].pk)}),
        ("stitch-videos", {"video_ids": [str(clip.pk)]}),
        ("create_scenes", {"idea": "x", "project_id": str(project.pk)}),
        ("generate_video", {"prompt": "x", "scene_id": str(scene.pk)}),
        ("generate_video", {"prompt": "x", "character_reference_id": str(image.pk)}),
    ):
        response = client.post(f"/api/mv/{endpoint}", json.dumps(body), content_type="application/json")
        assert response.status_code == 404, (endpoint, body, response.content[:200])
    response = client.post("/api/audio/trim", json.dumps({"audio_id": str(track.pk), "start_at": 0, "end_at": 1}),
                           content_type="application/json")
    assert response.status_code == 404
    scene.refresh_from_db()
    assert scene.description != "stolen" and scene.current_clip_id == clip.pk
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


class Capture(logging.Handler):
    """Every record, formatted the way the console handler would, with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_secrets_never_reach_logs_pages_errors_or_the_admin(fake_replicate, client, staff_user, user, settings, capfd):
    settings.MV_API_KEYS = ["api-key-secret-123"]
    capture = Capture()
    names = ["", "mv", "django", "django.request", "django.security.csrf", "django_tasks_db", "django.tasks",
             "replicate", "httpx", "httpcore"]
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    try:
        project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("mv1"),
                                          number_of_scenes=1)
        projects.start_project(project)  # the token goes to the fake provider on every call
        fake_replicate.drop_connection("GET", r"^/v1/predictions/")  # a transient fault is logged
        ok = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="with a dropped poll")
        settings.REPLICATE_API_TOKEN = "wrong-token-also-secret"
        failed = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="fails with a bad token")
        failed.refresh_from_db()
        ok.refresh_from_db()
        assert "token" in failed.error.lower() and ok.status == "succeeded"
        api = Client()
        bodies = []
        for key in ("api-key-secret-123", "wrong-key-also-secret-456"):  # good and bad keys, good and bad requests
            for method, url, body in (("get", "/api/mv/get_config_flavors", None),
                                      ("get", f"/api/mv/get_video/{failed.pk}/info", None),
                                      ("get", "/api/mv/get_video/not-a-uuid", None),
                                      ("post", "/api/mv/create_scenes", "{"),
                                      ("post", "/api/mv/create_scenes", json.dumps({"idea": ""})),
                                      ("post", "/api/mv/lipsync", json.dumps({"video_id": str(failed.pk)})),
                                      ("delete", "/api/mv/create_scenes", None),
                                      ("get", "/api/nowhere", None)):
                kwargs = {"content_type": "application/json"} if body is not None else {}
                response = getattr(api, method)(url, *([body] if body is not None else []), HTTP_X_API_KEY=key,
                                                **kwargs)
                assert response.status_code < 500, (key, url, response.status_code)
                bodies.append(response.content.decode(errors="replace"))
            assert api.get("/create/", HTTP_X_API_KEY=key).status_code == 302  # pages do not take keys
        staff_user.is_superuser = True
        staff_user.save()
        client.force_login(staff_user)
        pages = [client.get(u).content.decode() for u in (
            f"/admin/mv/clip/{failed.pk}/change/", f"/admin/mv/clip/{ok.pk}/change/", "/admin/mv/clip/",
            f"/admin/mv/project/{project.pk}/change/", "/admin/", f"/quick-gen/{project.pk}/")]
        pages.append(client.get(f"/api/mv/get_video/{failed.pk}/info").content.decode())
    finally:
        for lg, level in saved:
            lg.removeHandler(capture)
            lg.setLevel(level)
    out, err = capfd.readouterr()  # what the app's own console handler printed
    logs = "\n".join(capture.lines) + out + err
    # the capture saw the traffic: provider calls, the transient fault, failed requests, tracebacks
    for seen in ("HTTP Request: POST", "transient provider error", "Unauthorized: /api/", "Traceback"):
        assert seen in logs, seen
    for secret in (fake_replicate.token, "wrong-token-also-secret", "api-key-secret-123", "wrong-key-also-secret-456"):
        assert secret not in logs, secret
        assert all(secret not in text for text in bodies + pages), secret
        assert secret not in failed.error and secret not in json.dumps(failed.input)
        assert secret not in json.dumps(ok.input)


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MV_", "REPLICATE_", "DATABASE_URL"))}
    env.update(DJANGO_SETTINGS_MODULE="mvsite.settings", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(64),
               ALLOWED_HOSTS="mv.example.com", SECURE_SSL_REDIRECT="true", SESSION_COOKIE_SECURE="true",
               CSRF_COOKIE_SECURE="true", SECURE_HSTS_SECONDS="31536000",
               MV_SQLITE_PATH=str(tmp_path / "db.sqlite3"))
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_staff_without_superuser_rights_see_only_their_own_rows(client, user, staff_user, song_mp3):
    """The admin refuses staff another user's rows, and so do the pages and the API; only a
    superuser sees everyone's."""
    t = owned_things(user, song_mp3)
    project = t["project"]
    client.force_login(staff_user)
    assert client.get(f"/quick-gen/{project.pk}/").status_code == 404
    assert client.get(f"/api/mv/projects/{project.pk}").status_code == 404
    assert client.post(f"/quick-gen/{project.pk}/flavor/", {"config_flavor": "mv1"}).status_code == 404
    project.refresh_from_db()
    assert project.config_flavor != "mv1"
    staff_user.is_superuser = True
    staff_user.save()
    assert client.get(f"/api/mv/projects/{project.pk}").status_code == 200


def test_the_api_answers_json_without_paths_when_the_media_folder_fails(user, song_mp3, settings, tmp_path):
    """A media folder that cannot be written: the upload is a JSON 500 with a plain message (not
    Django's HTML page, not the folder's path), and a stitch fails with a message without paths."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.conftest import make_clip

    clip = rendering.import_clip(user, make_clip(tmp_path / "c.mp4", seconds=1.0))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")
    settings.MEDIA_ROOT = blocker / "media"
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.post("/api/audio/upload", {"file": SimpleUploadedFile("song.mp3", song_mp3.read_bytes())})
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json()["error"] == "server_error" and str(tmp_path) not in response.content.decode()
    stitch = stitching.request_stitch(owner=user, clips=[clip])
    stitch.refresh_from_db()
    assert stitch.status == "failed" and stitch.error.startswith("The clips could not be stitched")
    assert "/" not in stitch.error and "Errno" not in stitch.error


def test_tool_messages_keep_file_names_but_not_paths():
    from mv import errors
    from mv.media import MediaError

    message = errors.public_message(MediaError("ffmpeg failed: /tmp/mv-1a2b/upload.mp3: Invalid data found"))
    assert message == "ffmpeg failed: upload.mp3: Invalid data found"
    assert "/srv" not in errors.public_message(PermissionError(13, "Permission denied", "/srv/media/clips/a.mp4"))
