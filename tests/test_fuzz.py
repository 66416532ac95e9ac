"""Bad input, generated: always a 4xx with a clear message, never a 500, never a partial row."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mv import tasks
from mv.models import AudioTrack, CharacterImage, Clip, Project, Stitch
from mv.pipeline import projects, rendering
from tests.conftest import make_clip

pytestmark = pytest.mark.slow

TRIED = {"cases": 0}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", " ", "../../etc/passwd", "nan", "1e999", "-1", str(uuid.uuid4()), "x" * 300,
                     "default", "mv1", "../mv1", "a b", 10**400, -(10**400), "\ud800", "x\udfff"]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=2))

ENDPOINTS = {
    "/api/mv/create_scenes": ["idea", "character_description", "number_of_scenes", "config_flavor", "project_id", "wait",
                              "camera_angle"],
    "/api/mv/generate_video": ["prompt", "negative_prompt", "aspect_ratio", "duration", "generate_audio", "seed",
                               "character_reference_id", "config_flavor", "scene_id", "wait"],
    "/api/mv/lipsync": ["video_id", "audio_id", "start_time", "end_time", "temperature", "wait",
                        "occlusion_detection_enabled"],
    "/api/mv/stitch-videos": ["video_ids", "audio_overlay_id", "audio_start", "suppress_video_audio", "wait"],
    "/api/audio/trim": ["audio_id", "start_at", "end_at"],
    "/api/mv/generate_character_reference": ["character_description", "num_images", "config_flavor", "seed", "wait"],
    "/api/mv/retry_video": ["video_id", "wait"],
    "/api/mv/cancel_video": ["video_id", "wait"],
}


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Project, Clip, Stitch, AudioTrack, CharacterImage))


def is_valid_generation(endpoint: str, body: dict) -> bool:
    """Bodies that could legitimately start work are not fuzz failures; skip them."""
    text_ok = lambda v: isinstance(v, str) and v.strip() and len(v) <= 5000  # noqa: E731
    if endpoint == "/api/mv/create_scenes":
        return text_ok(body.get("idea"))
    if endpoint == "/api/mv/generate_video":
        return text_ok(body.get("prompt"))
    if endpoint == "/api/mv/generate_character_reference":
        return text_ok(body.get("character_description"))
    return False


@pytest.fixture
def api_client(client, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    return client


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(endpoint=st.sampled_from(sorted(ENDPOINTS)), data=st.data())
def test_fuzzed_json_bodies_never_cause_a_500(api_client, endpoint, data):
    keys = ENDPOINTS[endpoint]
    body = data.draw(st.dictionaries(st.sampled_from(keys), values, max_size=len(keys)))
    if is_valid_generation(endpoint, body):
        return
    before = counts()
    raw = json.dumps(body, allow_nan=True)
    response = api_client.post(endpoint, raw, content_type="application/json", HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert 400 <= response.status_code < 500, (endpoint, body, response.content[:300])
    payload = response.json()
    assert payload["error"] and payload["message"]
    assert counts() == before


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b"\xff\xfe", b'{"idea": NaN}', b"1" * 10])
def test_malformed_json_is_a_400(api_client, raw):
    response = api_client.post("/api/mv/create_scenes", raw, content_type="application/json",
                               HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 400


def test_oversized_body_is_a_413(api_client):
    response = api_client.post("/api/mv/create_scenes", json.dumps({"idea": "x" * 6_000_000}),
                               content_type="application/json", HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 413


UNKNOWN = "5f0c2f4e-8a51-4d6e-9b1c-3c7d2e9a4b10"  # a fixed unknown id: parallel workers must collect the same tests


@pytest.mark.parametrize("path", ["/api/mv/get_video/not-a-uuid", f"/api/mv/get_video/{UNKNOWN}",
                                  "/api/mv/get_video/..%2F..%2Fetc%2Fpasswd", f"/api/audio/get/{UNKNOWN}",
                                  "/api/mv/get_character_reference/%00", f"/api/mv/projects/{UNKNOWN}"])
def test_unknown_and_malformed_ids_are_404(api_client, path):
    response = api_client.get(path, HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_truncated_media_upload_is_rejected(api_client, song_mp3, tmp_path, clip_mp4):
    broken = tmp_path / "broken.m4a"
    broken.write_bytes(clip_mp4.read_bytes()[:2000])
    with open(broken, "rb") as fh:
        response = api_client.post("/api/audio/upload", {"file": fh}, HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 201  # stored; the worker's checks refuse it
    tasks.import_track.call(track_id=response.json()["audio_id"])  # the worker's part (this queue only collects)
    body = api_client.get(response.json()["analysis_url"], HTTP_X_API_KEY="test-api-key").json()
    assert body["status"] == "failed" and body["error"]
    assert AudioTrack.objects.get().import_failed


# --- valid ids, bad times; huge strings; the page forms ---------------------------------------

bad_numbers = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -1.0, -1e-9, 1e308, 2**70, 10**6]),
    st.floats(max_value=-1e-6, allow_nan=False, allow_infinity=False),
    st.floats(min_value=40.5, max_value=1e12),  # past the 40 s track
    st.sampled_from(["nan", "inf", "-1", "1e999", "", "abc", None, [], {}]),
)
times = st.one_of(bad_numbers, st.floats(min_value=0, max_value=40))


@pytest.fixture
def owned(api_client, user, song_mp3):
    """A 40 s track and a finished clip that belong to the API user."""
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    api_user, _ = get_user_model().objects.get_or_create(username=django_settings.MV_API_USER)
    track = audio.import_upload(api_user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    clip = rendering.import_clip(api_user, make_clip(song_mp3.parent / "fuzz-clip.mp4", seconds=1.0))
    return {"track": track, "clip": clip}


def valid_span(start, end, length: float = 40.0) -> bool:
    ok = lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
    s = 0.0 if start is None else start
    return ok(s) and (end is None or ok(end)) and 0 <= s < (length if end is None else end) <= length + 1e-6


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.sampled_from(["lipsync", "trim", "stitch"]), start=times, end=times, data=st.data())
def test_valid_ids_with_bad_times_are_a_4xx(api_client, owned, which, start, end, data):
    track, clip = str(owned["track"].pk), str(owned["clip"].pk)
    if which == "stitch":
        if start is None or valid_span(start, None):
            return
        endpoint, body = "/api/mv/stitch-videos", {"video_ids": [clip], "audio_overlay_id": track, "audio_start": start}
    else:
        if valid_span(start, end) or (start is None and end is None):
            return
        endpoint, keys = {"lipsync": ("/api/mv/lipsync", ("video_id", "audio_id", "start_time", "end_time")),
                          "trim": ("/api/audio/trim", (None, "audio_id", "start_at", "end_at"))}[which]
        body = {k: v for k, v in zip(keys, (clip, track, start, end), strict=True) if k}
        if data.draw(st.booleans()):
            body = {k: v for k, v in body.items() if v is not None}
    before = counts()
    response = api_client.post(endpoint, json.dumps(body, allow_nan=True), content_type="application/json",
                               HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert 400 <= response.status_code < 500, (endpoint, body, response.status_code, response.content[:300])
    assert response.json()["message"]
    assert counts() == before


MEGA = "x" * 1_000_000  # a 1 MB string: under the 5 MB body limit, over every field's length limit


@pytest.mark.parametrize("endpoint,field,extra", [
    ("/api/mv/create_scenes", "idea", {}),
    ("/api/mv/create_scenes", "character_description", {"idea": "x"}),
    ("/api/mv/generate_video", "prompt", {}),
    ("/api/mv/generate_video", "negative_prompt", {"prompt": "x"}),
    ("/api/mv/generate_character_reference", "character_description", {}),
    ("/api/mv/create_scenes", "config_flavor", {"idea": "x"}),
    ("/api/audio/download", "url", {}),
])
def test_one_megabyte_strings_are_a_4xx(api_client, endpoint, field, extra):
    before = counts()
    response = api_client.post(endpoint, json.dumps(extra | {field: MEGA}), content_type="application/json",
                               HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert 400 <= response.status_code < 500 and response.json()["message"], (endpoint, field, response.status_code)
    assert counts() == before


# A form post is bytes: lone surrogates cannot be sent in one (they are a JSON-escape case).
form_values = st.one_of(scalars.filter(lambda v: v is not None and v not in ("\ud800", "x\udfff")), st.sampled_from([MEGA[:20_000], "\x00", "1e999"]))


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(["mode", "config_flavor", "audio_track_id", "audio_start",
                                               "video_description", "character_description", "character_image_id",
                                               "number_of_scenes"]), form_values, max_size=8),
       start=bad_numbers)
def test_fuzzed_create_form_is_an_error_on_the_page(alice_client, owned, fields, start):
    """The create form with a real song and bad start times or junk fields: the page again
    with an error, never a 5xx or a project."""
    alice = Project.objects.model._meta.get_field("owner").related_model.objects.get(username="alice")
    track = owned["track"]
    AudioTrack.objects.filter(pk=track.pk).update(owner=alice)
    post = {k: str(v) for k, v in fields.items()} | {"audio_track_id": str(track.pk),
                                                      "audio_start": "" if start is None else str(start)}
    post.setdefault("video_description", "an idea")
    if post["audio_start"] in ("", "[]", "{}"):
        post["audio_start"] = "-1"
    before = counts()
    response = alice_client.post("/create/submit/", post)
    TRIED["cases"] += 1
    assert response.status_code == 200, (post, response.status_code)
    assert 'role="alert"' in response.content.decode()  # the form again, with its error shown
    assert counts() == before


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(description=form_values, negative=form_values)
def test_fuzzed_prompt_save_never_fails_or_stores_junk(alice_client, user, description, negative):
    from mv import flavors
    from mv.models import Scene

    scene = Scene.objects.filter(project__owner=user).first()
    if scene is None:
        project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                          number_of_scenes=1)
        projects.request_scenes(project, flavors.resolve("default"))
        scene = project.scenes.get()
    saved = (scene.description, scene.negative_description)
    response = alice_client.post(f"/scenes/{scene.pk}/prompt/", {"description": str(description),
                                                                 "negative_description": str(negative)},
                                 HTTP_HX_REQUEST="true")
    TRIED["cases"] += 1
    assert response.status_code in (200, 400), response.status_code
    scene.refresh_from_db()
    now = (scene.description, scene.negative_description)
    assert now == saved or (now[0] == str(description).strip() and len(now[0]) <= 5000 and "\x00" not in now[0])


# --- the outside review's cases: huge integers, lone surrogates, deep nesting, on every endpoint ---

FLOAT_FIELDS = [("/api/mv/create_scenes", "wait", {"idea": "x"}), ("/api/mv/generate_video", "wait", {"prompt": "x"}),
                ("/api/mv/lipsync", "start_time", {}), ("/api/mv/lipsync", "end_time", {}),
                ("/api/mv/lipsync", "temperature", {}), ("/api/mv/stitch-videos", "audio_start", {}),
                ("/api/audio/trim", "start_at", {}), ("/api/audio/trim", "end_at", {"start_at": 0}),
                ("/api/mv/retry_video", "wait", {}), ("/api/mv/cancel_video", "wait", {}),
                ("/api/mv/generate_character_reference", "wait", {"character_description": "x"})]
TEXT_FIELDS = [("/api/mv/create_scenes", "idea", {}), ("/api/mv/create_scenes", "character_description", {"idea": "x"}),
               ("/api/mv/generate_video", "prompt", {}), ("/api/mv/generate_video", "negative_prompt", {"prompt": "x"}),
               ("/api/mv/generate_character_reference", "character_description", {}),
               ("/api/audio/download", "url", {}), ("/api/mv/create_scenes", "config_flavor", {"idea": "x"})]
POST_ENDPOINTS = sorted(ENDPOINTS) + ["/api/audio/download"]


@pytest.mark.parametrize("endpoint,field,extra", FLOAT_FIELDS)
def test_a_401_digit_integer_in_a_number_field_is_a_400(api_client, endpoint, field, extra):
    raw = json.dumps(extra)[:-1] + (", " if extra else "") + f'"{field}": {"9" * 401}}}'
    before = counts()
    response = api_client.post(endpoint, raw, content_type="application/json", HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 400 and response.json()["message"], (endpoint, field, response.status_code)
    assert counts() == before


@pytest.mark.parametrize("endpoint,field,extra", TEXT_FIELDS)
def test_a_lone_surrogate_in_a_text_field_is_a_400(api_client, endpoint, field, extra):
    raw = json.dumps(extra | {field: "a \ud800 b"})  # json.dumps writes it as the escape \ud800
    before = counts()
    response = api_client.post(endpoint, raw, content_type="application/json", HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 400 and response.json()["error"] == "invalid_json", (endpoint, field)
    assert counts() == before


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_a_body_nested_100000_levels_deep_is_a_400(api_client, endpoint):
    raw = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = api_client.post(endpoint, raw, content_type="application/json", HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 400 and response.json()["error"] == "invalid_json", endpoint


# --- the third review's 500s: huge Range numbers, trims near the end ----------------------------


@pytest.fixture
def media_urls(owned):
    """Every URL that serves a stored file, each with a file behind it."""
    from django.core.files.base import ContentFile

    image = CharacterImage.objects.create(owner=owned["clip"].owner, description="a fox", status="succeeded")
    image.file.save("fox.png", ContentFile(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200), save=True)
    clip, track = owned["clip"], owned["track"]
    return [f"/api/mv/get_video/{clip.pk}", f"/api/mv/get_video/{clip.pk}/poster", f"/api/audio/get/{track.pk}",
            f"/api/audio/waveform/{track.pk}", f"/api/mv/get_character_reference/{image.pk}"]


HUGE = "9" * 5000


@pytest.mark.parametrize("header,expected", [
    (f"bytes={HUGE}-", 416), (f"bytes=0-{HUGE}", 206), (f"bytes=-{HUGE}", 206), (f"bytes={HUGE}-{HUGE}", 416),
    ("bytes=" + "0" * 5000 + "1-", 206), (f"bytes=1-{'0' * 4999}2", 206),
])
def test_a_range_header_with_thousands_of_digits_is_answered_on_every_media_url(api_client, media_urls, header,
                                                                                  expected):
    for url, method in [(url, api_client.get) for url in media_urls] + [(media_urls[0], api_client.head)]:
        response = method(url, HTTP_X_API_KEY="test-api-key", HTTP_RANGE=header)
        TRIED["cases"] += 1
        assert response.status_code == expected, (url, header[:20], response.status_code)
        if expected == 416:
            assert response["Content-Range"].startswith("bytes */")
        else:
            span, size = response["Content-Range"].split()[1].split("/")
            first, last = (int(n) for n in span.split("-"))
            assert int(response["Content-Length"]) == last - first + 1
            assert (first, last) == ((1, 2) if header.endswith("2") else (1 if "1-" in header else 0, int(size) - 1))


@pytest.mark.parametrize("body", [{"start_at": 39.99}, {"start_at": 39.999999}, {"start_at": 0, "end_at": 1e-7},
                                  {"start_at": 12.5, "end_at": 12.6}])
def test_a_trim_too_short_to_be_a_song_is_a_400_that_says_so(api_client, owned, body):
    before = counts()
    response = api_client.post("/api/audio/trim", json.dumps(body | {"audio_id": str(owned["track"].pk)}),
                               content_type="application/json", HTTP_X_API_KEY="test-api-key")
    TRIED["cases"] += 1
    assert response.status_code == 400, (body, response.status_code, response.content[:200])
    assert response.json()["error"] == "trim_failed" and "at least 1 s" in response.json()["message"]
    assert counts() == before


def test_a_trim_whose_cut_fails_is_a_400_not_a_500(api_client, owned, monkeypatch):
    from mv import media

    def broken(*args, **kwargs):
        raise media.MediaError("ffmpeg failed", "exit 1")

    monkeypatch.setattr(media, "trim_audio", broken)
    response = api_client.post("/api/audio/trim", json.dumps({"audio_id": str(owned["track"].pk), "start_at": 10}),
                               content_type="application/json", HTTP_X_API_KEY="test-api-key")
    assert response.status_code == 400 and response.json()["error"] == "trim_failed"
    assert "could not be cut" in response.json()["message"]


@pytest.mark.parametrize("endpoint", POST_ENDPOINTS)
def test_a_json_body_sent_as_multipart_by_a_logged_in_caller_is_a_400(user, endpoint):
    """Found by scripts/fuzz_live.py: with a session the CSRF check reads the body as a form
    first, and the API then could not read it as JSON (a 500)."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/create/")
    token = client.cookies["csrftoken"].value
    response = client.post(endpoint, json.dumps({"url": "x", "prompt": "x"}),
                           content_type="multipart/form-data; boundary=xyz", HTTP_X_CSRFTOKEN=token)
    TRIED["cases"] += 1
    assert response.status_code == 400 and response.json()["error"] == "invalid_json", (endpoint, response.status_code)


range_values = st.one_of(
    st.from_regex(r"bytes=[0-9]{0,40}-[0-9]{0,40}", fullmatch=True),
    st.builds(lambda a, b, sep: f"bytes={'9' * a}{sep}{'1' * b}", st.integers(0, 6000), st.integers(0, 6000),
              st.sampled_from(["-", "--", ",", "-,", ""])),
    st.text(max_size=40).map(lambda t: "bytes=" + t),
)


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=range_values, which=st.integers(0, 4))
def test_fuzzed_range_headers_are_answered_200_206_or_416(api_client, media_urls, header, which):
    try:
        response = api_client.get(media_urls[which], HTTP_X_API_KEY="test-api-key", HTTP_RANGE=header)
    except UnicodeEncodeError:  # no client can send it
        return
    TRIED["cases"] += 1
    assert response.status_code in (200, 206, 416), (header[:40], response.status_code)
    if response.status_code == 206:
        first, last = (int(n) for n in response["Content-Range"].split()[1].split("/")[0].split("-"))
        assert int(response["Content-Length"]) == last - first + 1 > 0


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False),
              st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payload=st.one_of(json_values, st.fixed_dictionaries(
    {"id": st.text(max_size=30)}, optional={"status": json_values, "output": json_values, "error": json_values,
                                            "metrics": json_values, "logs": json_values, "urls": json_values})),
       depth=st.sampled_from([0, 0, 0, 2000, 6000]))
def test_fuzzed_signed_webhook_bodies_are_a_200_or_a_4xx(fake_replicate, client, settings, payload, depth):
    from tests.fakes.webhooks import signed_headers

    settings.MV_PUBLIC_URL = "http://127.0.0.1:9"
    settings.REPLICATE_WEBHOOK_SECRET = fake_replicate.webhook_secret
    raw = json.dumps(payload).encode()
    if depth:
        raw = b'{"id": "x", "output": ' + b"[" * depth + b"]" * depth + b"}"
    headers = {k: v for k, v in signed_headers(fake_replicate.webhook_secret, raw).items() if k != "Content-Type"}
    response = client.post("/api/replicate/webhook", raw, content_type="application/json", headers=headers)
    TRIED["cases"] += 1
    assert response.status_code in (200, 400), (raw[:100], response.status_code)
