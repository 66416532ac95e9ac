"""Bad input, generated: always a 4xx with a clear message, never a 500, never a partial row."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mv.models import AudioTrack, CharacterImage, Clip, Project, Stitch

pytestmark = pytest.mark.slow

TRIED = {"cases": 0}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", " ", "../../etc/passwd", "nan", "1e999", "-1", str(uuid.uuid4()), "x" * 300,
                     "default", "mv1", "../mv1", "a b"]),
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


@pytest.mark.parametrize("path", ["/api/mv/get_video/not-a-uuid", f"/api/mv/get_video/{uuid.uuid4()}",
                                  "/api/mv/get_video/..%2F..%2Fetc%2Fpasswd", f"/api/audio/get/{uuid.uuid4()}",
                                  "/api/mv/get_character_reference/%00", f"/api/mv/projects/{uuid.uuid4()}"])
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
    assert response.status_code == 400 and AudioTrack.objects.count() == 0
