"""A start cut off at any instant is reconciled: the create's key, recorded before it is sent,
finds the prediction again in the provider's list, and the clip resumes it; a start that
provably created nothing starts again. One create per clip, every clip finished.

The worker "dies" here by a BaseException raised at one point of the start (nothing of the
step after it runs, as after a kill -9); tests/test_restarts.py kills a real worker."""

from __future__ import annotations

import threading
import time

import pytest
import replicate.prediction
from django.utils import timezone

from mv import flavors, jobs, liveness, tasks
from mv.models import Clip, JobStatus, Prediction
from mv.pipeline import rendering
from mv.providers import get_provider
from mv.providers.base import ClipRequest, sending_to
from tests.factories import advance

VEO_CREATE = r"/v1/models/google/veo-3\.1/predictions$"
DUMMY = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


class Killed(BaseException):
    """The worker process ends here (SIGKILL): no except or finally of the app handles it."""


def _clip(user, settings, prompt: str = "a start cut off") -> Clip:
    settings.TASKS = DUMMY
    return rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt=prompt)


def _die_before_the_key(monkeypatch, fake):
    def note_start_sent(self, key):
        raise Killed

    monkeypatch.setattr(Prediction, "note_start_sent", note_start_sent)


def _die_before_sending(monkeypatch, fake):
    def create(self, *args, **kwargs):
        raise Killed

    monkeypatch.setattr(replicate.prediction.Predictions, "create", create)


def _die_in_flight(monkeypatch, fake):
    """The create reached the provider (which made the prediction) and its answer is on its way."""
    real = replicate.prediction.Predictions.create

    def create(self, *args, **kwargs):
        fake.hold_answers("POST", VEO_CREATE)
        threading.Thread(target=lambda: _quietly(real, self, *args, **kwargs), daemon=True).start()
        deadline = time.monotonic() + 60
        while fake.answers_waiting() < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.creates() == 1
        raise Killed

    monkeypatch.setattr(replicate.prediction.Predictions, "create", create)


def _die_after_the_answer(monkeypatch, fake):
    def accept(self, update):
        raise Killed

    monkeypatch.setattr(Prediction, "accept", accept)


def _quietly(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:
        pass


POINTS = {"claimed, before its key was recorded": (_die_before_the_key, 0),
          "key recorded, before the create was sent": (_die_before_sending, 0),
          "create in flight": (_die_in_flight, 1),
          "answered, before the id was stored": (_die_after_the_answer, 1)}


@pytest.mark.parametrize("point", list(POINTS))
def test_a_start_killed_at_any_point_makes_one_create_and_finishes(fake_replicate, user, settings, monkeypatch, point):
    settings.MV_CREATE_TIMEOUT = 0  # a create the provider does not list has not landed (the fake answers at once)
    die, created_before_death = POINTS[point]
    clip = _clip(user, settings)
    with monkeypatch.context() as patch:
        die(patch, fake_replicate)
        with pytest.raises(Killed):
            advance(clip)
    clip.refresh_from_db()
    assert clip.status == JobStatus.QUEUED and clip.started_at and not clip.prediction_id
    assert fake_replicate.creates() == created_before_death
    settings.TASKS = IMMEDIATE
    tasks.resume_interrupted()  # the worker starts again
    fake_replicate.release_answers()
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED, clip.error
    assert fake_replicate.creates() == 1 and list(fake_replicate.predictions) == [clip.prediction_id]
    assert len(fake_replicate.requests_to("POST", VEO_CREATE)) == 1


def test_a_sent_create_the_provider_does_not_list_yet_is_waited_for_not_sent_again(fake_replicate, user, settings,
                                                                                    monkeypatch):
    clip = _clip(user, settings)
    with monkeypatch.context() as patch:
        _die_before_sending(patch, fake_replicate)
        with pytest.raises(Killed):
            advance(clip)
    # The request may still be landing at the provider: within MV_CREATE_TIMEOUT of its sending
    # the clip waits, asking the provider's list again each step.
    for _ in range(2):
        assert advance(clip) is False
        clip.refresh_from_db()
        assert clip.status == JobStatus.QUEUED and fake_replicate.creates() == 0
    assert len(fake_replicate.requests_to("GET", r"^/v1/predictions(\?|$)")) == 2
    settings.MV_CREATE_TIMEOUT = 0  # then it could no longer land: started again
    assert advance(clip) is False
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and fake_replicate.creates() == 1


def test_a_create_whose_answer_was_lost_is_found_and_resumed(fake_replicate, user, settings):
    fake_replicate.drop_connection("POST", VEO_CREATE, after=True)  # made at the provider; the answer never comes
    clip = _clip(user, settings)
    assert advance(clip) is False
    clip.refresh_from_db()
    assert clip.status == JobStatus.QUEUED and clip.start_key and not clip.error
    assert advance(clip) is False  # the next step finds it by its key
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.prediction_id == next(iter(fake_replicate.predictions))
    while not advance(clip):
        pass
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and fake_replicate.creates() == 1


def test_the_prediction_is_found_on_an_older_page_of_the_list(fake_replicate, user, settings, monkeypatch):
    fake_replicate.list_page_size = 2
    clip = _clip(user, settings, prompt="made first")
    with monkeypatch.context() as patch:
        _die_after_the_answer(patch, fake_replicate)
        with pytest.raises(Killed):
            advance(clip)
    others = [_clip(user, settings, prompt=f"made later {i}") for i in range(5)]  # newer predictions
    for other in others:
        assert advance(other) is False
    assert advance(clip) is False
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and fake_replicate.creates() == 6
    pages = fake_replicate.requests_to("GET", r"^/v1/predictions(\?|$)")
    assert len(pages) == 3 and "cursor=" in pages[-1]["path"]  # 6 predictions, 2 a page: it was the oldest


def test_two_identical_starts_cut_off_each_resume_their_own_prediction(fake_replicate, user, settings, monkeypatch):
    first, second = _clip(user, settings, prompt="the same"), _clip(user, settings, prompt="the same")
    with monkeypatch.context() as patch:
        _die_after_the_answer(patch, fake_replicate)
        for clip in (first, second):
            with pytest.raises(Killed):
                advance(clip)
    assert advance(first) is False and advance(second) is False
    first.refresh_from_db()
    second.refresh_from_db()
    assert {first.prediction_id, second.prediction_id} == set(fake_replicate.predictions)
    assert fake_replicate.creates() == 2


def test_a_cancel_before_the_create_is_sent_sends_nothing(fake_replicate, user, settings, monkeypatch):
    clip = _clip(user, settings)
    real = Prediction.note_start_sent

    def cancelled_meanwhile(self, key):
        jobs.cancel(Clip.objects.get(pk=self.pk))
        return real(self, key)

    monkeypatch.setattr(Prediction, "note_start_sent", cancelled_meanwhile)
    assert advance(clip) is True
    clip.refresh_from_db()
    assert clip.status == JobStatus.CANCELED and fake_replicate.creates() == 0


def test_a_create_with_a_file_is_found_by_the_files_digest(fake_replicate, tmp_path, settings):
    from tests.fakes.media import fake_image

    image = tmp_path / "character.png"
    image.write_bytes(fake_image(tmp_path, "png"))
    keys: list[str] = []
    since = timezone.now()
    provider = get_provider()
    with sending_to(keys.append):
        update = provider.start_clip(flavors.resolve("default"), ClipRequest(prompt="with a face", reference_image=image,
                                                                            aspect_ratio="16:9", duration=8),
                                     workdir=tmp_path)
    sent = fake_replicate.predictions[update.prediction_id].input
    assert sent["reference_images"][0].startswith(fake_replicate.url + "/v1/files/")  # the upload's URL
    assert provider.find_started(keys[0], since) == update.prediction_id
    assert provider.find_started(keys[0], since, taken={update.prediction_id}) is None
    image.write_bytes(image.read_bytes() + b"\0")  # another picture, same prompt: another key
    with sending_to(keys.append):
        provider.start_clip(flavors.resolve("default"), ClipRequest(prompt="with a face", reference_image=image,
                                                                   aspect_ratio="16:9", duration=8), workdir=tmp_path)
    assert keys[1] != keys[0]


def test_a_local_render_cut_off_has_nothing_to_find_and_renders_again(user, settings, monkeypatch):
    settings.TASKS = DUMMY
    clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="local")
    assert get_provider(clip.provider).lists_predictions is False  # its renders live and die in the worker
    Clip.objects.filter(pk=clip.pk).update(started_at=timezone.now(), started_by=liveness.identity())
    assert advance(clip) is True  # claimed by this process, which is not rendering it: started again at once
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and clip.file


def test_cancelling_a_start_cut_off_after_its_create_cancels_that_prediction(fake_replicate, user, settings,
                                                                             monkeypatch):
    fake_replicate.hold("google/veo-3.1")
    clip = _clip(user, settings)
    with monkeypatch.context() as patch:
        _die_after_the_answer(patch, fake_replicate)
        with pytest.raises(Killed):
            advance(clip)
    (made,) = fake_replicate.predictions
    assert not fake_replicate.finished(made)
    assert jobs.cancel(Clip.objects.get(pk=clip.pk))  # Stop, before any worker resumed it
    assert fake_replicate.finished(made)  # the prediction it made is cancelled at the provider too
    assert fake_replicate.requests_to("POST", rf"/v1/predictions/{made}/cancel")
