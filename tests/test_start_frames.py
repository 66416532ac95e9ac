"""Every clip carries the performer: the character's picture as reference images where the video
model takes them (Veo 3.1: 16:9, 8 s), else a start frame made per scene by the flavor's
image-editing model, reused until the prompt or the character changes; or the previous shot's
last frame when a scene continues it."""

from __future__ import annotations

from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from mv import flavors, jobs, media
from mv.models import Clip, JobStatus, StartFrame
from mv.pipeline import characters, frames, rendering
from tests import factories
from tests.fakes.media import fake_image
from tests.test_finishing import VEO, queue  # noqa: F401  (the task queue run by hand)


def _cast(user, tmp_path, **fields):
    upload = SimpleUploadedFile("red.png", fake_image(tmp_path, "png"), "image/png")
    red = characters.save_character(user, name="Red", description="a drummer in a red jacket", upload=upload)
    project = factories.written_project(user, scenes=2, **fields)
    characters.cast_character(project, red)
    project.refresh_from_db()
    return project, red


def _render_all(project) -> list[Clip]:
    clips = [rendering.request_clip(owner=project.owner, flavor=flavors.resolve(project.config_flavor),
                                    prompt=s.description, scene=s) for s in project.scenes.order_by("position")]
    for clip in clips:
        clip.refresh_from_db()
    return clips


def test_a_16_9_project_sends_the_picture_as_reference_images_and_makes_no_start_frame(fake_replicate, user, tmp_path):
    project, red = _cast(user, tmp_path, aspect_ratio="16:9")
    clips = _render_all(project)
    assert all(c.status == JobStatus.SUCCEEDED for c in clips), [c.error for c in clips]
    assert all(c.input["sent"]["reference_images"] for c in clips) and not any("image" in c.input["sent"] for c in clips)
    assert fake_replicate.creates("google/nano-banana") == 0 and not StartFrame.objects.exists()


def test_a_9_16_project_makes_a_start_frame_per_scene_and_every_clip_starts_from_it(fake_replicate, user, tmp_path):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    clips = _render_all(project)
    assert all(c.status == JobStatus.SUCCEEDED for c in clips), [c.error for c in clips]
    assert fake_replicate.creates("google/nano-banana") == 2
    for clip in clips:
        frame = StartFrame.objects.get(pk=clip.input["start_frame"])
        assert frame.status == JobStatus.SUCCEEDED and frame.scene_id == clip.scene_id
        assert frame.input["sent"]["aspect_ratio"] == "9:16" and len(frame.input["sent"]["image_input"]) == 1
        assert media.check_picture(frame.file.path)[1:] == (720, 1280)  # the project's format
        assert "image" in clip.input["sent"] and "reference_images" not in clip.input["sent"]
        assert frame.cost_usd == Decimal("0.039") and frame.billed_units["kind"] == "start_frame"
    edit = next(p for p in fake_replicate.predictions.values() if p.model == "google/nano-banana")
    uploaded = fake_replicate.uploaded(edit.input["image_input"][0])
    assert uploaded == red.image.file.read()  # the character's own picture went to the image editor


def test_a_start_frame_is_reused_until_the_prompt_or_the_character_changes(fake_replicate, user, tmp_path):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    scene = project.scenes.get(position=0)
    flavor = flavors.resolve(project.config_flavor)
    first = rendering.request_clip(owner=user, flavor=flavor, prompt=scene.description, scene=scene)
    again = rendering.request_clip(owner=user, flavor=flavor, prompt=scene.description, scene=scene)
    assert again.input["start_frame"] == first.input["start_frame"]
    assert fake_replicate.creates("google/nano-banana") == 1
    scene.update_prompt("a new prompt for the same scene")
    third = rendering.request_clip(owner=user, flavor=flavor, prompt=scene.description, scene=scene)
    assert third.input["start_frame"] != first.input["start_frame"]
    assert fake_replicate.creates("google/nano-banana") == 2


def test_a_failed_start_frame_fails_its_clip_plainly_and_the_scene_keeps_its_clip(fake_replicate, user, tmp_path):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    scene = project.scenes.get(position=0)
    kept = factories.finished_clip(scene)
    fake_replicate.fail_next("google/nano-banana", "E005: the picture was flagged")
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=scene.description, scene=scene)
    clip.refresh_from_db()
    assert clip.status == JobStatus.FAILED and "start frame could not be made" in clip.error
    assert fake_replicate.creates("google/veo-3.1") == 0  # no clip was paid for
    scene.refresh_from_db()
    assert scene.current_clip == kept


def test_new_start_frame_alone_and_the_card_shows_it(alice_client, fake_replicate, user, tmp_path):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    clips = _render_all(project)
    scene = clips[0].scene
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert f"/api/mv/start_frames/{clips[0].input['start_frame']}" in page
    assert alice_client.get(f"/api/mv/start_frames/{clips[0].input['start_frame']}").status_code == 200
    response = alice_client.post(f"/scenes/{scene.pk}/start-frame/")
    assert response.status_code == 302
    assert scene.start_frames.count() == 2 and Clip.objects.filter(scene=scene).count() == 1  # no clip made
    newest = scene.start_frames.order_by("-created_at").first()
    assert frames.reusable_frame(scene, red.image, "9:16") == newest  # the next Regenerate starts from it


def test_continue_the_previous_shot_starts_from_its_last_frame(fake_replicate, user, tmp_path, clip_mp4):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    first, second = project.scenes.order_by("position")
    previous = factories.finished_clip(first, clip_mp4, duration=2.0)
    second.continue_shot(True)
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=second.description, scene=second)
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED, clip.error
    assert clip.input["continue_from"] == str(previous.pk) and "start_frame" not in clip.input
    sent = next(p for p in fake_replicate.predictions.values() if p.model == "google/veo-3.1")
    assert media.check_picture(_saved(fake_replicate.uploaded(sent.input["image"]), tmp_path))[1:] == (320, 180)
    assert fake_replicate.creates("google/nano-banana") == 0


def _saved(data: bytes, tmp_path):
    path = tmp_path / "sent.png"
    path.write_bytes(data)
    return path


def test_the_local_renderer_makes_real_start_frames_and_clips_from_them(user, tmp_path):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    clips = _render_all(project)
    for clip in clips:
        assert clip.status == JobStatus.SUCCEEDED, clip.error
        frame = StartFrame.objects.get(pk=clip.input["start_frame"])
        assert frame.provider == "local" and frame.cost_usd == 0
        assert media.check_picture(frame.file.path)[1:] == (720, 1280)
        assert clip.input["sent"]["image"]
        info = media.probe(clip.file.path)
        assert info.video.height > info.video.width


def test_the_estimate_and_budget_count_a_new_start_frame(fake_replicate, user, tmp_path, settings):
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    settings.MV_USER_DAILY_BUDGET_USD = Decimal("3.20")  # one 8 s clip with audio, not its start frame too
    scene = project.scenes.get(position=0)
    import pytest

    from mv.errors import Refused

    with pytest.raises(Refused) as refused:
        rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=scene.description, scene=scene)
    assert refused.value.status == 402
    assert not StartFrame.objects.exists() and not Clip.objects.exists()


def test_start_frames_count_in_the_projects_spend_and_stop_all_stops_them(fake_replicate, user, tmp_path):
    from mv.models import Project
    from mv.pipeline import projects

    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    _render_all(project)
    spend = Project.objects.with_spend().get(pk=project.pk).spend
    clips = sum(c.cost_usd for c in Clip.objects.filter(scene__project=project))
    assert spend == clips + 2 * Decimal("0.039")
    fake_replicate.hold("google/nano-banana")
    scene = project.scenes.get(position=0)
    from mv import tasks

    with tasks.held():  # started, not yet run by a worker
        frame = frames.regenerate_start_frame(scene, owner=user)
    assert projects.stop_project(project) == 1
    frame.refresh_from_db()
    assert frame.status == JobStatus.CANCELED


def test_capability_flags_follow_the_flavors_video_model(fake_replicate):
    from mv.providers import get_provider

    class Fast:
        """A flavor whose video model is Veo 3.1 Fast (no reference_images input)."""

        name = "fast"

        def get(self, file, key, *, used_in, default=...):
            return {"video_model": "google/veo-3.1-fast", "start_frame_model": "google/nano-banana"}.get(key, default)

    provider, veo = get_provider(), flavors.resolve("default")
    assert provider.takes_reference_image("16:9", 8, veo) and not provider.takes_reference_image("9:16", 8, veo)
    assert not provider.takes_reference_image("16:9", 8, Fast())  # Fast has no reference_images: a start frame instead
    assert provider.takes_start_frame(Fast()) and provider.makes_start_frames(Fast())


def test_the_continue_toggle_on_the_card_turns_on_and_off(alice_client, user):
    project = factories.written_project(user, scenes=2)
    second = project.scenes.get(position=1)
    assert alice_client.post(f"/scenes/{second.pk}/continue/", {"continue_previous": "1"}).status_code == 302
    second.refresh_from_db()
    assert second.continue_previous
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "✓ Continues the previous shot" in page
    alice_client.post(f"/scenes/{second.pk}/continue/", {"continue_previous": ""})
    second.refresh_from_db()
    assert not second.continue_previous


def test_a_clip_waiting_for_its_start_frame_does_not_poll_and_the_frames_finish_starts_it(
        fake_replicate, user, tmp_path, queue):
    """The clip's chain ends while its start frame is being made (nothing is sent for it); the
    frame's finish gives it a new chain, enqueued on commit, and it starts from the frame."""
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    fake_replicate.set_latency("google/nano-banana", polls=2)
    scene = project.scenes.get(position=0)
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=scene.description, scene=scene)
    frame = StartFrame.objects.get(pk=clip.input["start_frame"])
    waiting_token = str(Clip.objects.get(pk=clip.pk).poll_token)
    assert jobs.advance("clip", str(clip.pk), waiting_token) is None  # its chain ends: it waits for the frame
    assert fake_replicate.creates(VEO) == 0 and Clip.objects.get(pk=clip.pk).started_at is None
    queue.drain()
    clip.refresh_from_db()
    frame.refresh_from_db()
    assert frame.status == JobStatus.SUCCEEDED and clip.status == JobStatus.SUCCEEDED, clip.error
    assert str(clip.poll_token) != waiting_token  # started by the frame's finish, in a new chain
    assert fake_replicate.creates(VEO) == 1 and "image" in clip.input["sent"]


def test_deleting_a_project_stops_its_start_frames_and_removes_their_files(fake_replicate, user, tmp_path,
                                                                           monkeypatch):
    from django.core.files.storage import default_storage

    from mv import tasks
    from mv.pipeline import projects

    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    _render_all(project)
    made = [f.file.name for f in StartFrame.objects.filter(scene__project=project)]
    assert len(made) == 2 and all(default_storage.exists(name) for name in made)
    with tasks.held():  # started, not yet run by a worker
        frame = frames.regenerate_start_frame(project.scenes.get(position=0), owner=user)
    cancelled = []
    cancel = jobs.cancel
    monkeypatch.setattr(jobs, "cancel", lambda row, message: cancelled.append(row.pk) or cancel(row, message))
    projects.delete_project(project)
    assert cancelled == [frame.pk]  # stopped (at the provider too) before its scene went
    assert not StartFrame.objects.filter(pk=frame.pk).exists()
    assert not any(default_storage.exists(name) for name in made)  # its frames' files went with it


def test_a_clip_waiting_for_its_start_frame_is_granted_no_slot_meanwhile(fake_replicate, user, tmp_path, queue,
                                                                        settings):
    """With one slot, a clip whose start frame is still being made does not hold it: a later
    clip that needs no frame starts; the waiting one is granted a slot once its frame is in."""
    settings.MV_MAX_CONCURRENT_PREDICTIONS = 1
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    fake_replicate.set_latency("google/nano-banana", polls=2)
    scene = project.scenes.get(position=0)
    waiting = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=scene.description,
                                     scene=scene)
    assert jobs.advance("clip", str(waiting.pk), str(Clip.objects.get(pk=waiting.pk).poll_token)) is None
    other = factories.written_project(user, scenes=1).scenes.get()
    plain = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="a street", scene=other)
    jobs.advance("clip", str(plain.pk), str(Clip.objects.get(pk=plain.pk).poll_token))
    plain.refresh_from_db()
    assert plain.started_at is not None and fake_replicate.creates(VEO) == 1
    assert Clip.objects.get(pk=waiting.pk).granted_at is None
    queue.drain()  # the frame, then (the slot freed) the waiting clip
    assert [c.status for c in Clip.objects.filter(pk__in=[waiting.pk, plain.pk])] == [JobStatus.SUCCEEDED] * 2
    assert fake_replicate.creates(VEO) == 2


def test_the_card_shows_a_start_frame_once_it_is_made_and_never_asks_for_one_still_being_made(
        alice_client, fake_replicate, user, tmp_path, queue):
    """A picture asked for before its frame exists is a broken image (and a 404 in the console):
    the card says the frame is being made, and the clip's finish swaps the picture in."""
    project, red = _cast(user, tmp_path, aspect_ratio="9:16")
    scene = project.scenes.get(position=0)
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=scene.description, scene=scene)
    frame_url = f"/api/mv/start_frames/{clip.input['start_frame']}"
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "Making its start frame" in page and frame_url not in page
    assert alice_client.get(frame_url).status_code == 404  # what the picture would have been
    queue.drain()
    assert Clip.objects.get(pk=clip.pk).status == JobStatus.SUCCEEDED
    answer = alice_client.get(f"/scenes/{scene.pk}/clip/status/", headers={"HX-Request": "true"}).content.decode()
    assert f'id="performer-{scene.pk}" hx-swap-oob="true"' in answer and frame_url in answer
    assert "Continue the previous shot" not in answer  # the first scene continues nothing
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert frame_url in page and "Making its start frame" not in page
    # A Regenerate with a new prompt needs a new frame; cancelling it shows the kept clip's again.
    answer = alice_client.post(f"/scenes/{scene.pk}/regenerate/", {"description": "a drummer, close-up"},
                               headers={"HX-Request": "true"})
    assert "scene-changed" in answer["HX-Trigger"]  # the counts and the banner ask again
    regenerated = answer.content.decode()
    performer = regenerated.split(f'id="performer-{scene.pk}" hx-swap-oob="true"')[1]
    assert "Making its start frame" in performer and frame_url not in performer
    newest = Clip.objects.filter(scene=scene).order_by("-created_at").first()
    cancelled = alice_client.post(f"/clips/{newest.pk}/cancel/", headers={"HX-Request": "true"}).content.decode()
    performer = cancelled.split(f'id="performer-{scene.pk}" hx-swap-oob="true"')[1]
    assert frame_url in performer and "Making its start frame" not in performer
