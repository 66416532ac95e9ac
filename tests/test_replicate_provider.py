"""The Replicate provider through the real replicate client, against the fake server."""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from mv import flavors, media, tasks
from mv.models import CharacterImage, Clip, JobStatus, Project, Scene, SceneWriting
from mv.pipeline import characters, projects, rendering
from mv.providers import ProviderError, get_provider
from mv.providers.base import ClipRequest, LipsyncRequest, SceneRequest, parse_scenes
from tests.factories import advance

from .conftest import dominant_hz


def scene_request(n: int = 2) -> SceneRequest:
    return SceneRequest(idea="a kite festival", character_description="a girl in yellow", character_characteristics="bold",
                        number_of_scenes=n, video_type="music video", video_characteristics="sunny", camera_angle="low")


def write(provider, flavor: str, request: SceneRequest) -> list:
    """Start the scene writer and poll it to the end, as the pipeline's steps do."""
    update = provider.start_scenes(flavors.resolve(flavor), request)
    for _ in range(200):
        if update.state != "running":
            break
        time.sleep(0.01)
        update = provider.poll_text(update.prediction_id)
    if update.state != "succeeded":
        raise ProviderError(update.error)
    return parse_scenes(update.text, request.number_of_scenes)


def test_scene_writer_gets_the_flavors_prompt_and_parses_fenced_json(fake_replicate):
    scenes = {"scenes": [{"description": "one", "negative_description": "n1"},
                         {"description": "two", "negative_description": "n2"}]}
    fake_replicate.script_llm("```json\n" + json.dumps(scenes) + "\n```")  # the fake answers in 7-character chunks
    written = write(get_provider(), "mv1", scene_request())
    assert [s.description for s in written] == ["one", "two"]
    prompt = fake_replicate.llm_inputs()[0]["prompt"]
    assert "live-performance music video" in prompt and "a kite festival" in prompt and "exactly 2 scenes" in prompt


@pytest.mark.parametrize("junk, message", [("Sure! Here are scenes", "not JSON"),
                                            ('{"scenes": "no"}', "no \"scenes\" list"),
                                            ('{"scenes": [{"description": "only one"}]}', "1 scenes; 2 were asked")])
def test_scene_writer_junk_is_a_clear_error(fake_replicate, junk, message):
    fake_replicate.script_llm(junk)
    with pytest.raises(ProviderError, match=message):
        write(get_provider(), "default", scene_request())


def test_clip_is_created_polled_and_downloaded(fake_replicate, tmp_path):
    provider = get_provider()
    started = provider.start_clip(flavors.resolve("default"), ClipRequest(prompt="a kite", duration=4), workdir=tmp_path)
    assert started.state == "running" and started.prediction_id
    sent = fake_replicate.requests_to("POST", r"/v1/models/google/veo-3.1/predictions")[0]["json"]["input"]
    assert sent["duration"] == 4 and sent["resolution"] == "720p"
    update = started
    for _ in range(200):
        update = provider.poll(started.prediction_id, workdir=tmp_path)
        if update.state != "running":
            break
    assert update.state == "succeeded"
    assert abs(media.probe(update.output_path).video.duration - 4) < 0.1


def test_create_retries_a_429_then_succeeds(fake_replicate, tmp_path):
    fake_replicate.http_error("POST", r"/predictions$", 429, times=2, headers={"Retry-After": "0"},
                              body={"detail": "Request was throttled. Your rate limit resets in ~0s.", "status": 429})
    started = get_provider().start_clip(flavors.resolve("default"), ClipRequest(prompt="x"), workdir=tmp_path)
    assert started.prediction_id and fake_replicate.creates() == 1


def test_create_is_not_retried_after_a_500(fake_replicate, tmp_path):
    fake_replicate.http_error("POST", r"/predictions$", 500, times=1)
    with pytest.raises(ProviderError, match="server error"):
        get_provider().start_clip(flavors.resolve("default"), ClipRequest(prompt="x"), workdir=tmp_path)
    assert len(fake_replicate.requests_to("POST", r"/predictions$")) == 1


def test_a_create_whose_answer_is_lost_says_the_prediction_may_exist(fake_replicate, tmp_path):
    fake_replicate.drop_connection("POST", r"/predictions$", after=True)
    with pytest.raises(ProviderError, match="may have been created and be running at Replicate"):
        get_provider().start_clip(flavors.resolve("default"), ClipRequest(prompt="x"), workdir=tmp_path)
    assert fake_replicate.creates() == 1  # created once, never again by a retry


def test_bad_token_is_a_clear_error(fake_replicate, settings, tmp_path):
    settings.REPLICATE_API_TOKEN = "wrong"
    with pytest.raises(ProviderError, match="rejected the API token"):
        get_provider().start_clip(flavors.resolve("default"), ClipRequest(prompt="x"), workdir=tmp_path)


def test_a_project_renders_through_replicate(fake_replicate, user):
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=3)
    projects.start_project(project)
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.READY
    clips = Clip.objects.filter(scene__project=project)
    assert clips.count() == 3 and all(c.status == JobStatus.SUCCEEDED and c.prediction_id for c in clips)
    assert fake_replicate.creates("google/veo-3.1") == 3
    assert project.stitches.get().status == JobStatus.SUCCEEDED


def test_failed_prediction_keeps_the_previous_clip(fake_replicate, user):
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=1)
    projects.start_project(project)
    scene = project.scenes.get()
    previous = scene.current_clip_id
    fake_replicate.fail_next("google/veo-3.1", "E6716: content policy")
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="again", scene=scene)
    clip.refresh_from_db()
    scene.refresh_from_db()
    assert clip.status == JobStatus.FAILED and "content policy" in clip.error
    assert scene.current_clip_id == previous and clip.parent_id == previous


def test_lipsync_uploads_the_exact_slice(fake_replicate, user, song_mp3):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from mv import audio

    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    project = projects.create_project(owner=user, video_description="x", flavor=flavors.resolve("default"),
                                      number_of_scenes=1, audio_track=track, song_end=8.0)
    projects.start_project(project)
    scene = project.scenes.get()
    clip = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=scene.current_clip,
                                    audio_track=track, start_time=8.0, end_time=12.5)
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED, clip.error
    sent = fake_replicate.requests_to("POST", r"/v1/models/sync/lipsync-2-pro/predictions")[0]["json"]["input"]
    assert set(sent) == {"video", "audio", "sync_mode", "temperature", "active_speaker"}
    assert sent["sync_mode"] == "cut_off" and sent["temperature"] == 0.5 and sent["active_speaker"] is False
    wav = fake_replicate.uploaded(sent["audio"])
    out = clip.file.path
    slice_path = clip.audio_slice.path
    assert wav == open(slice_path, "rb").read()
    assert abs(media.probe(slice_path).duration - 4.5) < 0.001
    assert abs(dominant_hz(wav) - 440) < 3  # 8-12.5 s is the song's second tone
    assert media.probe(out).audio is not None


def test_a_stored_lipsync_asking_for_occlusion_detection_fails_without_a_create(fake_replicate, tmp_path):
    request = LipsyncRequest(video=tmp_path / "clip.mp4", audio=tmp_path / "slice.wav", occlusion_detection_enabled=True)
    with pytest.raises(ProviderError, match="sync/lipsync-2-pro has no occlusion detection"):
        get_provider().start_lipsync(flavors.resolve("default"), request, workdir=tmp_path)
    assert fake_replicate.creates() == 0


def test_never_finishing_prediction_is_cancelled_at_the_deadline(fake_replicate, user, settings):
    settings.MV_PREDICTION_TIMEOUT = 0.3
    fake_replicate.never_finish_models.add("google/veo-3.1")
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="forever")
    clip.refresh_from_db()
    assert clip.status == JobStatus.FAILED and "timed out" in clip.error.lower()
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{clip.prediction_id}/cancel")


@pytest.mark.parametrize("knob, message", [("output_404", "could not be downloaded"), ("output_not_video", "not a playable video")])
def test_bad_outputs_fail_the_clip_cleanly(fake_replicate, user, knob, message):
    setattr(fake_replicate, knob, True)
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="x")
    clip.refresh_from_db()
    assert clip.status == JobStatus.FAILED and message in clip.error
    assert not clip.file


@pytest.mark.parametrize("shape", ["list", "data"])
def test_outputs_as_a_list_or_a_data_url_are_downloaded(fake_replicate, tmp_path, shape, clip_mp4):
    import base64

    from replicate.helpers import FileOutput

    provider = get_provider()
    started = provider.start_clip(flavors.resolve("default"), ClipRequest(prompt="x", duration=4), workdir=tmp_path)
    url = fake_replicate.as_json(fake_replicate.predictions[started.prediction_id])["urls"]["get"]
    delivered = f"{fake_replicate.url}/delivery/{started.prediction_id}/output.mp4"
    data_url = "data:video/mp4;base64," + base64.b64encode(clip_mp4.read_bytes()).decode()
    output = [delivered] if shape == "list" else FileOutput(data_url, provider.client)
    path = provider._download(output, tmp_path / "out.mp4")
    assert media.probe(path).video is not None and url


def test_over_https_outputs_are_fetched_with_the_token(fake_replicate_tls, user):
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="tls", duration=4)
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED, clip.error
    delivery = fake_replicate_tls.requests_to("GET", r"^/delivery/")[0]
    assert delivery["headers"]["Authorization"] == f"Bearer {fake_replicate_tls.token}"
    assert fake_replicate_tls.url.startswith("https://")


LLM = "openai/gpt-4o-mini"
THROTTLED = {"detail": "Request was throttled. Your rate limit resets in ~0s.", "status": 429}


def test_scene_writer_retries_a_429_on_create(fake_replicate):
    fake_replicate.http_error("POST", rf"/v1/models/{LLM}/predictions$", 429, times=2, headers={"Retry-After": "0"},
                              body=THROTTLED)
    assert len(write(get_provider(), "default", scene_request())) == 2
    assert len(fake_replicate.requests_to("POST", rf"/v1/models/{LLM}/predictions$")) == 3
    assert fake_replicate.creates(LLM) == 1


DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
IMMEDIATE_TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def writing_project(user, scenes: int = 2) -> Project:
    project = projects.create_project(owner=user, video_description="a kite festival",
                                      flavor=flavors.resolve("default"), number_of_scenes=scenes)
    projects.request_scenes(project, flavors.resolve("default"))
    project.refresh_from_db()
    return project


def plan(project: Project) -> SceneWriting:
    """The project's scene-plan writing, as stored now."""
    return SceneWriting.objects.filter(project=project, scene__isnull=True).latest("created_at")


def until_done(row) -> None:
    for _ in range(200):
        if advance(row):
            return
        time.sleep(0.01)
    raise AssertionError("still running")


def test_scene_writing_is_started_then_polled_and_its_prediction_id_is_stored_first(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS  # nothing runs by itself: each step is taken here
    fake_replicate.hold(LLM)
    project = writing_project(user)
    assert advance(plan(project)) is False  # started: the worker is free again
    project.refresh_from_db()
    (prediction,) = fake_replicate.predictions.values()
    assert plan(project).prediction_id == prediction.id and plan(project).deadline_at
    assert project.scenes_status == Project.ScenesStatus.WRITING and not fake_replicate.finished(prediction.id)
    assert advance(plan(project)) is False  # one poll: still running, nothing waited
    fake_replicate.release(LLM)
    until_done(plan(project))
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.READY, project.scenes_error
    assert [s.description for s in project.scenes.all()] == ["Fake scene 1: a shot of the idea",
                                                             "Fake scene 2: a shot of the idea"]
    assert fake_replicate.creates(LLM) == 1


def test_a_transient_error_while_polling_the_scene_writer_polls_again(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS
    fake_replicate.hold(LLM)
    project = writing_project(user)
    assert advance(plan(project)) is False  # started
    fake_replicate.http_error("GET", r"/v1/predictions/", 503, times=1)
    assert advance(plan(project)) is False  # the 503 poll: still writing, not failed
    assert fake_replicate.http_errors[-1]["times"] == 0  # the 503 was really answered
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.WRITING and not project.scenes_error
    fake_replicate.release(LLM)
    until_done(plan(project))
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.READY and fake_replicate.creates(LLM) == 1


def test_the_scene_task_reenqueues_itself_deferred_instead_of_waiting(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS
    fake_replicate.hold(LLM)  # if the task waited on the model, it would never return
    project = writing_project(user)
    backend = tasks.advance_prediction.get_backend()
    backend.clear()
    before = timezone.now()
    writing = plan(project)
    token = str(writing.poll_token)
    tasks.advance_prediction.call(kind="scenewriting", pk=str(writing.pk), token=token)
    (again,) = backend.results
    assert again.kwargs == {"kind": "scenewriting", "pk": str(writing.pk), "token": token}
    assert again.task.run_after > before
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.WRITING and plan(project).prediction_id


def test_a_restarted_worker_resumes_scene_writing_from_its_prediction_id(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS
    fake_replicate.hold(LLM)
    project = writing_project(user)
    writing = plan(project)
    old_token = str(writing.poll_token)
    assert advance(plan(project)) is False  # started; then the worker died
    fake_replicate.release(LLM)
    settings.TASKS = IMMEDIATE_TASKS
    assert tasks.resume_interrupted() == 1  # the new worker resumes it in a new poll chain
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.READY, project.scenes_error
    assert project.scenes.count() == 2 and fake_replicate.creates(LLM) == 1  # resumed, not paid twice
    polls = len(fake_replicate.requests_to("GET", r"/v1/predictions/"))
    tasks.advance_prediction.call(kind="scenewriting", pk=str(writing.pk), token=old_token)  # the chain from before the restart ends
    assert len(fake_replicate.requests_to("GET", r"/v1/predictions/")) == polls


def test_a_scene_writer_start_cut_off_before_its_create_is_started_again_once(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS
    project = writing_project(user)
    SceneWriting.objects.filter(project=project).update(  # its worker died before sending the create
        started_at=timezone.now() - timedelta(seconds=settings.MV_START_GRACE + 1), started_by="")
    settings.TASKS = IMMEDIATE_TASKS
    tasks.resume_interrupted()
    project.refresh_from_db()
    assert project.scenes_status == Project.ScenesStatus.READY, project.scenes_error
    assert fake_replicate.creates() == 1


def test_scene_writing_past_its_deadline_is_cancelled_and_failed(fake_replicate, user, settings):
    settings.MV_PREDICTION_TIMEOUT = 0.3
    fake_replicate.never_finish_models.add(LLM)
    project = writing_project(user)  # ImmediateBackend: the chain runs here, polling until the deadline
    assert project.scenes_status == Project.ScenesStatus.FAILED and "timed out" in project.scenes_error.lower()
    (prediction,) = fake_replicate.predictions.values()
    assert plan(project).prediction_id == prediction.id  # kept although it never finished
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{prediction.id}/cancel")


@pytest.mark.parametrize("junk, message", [("Sure! Here are scenes", "not JSON"),
                                            ('{"scenes": [{"description": "only one"}]}', "1 scenes; 2 were asked")])
def test_junk_from_the_scene_writer_fails_the_project_clearly(fake_replicate, user, junk, message):
    fake_replicate.script_llm(junk)
    project = writing_project(user)
    assert project.scenes_status == Project.ScenesStatus.FAILED and message in project.scenes_error
    assert not project.scenes.exists()


def test_a_failed_scene_writer_prediction_is_a_clear_error(fake_replicate, user):
    fake_replicate.fail_next(LLM, "E9999: the LLM fell over")
    project = writing_project(user)
    assert project.scenes_status == Project.ScenesStatus.FAILED
    assert "The scene writer failed: E9999" in project.scenes_error


def ready_project(user) -> Project:
    project = writing_project(user)
    assert project.scenes_status == Project.ScenesStatus.READY, project.scenes_error
    return project


def test_a_scene_rewrite_is_started_then_polled_and_changes_only_that_scene(fake_replicate, user, settings):
    project = ready_project(user)
    settings.TASKS = DUMMY_TASKS
    first, second = project.scenes.order_by("position")
    fake_replicate.hold(LLM)
    fake_replicate.script_llm(json.dumps({"scenes": [{"description": "new one"}, {"description": "new two"}]}))
    projects.rewrite_scene(second, flavors.resolve("default"))
    assert advance(second.rewrite) is False  # started, not waited on
    second.refresh_from_db()
    prediction = fake_replicate.predictions[second.rewrite.prediction_id]
    assert second.prompt_status == Scene.PromptStatus.WRITING and second.rewrite.deadline_at
    assert not fake_replicate.finished(prediction.id)
    assert advance(second.rewrite) is False
    fake_replicate.release(LLM)
    until_done(second.rewrite)
    second.refresh_from_db()
    first.refresh_from_db()
    assert second.prompt_status == Scene.PromptStatus.READY and second.description == "new two"
    assert first.description == "Fake scene 1: a shot of the idea"
    assert fake_replicate.creates(LLM) == 2  # the project's write, then this rewrite


def test_a_restarted_worker_resumes_a_scene_rewrite_from_its_prediction_id(fake_replicate, user, settings):
    project = ready_project(user)
    settings.TASKS = DUMMY_TASKS
    scene = project.scenes.get(position=0)
    fake_replicate.hold(LLM)
    projects.rewrite_scene(scene, flavors.resolve("default"))
    assert advance(scene.rewrite) is False
    fake_replicate.release(LLM)
    settings.TASKS = IMMEDIATE_TASKS
    assert tasks.resume_interrupted() == 1
    scene.refresh_from_db()
    assert scene.prompt_status == Scene.PromptStatus.READY, scene.rewrite.error
    assert fake_replicate.creates(LLM) == 2


def test_a_scene_rewrite_past_its_deadline_is_cancelled_and_failed(fake_replicate, user, settings):
    project = ready_project(user)
    scene = project.scenes.get(position=1)
    settings.MV_PREDICTION_TIMEOUT = 0.3
    fake_replicate.never_finish_models.add(LLM)
    projects.rewrite_scene(scene, flavors.resolve("default"))
    scene.refresh_from_db()
    assert scene.prompt_status == Scene.PromptStatus.FAILED and "timed out" in scene.rewrite.error.lower()
    assert scene.description == "Fake scene 2: a shot of the idea"  # the old prompt stays
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{scene.rewrite.prediction_id}/cancel")


def test_junk_from_a_scene_rewrite_fails_that_scene_clearly(fake_replicate, user):
    project = ready_project(user)
    scene = project.scenes.get(position=0)
    fake_replicate.script_llm("I cannot help with that.")
    projects.rewrite_scene(scene, flavors.resolve("default"))
    scene.refresh_from_db()
    assert scene.prompt_status == Scene.PromptStatus.FAILED and "not JSON" in scene.rewrite.error
    assert scene.description == "Fake scene 1: a shot of the idea"


IMAGE = "google/imagen-4"


def one_image(user, flavor: str = "default") -> CharacterImage:
    (image,) = characters.request_character_images(owner=user, flavor=flavors.resolve(flavor), description="a drummer",
                                                 num_images=1)
    image.refresh_from_db()
    return image


def advance_until_done(image: CharacterImage) -> None:
    for _ in range(200):
        if advance(image):
            break
        time.sleep(0.01)
    image.refresh_from_db()


def test_an_image_is_started_then_polled_and_its_prediction_id_is_stored_first(fake_replicate, alice_client, user,
                                                                                 settings):
    settings.TASKS = DUMMY_TASKS  # nothing runs by itself: each step is taken here
    fake_replicate.hold(IMAGE)
    image = one_image(user)
    assert advance(image) is False  # started: the worker is free again
    image.refresh_from_db()
    (prediction,) = fake_replicate.predictions.values()
    assert image.status == JobStatus.RUNNING and image.prediction_id == prediction.id and image.deadline_at
    assert not fake_replicate.finished(prediction.id)
    assert image.input["sent"]["prompt"] == image.prompt and image.input["sent"]["output_format"] == "png"
    assert advance(image) is False  # one poll: still running
    fake_replicate.release(IMAGE)
    advance_until_done(image)
    assert image.status == JobStatus.SUCCEEDED, image.error
    assert image.file.name.endswith(".png") and image.file.read(8) == b"\x89PNG\r\n\x1a\n"
    assert fake_replicate.creates(IMAGE) == 1
    assert alice_client.get(f"/api/mv/get_character_reference/{image.pk}")["Content-Type"] == "image/png"


def test_the_image_task_reenqueues_itself_deferred_instead_of_waiting(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS
    fake_replicate.hold(IMAGE)  # if the task waited on the model, it would never return
    image = one_image(user)
    backend = tasks.advance_prediction.get_backend()
    backend.clear()
    before = timezone.now()
    token = str(image.poll_token)
    tasks.advance_prediction.call(kind="characterimage", pk=str(image.pk), token=token)
    (again,) = backend.results
    assert again.kwargs == {"kind": "characterimage", "pk": str(image.pk), "token": token}
    assert again.task.run_after > before
    image.refresh_from_db()
    assert image.status == JobStatus.RUNNING and image.prediction_id


def test_a_seed_is_not_sent_to_imagen_which_has_no_seed_input(fake_replicate, user):
    images = characters.request_character_images(owner=user, flavor=flavors.resolve("default"), description="a drummer",
                                                 num_images=2, seed=41)
    for image in images:
        image.refresh_from_db()
        assert image.status == JobStatus.SUCCEEDED, image.error
        assert "seed" not in image.input["sent"]
    sent = [r["json"]["input"] for r in fake_replicate.requests_to("POST", r"/v1/models/google/imagen-4/predictions$")]
    assert len(sent) == 2 and not any("seed" in data for data in sent)


def test_a_jpeg_image_is_stored_and_served_as_a_jpeg(fake_replicate, alice_client, user, monkeypatch):
    default = flavors.resolve("default")
    jpeg = dataclasses.replace(default, name="jpeg", values={
        **default.values, "image_params": {**default.values["image_params"], "output_format": "jpg"}})
    monkeypatch.setattr(flavors, "_registry", flavors.Registry(flavors={"default": default, "jpeg": jpeg}))
    image = one_image(user, "jpeg")
    assert image.status == JobStatus.SUCCEEDED, image.error
    assert image.file.name.endswith(".jpg") and image.file.read(3) == b"\xff\xd8\xff"
    assert alice_client.get(f"/api/mv/get_character_reference/{image.pk}")["Content-Type"] == "image/jpeg"


def test_a_download_without_a_suffix_takes_the_outputs_own(fake_replicate, tmp_path):
    import base64

    from tests.fakes.media import fake_image

    provider = get_provider()
    data_url = "data:image/jpeg;base64," + base64.b64encode(fake_image(tmp_path, "jpg")).decode()
    assert provider._download(data_url, tmp_path / "data").name == "data.jpg"
    prediction = provider.client.predictions.create(model=IMAGE, input={"prompt": "x", "output_format": "jpg"})
    url = f"{fake_replicate.url}/delivery/{prediction.id}/output.jpg"
    assert provider._download([url], tmp_path / "output").name == "output.jpg"


def test_an_image_past_its_deadline_is_cancelled_and_failed(fake_replicate, user, settings):
    settings.MV_PREDICTION_TIMEOUT = 0.3
    fake_replicate.never_finish_models.add(IMAGE)
    image = one_image(user)  # ImmediateBackend: the chain runs here, polling until the deadline
    assert image.status == JobStatus.FAILED and "timed out" in image.error.lower()
    (prediction,) = fake_replicate.predictions.values()
    assert image.prediction_id == prediction.id  # kept although the image never finished
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{prediction.id}/cancel")


def test_character_image_retries_a_429_and_is_downloaded(fake_replicate, user):
    fake_replicate.http_error("POST", r"/v1/models/google/imagen-4/predictions$", 429, times=1,
                              headers={"Retry-After": "0"}, body=THROTTLED)
    (image,) = characters.request_character_images(owner=user, flavor=flavors.resolve("default"), description="a drummer",
                                                 num_images=1)
    image.refresh_from_db()
    assert image.status == JobStatus.SUCCEEDED, image.error
    assert fake_replicate.creates("google/imagen-4") == 1 and image.prediction_id in fake_replicate.predictions
    assert image.file.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_restarted_worker_resumes_a_character_image_from_its_prediction_id(fake_replicate, user, settings):
    settings.TASKS = DUMMY_TASKS
    fake_replicate.hold(IMAGE)
    image = one_image(user)
    old_token = str(image.poll_token)
    assert advance(image) is False  # started; then the worker died
    fake_replicate.release(IMAGE)
    settings.TASKS = IMMEDIATE_TASKS
    assert tasks.resume_interrupted() == 1  # the new worker resumes it in a new poll chain
    image.refresh_from_db()
    assert image.status == JobStatus.SUCCEEDED, image.error
    assert fake_replicate.creates(IMAGE) == 1  # resumed, not paid twice
    polls = len(fake_replicate.requests_to("GET", r"/v1/predictions/"))
    tasks.advance_prediction.call(kind="characterimage", pk=str(image.pk), token=old_token)  # the old chain ends
    assert len(fake_replicate.requests_to("GET", r"/v1/predictions/")) == polls


# --- where outputs may come from (mv.providers.outputs) -------------------------------------------


@pytest.mark.parametrize("url, allowed", [
    ("https://replicate.delivery/pbxt/abc/out.mp4", True),
    ("https://pbxt.replicate.delivery/abc/out.png", True),
    ("http://replicate.delivery/abc/out.mp4", False),  # not over https
    ("https://replicate.delivery:8443/abc/out.mp4", False),
    ("https://replicate.delivery.example.com/out.mp4", False),
    ("https://evilreplicate.delivery/out.mp4", False),
    ("https://api.replicate.com.example.com/out.mp4", False),
    ("http://127.0.0.1:18996/leak-output.mp4", False),
    ("http://169.254.169.254/latest/meta-data/", False),
    ("file:///etc/passwd", False),
    ("https://replicate.delivery:notaport/x", False),
])
def test_outputs_come_only_from_replicates_delivery_hosts(settings, url, allowed):
    from mv.providers import outputs

    settings.REPLICATE_BASE_URL = ""
    assert outputs.is_delivery_url(url) is allowed


def test_the_token_goes_to_the_api_origin_only(settings):
    from mv.providers import outputs

    settings.REPLICATE_BASE_URL, settings.REPLICATE_API_TOKEN = "", "r8_secret"
    assert outputs.auth_headers("https://replicate.delivery/pbxt/x/out.mp4") == {}
    assert outputs.auth_headers("https://api.replicate.com/v1/files/x/download") == {"Authorization": "Bearer r8_secret"}
    assert outputs.auth_headers("http://api.replicate.com/v1/files/x") == {}
    settings.REPLICATE_BASE_URL = "http://127.0.0.1:5555"
    assert outputs.auth_headers("http://127.0.0.1:5555/delivery/x/out.mp4") == {"Authorization": "Bearer r8_secret"}
    assert outputs.auth_headers("http://127.0.0.1:5556/delivery/x/out.mp4") == {}
    assert outputs.is_delivery_url("http://127.0.0.1:5555/delivery/x") and not outputs.is_delivery_url("http://127.0.0.1:5556/x")


def test_only_the_configured_base_host_may_be_private_and_only_for_that_fetch(fake_replicate, tmp_path, settings, user):
    """The fake listens on 127.0.0.1: outputs there are fetched because it is REPLICATE_BASE_URL,
    while the guard keeps refusing 127.0.0.1 to everything else (a user's song URL)."""
    from mv import netguard

    settings.MV_ALLOW_PRIVATE_URLS = False  # the guard on, as in production
    provider = get_provider()
    prediction = provider.client.predictions.create(model=IMAGE, input={"prompt": "x", "output_format": "jpg"})
    url = f"{fake_replicate.url}/delivery/{prediction.id}/output.jpg"
    assert provider._download([url], tmp_path / "output").stat().st_size > 0
    with pytest.raises(netguard.BlockedAddress):
        netguard.fetch_url(url, tmp_path / "user.jpg", limit_bytes=10**6)
    with pytest.raises(ProviderError, match="not at Replicate's delivery address"):  # same host, another port
        provider._download([url.replace(f":{settings.REPLICATE_BASE_URL.rsplit(':', 1)[1]}", ":9")], tmp_path / "o2")
    settings.MV_MAX_UPLOAD_MB = 0  # the same size limit as user URLs
    with pytest.raises(ProviderError, match="larger than 0 MB"):
        provider._download([url], tmp_path / "big")
    assert not list(tmp_path.glob("big*"))
    settings.MV_MAX_UPLOAD_MB = 50
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="guarded", duration=4)
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED, clip.error  # a whole clip, fetched through the guard


def test_a_redirect_from_a_delivery_host_to_another_host_is_not_followed(fake_replicate, tmp_path, monkeypatch):
    import requests

    from mv.providers import outputs

    target = f"{fake_replicate.url}/delivery/x/out.mp4"
    elsewhere = "http://127.0.0.1:9/secret"
    sent = []
    original = requests.Session.send

    def send(self, request, **kwargs):
        sent.append(request.url)
        if request.url == target:  # the delivery host answers with a redirect to another host
            response = requests.Response()
            response.status_code, response.url, response.request = 302, request.url, request
            response.headers["Location"] = elsewhere
            response.raw = __import__("io").BytesIO(b"")
            for hook in request.hooks["response"]:
                hook(response, **kwargs)
            return response
        return original(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", send)
    with pytest.raises(ProviderError, match="not at Replicate's delivery address"):
        outputs.download(target, tmp_path / "out.mp4")
    assert sent == [target]
