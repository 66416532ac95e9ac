"""The fake Replicate checks every create against the real model's published input schema."""

from __future__ import annotations

import datetime
import re
import wave

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError

from mv import flavors
from mv.providers import ProviderError, get_provider
from mv.providers.base import ClipRequest, LipsyncRequest, MusicRequest, SceneRequest, StartFrameRequest
from tests.fakes.media import fake_image, fake_video
from tests.fakes.model_schemas import SCHEMA_DIR, load, schemas
from tests.fakes.replicate_server import KINDS

WHISPER = "openai/whisper"


def create(fake, model: str, data: dict) -> httpx.Response:
    """A raw create, to read the 422 body the client turns into a ReplicateError."""
    fake.invalid_creates_expected = True
    return httpx.post(f"{fake.url}/v1/models/{model}/predictions", json={"input": data},
                      headers={"Authorization": f"Bearer {fake.token}"})


def refused(fake, model: str, data: dict) -> list[dict]:
    response = create(fake, model, data)
    body = response.json()
    assert response.status_code == 422 and body["title"] == "Input validation failed", body
    assert response.headers["Content-Type"] == "application/problem+json"
    for problem in body["invalid_fields"]:
        assert f"- {problem['field']}: {problem['description']}" in body["detail"]
    return body["invalid_fields"]


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_each_schema_file_loads_and_says_where_its_fields_come_from(path):
    schema = load(path)
    assert path.stem == schema.model.replace("/", "__")
    assert schema.source and all(len(line) > 20 for line in schema.source)
    # the reference doc first, then what it cites; a model the reference does not cover: its Replicate page first
    assert "replicate-api.md section" in schema.source[0] or schema.source[0].startswith(f"replicate.com/{schema.model}")
    datetime.date.fromisoformat(schema.date)
    assert schema.input["type"] == "object" and schema.input["additionalProperties"] is False
    for name in schema.input["required"]:
        assert name in schema.input["properties"]
    if not schema.official:
        assert re.fullmatch(r"[0-9a-f]{64}", schema.version or ""), "a community model is created by its version"


def test_every_model_a_flavor_names_has_a_schema_and_the_fake_serves_only_those():
    named = {flavors.resolve(name).values["image_params"][key].partition(":")[0] for name in flavors.names()
             for key in ("scene_model", "model", "video_model", "lipsync_model", "lyrics_model", "start_frame_model",
                         "stems_model", "music_model")}
    assert named <= set(schemas())
    for name in flavors.names():  # a community model is named with the version its schema is for
        for key in ("lyrics_model", "stems_model"):
            model, _, version = flavors.resolve(name).values["image_params"][key].partition(":")
            assert schemas()[model].official or version == schemas()[model].version
    assert set(KINDS) == set(schemas())
    assert {"openai/gpt-4o-mini", "google/imagen-4", "google/veo-3.1", "sync/lipsync-2-pro", WHISPER,
            "google/nano-banana", "cjwbw/demucs"} <= set(schemas())


def test_an_unknown_input_is_refused_even_one_the_model_would_ignore(fake_replicate):
    problems = refused(fake_replicate, "google/imagen-4", {"prompt": "a drummer", "seed": 7})
    assert problems == [{"type": "additional_property_not_allowed", "field": "input",
                         "description": "Additional property seed is not allowed"}]
    assert fake_replicate.creates() == 0 and fake_replicate.invalid_creates[0]["model"] == "google/imagen-4"


def test_lipsync_models_have_no_occlusion_detection(fake_replicate):
    for model in ("sync/lipsync-2", "sync/lipsync-2-pro"):
        problems = refused(fake_replicate, model, {"video": "https://example.com/v.mp4",
                                                   "audio": "https://example.com/a.wav", "occlusion_detection": True})
        assert [p["description"] for p in problems] == ["Additional property occlusion_detection is not allowed"]


def test_a_value_outside_an_enum_is_refused(fake_replicate):
    problems = refused(fake_replicate, "google/veo-3.1", {"prompt": "x", "duration": 5, "aspect_ratio": "1:1"})
    assert problems == [
        {"type": "enum", "field": "input.aspect_ratio",
         "description": 'aspect_ratio must be one of the following: "16:9", "9:16"'},
        {"type": "enum", "field": "input.duration", "description": "duration must be one of the following: 4, 6, 8"},
    ]


def test_a_number_out_of_range_is_refused(fake_replicate):
    video = {"video": "https://example.com/v.mp4", "audio": "https://example.com/a.wav"}
    assert refused(fake_replicate, "sync/lipsync-2-pro", {**video, "temperature": 1.5}) == [
        {"type": "number_lte", "field": "input.temperature", "description": "Must be less than or equal to 1"}]
    assert refused(fake_replicate, "openai/gpt-4o-mini", {"prompt": "x", "temperature": -0.1}) == [
        {"type": "number_gte", "field": "input.temperature", "description": "Must be greater than or equal to 0"}]


def test_a_missing_required_input_is_refused(fake_replicate):
    assert refused(fake_replicate, "google/imagen-4", {"aspect_ratio": "1:1"}) == [
        {"type": "required", "field": "input", "description": "prompt is required"}]
    problems = refused(fake_replicate, "sync/lipsync-2", {"video": "https://example.com/v.mp4"})
    assert [p["description"] for p in problems] == ["audio is required"]


def test_a_wrong_type_is_refused_and_a_file_must_be_a_url(fake_replicate):
    problems = refused(fake_replicate, "google/veo-3.1", {"prompt": "x", "duration": "8", "generate_audio": "yes",
                                                          "image": "frame.png"})
    assert {"type": "invalid_type", "field": "input.generate_audio",
            "description": "Invalid type. Expected: boolean, given: string"} in problems
    assert {"type": "format", "field": "input.image", "description": "Does not match format 'uri'"} in problems
    assert any(p["field"] == "input.duration" and p["type"] == "invalid_type" for p in problems)


def test_reference_images_only_go_with_16_9_and_8_seconds(fake_replicate):
    images = ["https://example.com/a.png"]
    problems = refused(fake_replicate, "google/veo-3.1", {"prompt": "x", "reference_images": images, "duration": 4})
    assert problems == [{"type": "const", "field": "input.duration",
                         "description": "duration must be 8 when reference_images is given"}]
    fake_replicate.invalid_creates_expected = False
    assert create(fake_replicate, "google/veo-3.1", {"prompt": "x", "reference_images": images}).status_code == 201


def test_the_provider_reports_a_refused_input_in_the_models_words(fake_replicate, tmp_path):
    fake_replicate.invalid_creates_expected = True
    # (a duration Veo does not make is rounded up to one it does, so a format is what gets refused here)
    with pytest.raises(ProviderError, match=r"The model rejected the input: - input.aspect_ratio: aspect_ratio must be one of"):
        get_provider().start_clip(flavors.resolve("default"), ClipRequest(prompt="x", aspect_ratio="4:3"), workdir=tmp_path)
    assert fake_replicate.creates() == 0


def test_whisper_is_created_by_its_version_not_by_name(fake_replicate):
    client = replicate.Client(api_token=fake_replicate.token, base_url=fake_replicate.url)
    version = schemas()[WHISPER].version
    fake_replicate.transcriptions.append({"detected_language": "english", "transcription": " la la",
                                          "segments": [{"id": 0, "start": 1.0, "end": 2.5, "text": " la la"}]})
    output = client.run(f"{WHISPER}:{version}", input={"audio": "https://example.com/song.mp3", "language": "en"})
    assert output["segments"][0]["start"] == 1.0
    (prediction,) = fake_replicate.predictions.values()
    assert prediction.model == WHISPER and client.predictions.get(prediction.id).version == version
    fake_replicate.invalid_creates_expected = True
    with pytest.raises(ReplicateError) as by_name:
        client.predictions.create(model=WHISPER, input={"audio": "https://example.com/song.mp3"})
    assert by_name.value.status == 404  # a community model: no create by name
    with pytest.raises(ReplicateError) as old_input:
        client.predictions.create(version=version, input={"audio": "https://example.com/s.mp3", "word_timestamps": True})
    assert old_input.value.status == 422 and "word_timestamps" in old_input.value.detail


def test_the_422_lists_every_problem_at_once(fake_replicate):
    problems = refused(fake_replicate, "google/imagen-4", {"prompt": "x", "output_format": "webp", "seed": 1})
    assert [(p["type"], p["field"]) for p in problems] == [("additional_property_not_allowed", "input"),
                                                           ("enum", "input.output_format")]


@pytest.mark.parametrize("name", flavors.names())
def test_every_input_the_app_builds_from_a_flavor_passes_the_models_schemas(fake_replicate, tmp_path, name):
    """Every kind of create, with every optional input the app can send, from each flavor's config."""
    flavor = flavors.resolve(name)
    params = flavor.values["image_params"]
    provider = get_provider()
    provider.start_scenes(flavor, SceneRequest(idea="a kite", character_description="a girl", character_characteristics="bold",
                                               number_of_scenes=2, video_type="music video", video_characteristics="sunny",
                                               camera_angle="low"))
    provider.start_image(flavor, "a drummer", seed=3, workdir=tmp_path)
    reference = tmp_path / "reference.png"
    reference.write_bytes(fake_image(tmp_path))
    provider.start_clip(flavor, ClipRequest(prompt="a kite", negative_prompt="blur", aspect_ratio=params["video_aspect_ratio"],
                                            duration=params["video_duration"], seed=5, reference_image=reference),
                        workdir=tmp_path)
    video = tmp_path / "clip.mp4"
    video.write_bytes(fake_video(tmp_path, 1, "16:9"))
    audio = tmp_path / "slice.wav"
    with wave.open(str(audio), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 8000)
    provider.start_lipsync(flavor, LipsyncRequest(video=video, audio=audio, temperature=0.3, active_speaker_detection=True,
                                                  occlusion_detection_enabled=False), workdir=tmp_path)
    provider.start_lyrics(flavor, audio, workdir=tmp_path)
    provider.start_start_frame(flavor, StartFrameRequest(reference, "a kite", "9:16"), workdir=tmp_path)
    provider.start_stems(flavor, audio, workdir=tmp_path)
    provider.start_clip(flavor, ClipRequest(prompt="a kite", aspect_ratio="9:16", duration=6, start_image=reference),
                        workdir=tmp_path)  # a clip that starts from a start frame (image)
    provider.start_music(flavor, MusicRequest(prompt="a marching band", duration=12.4, lyrics="la la"), workdir=tmp_path)
    models = {p.model for p in fake_replicate.predictions.values()}
    assert models == {params[key].partition(":")[0]
                      for key in ("scene_model", "model", "video_model", "lipsync_model", "lyrics_model", "start_frame_model",
                                  "stems_model", "music_model")}
    assert not fake_replicate.invalid_creates
    clip = fake_replicate.requests_to("POST", rf"/v1/models/{params['video_model']}/predictions$")[0]["json"]["input"]
    assert clip["seed"] == 5 and clip["negative_prompt"] == "blur"  # the optional inputs were sent, and passed
    with_references = params["video_aspect_ratio"] == "16:9" and params["video_duration"] == 8
    assert len(clip.get("reference_images", [])) == (1 if with_references else 0)
    started = fake_replicate.requests_to("POST", rf"/v1/models/{params['video_model']}/predictions$")[1]["json"]["input"]
    assert started["image"].startswith(fake_replicate.url) and "reference_images" not in started
