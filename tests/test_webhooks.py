"""Replicate webhooks (MV_PUBLIC_URL set): predictions ask for a signed "completed" webhook,
the webhook finishes the row without a poll, and a forged, stale or replayed one changes
nothing. The fake Replicate signs and sends them to the live server as Replicate does."""

from __future__ import annotations

import json
import time

import pytest
import requests
from django.dispatch import receiver

from mv import flavors, jobs, polling, tasks
from mv.models import Clip, JobStatus
from mv.pipeline import rendering
from mv.providers import get_provider
from tests.factories import advance
from tests.fakes.webhooks import new_secret, signed_headers

VIDEO = "google/veo-3.1"
URL = "/api/replicate/webhook"
PUBLIC = "http://127.0.0.1:9"


@pytest.fixture
def webhooks_on(fake_replicate, settings):
    settings.MV_PUBLIC_URL = PUBLIC  # nobody listens there: these tests deliver the webhooks themselves
    settings.REPLICATE_WEBHOOK_SECRET = fake_replicate.webhook_secret
    fake_replicate.set_latency(VIDEO, run_s=0.0)
    return fake_replicate


def running_clip(user, fake) -> Clip:
    """A clip whose prediction was created (held processing at the fake), not yet polled."""
    fake.hold(VIDEO)
    with tasks.held():
        clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="a webhook test")
    advance(clip)  # the start: the create call, nothing polled yet
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING
    return clip


def post(client, fake, body: dict, *, secret: str | None = None, **signing):
    raw = json.dumps(body).encode()
    headers = signed_headers(secret or fake.webhook_secret, raw, **signing)
    return client.post(URL, raw, content_type="application/json",
                       headers={k: v for k, v in headers.items() if k != "Content-Type"})


def polls_of(fake, clip: Clip) -> list:
    return fake.requests_to("GET", rf"/v1/predictions/{clip.prediction_id}$")


def test_predictions_ask_for_a_completed_webhook_at_the_public_address(webhooks_on, user):
    clip = running_clip(user, webhooks_on)
    create = webhooks_on.requests_to("POST", rf"/v1/models/{VIDEO}/predictions")[-1]["json"]
    assert create["webhook"] == f"{PUBLIC}/api/replicate/webhook"
    assert create["webhook_events_filter"] == ["completed"]
    assert polling.next_poll(clip) == 30.0  # polling is only the fallback


def test_without_a_public_address_predictions_are_polled_and_the_webhook_is_off(fake_replicate, user, client):
    clip = running_clip(user, fake_replicate)
    assert "webhook" not in fake_replicate.requests_to("POST", rf"/v1/models/{VIDEO}/predictions")[-1]["json"]
    assert polling.next_poll(clip) == max(0.02, 1 / get_provider().polls_per_second)  # the steady interval
    response = post(client, fake_replicate, fake_replicate.as_json(fake_replicate.predictions[clip.prediction_id]))
    assert response.status_code == 404 and response.json()["error"] == "webhooks_off"


def test_a_signed_webhook_finishes_the_clip_without_a_poll(webhooks_on, user, client):
    clip = running_clip(user, webhooks_on)
    webhooks_on.release(VIDEO)
    done = webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id])
    assert done["status"] == "succeeded"
    response = post(client, webhooks_on, done)
    assert response.status_code == 200, response.content
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED and clip.file and clip.poster and clip.duration == pytest.approx(8, abs=0.1)
    assert polls_of(webhooks_on, clip) == []


@pytest.mark.parametrize("forgery", ["other secret", "stale", "future", "body changed", "no signature"])
def test_a_forged_or_stale_webhook_changes_nothing(webhooks_on, user, client, settings, forgery):
    clip = running_clip(user, webhooks_on)
    body = webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id]) | {"status": "failed", "error": "forged"}
    raw = json.dumps(body).encode()
    secret, signing = webhooks_on.webhook_secret, {}
    if forgery == "other secret":
        secret = new_secret()
    # a minute outside the tolerance: a second ticking over before the check must not bring it in
    elif forgery == "stale":
        signing["timestamp"] = int(time.time()) - settings.MV_WEBHOOK_TOLERANCE - 60
    elif forgery == "future":
        signing["timestamp"] = int(time.time()) + settings.MV_WEBHOOK_TOLERANCE + 60
    headers = {k: v for k, v in signed_headers(secret, raw, **signing).items() if k != "Content-Type"}
    if forgery == "body changed":
        raw = raw.replace(b"forged", b"FORGED")
    elif forgery == "no signature":
        del headers["webhook-signature"]
    response = client.post(URL, raw, content_type="application/json", headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.error == ""


def test_a_replayed_webhook_is_refused_and_changes_nothing(webhooks_on, user, client):
    clip = running_clip(user, webhooks_on)
    processing = webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id]) | {"logs": " 40%|████      | 3/8"}
    assert post(client, webhooks_on, processing, webhook_id="msg_1").status_code == 200
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.progress == 40  # read from the webhook, not a poll
    failed = processing | {"status": "failed", "error": "replayed"}
    response = post(client, webhooks_on, failed, webhook_id="msg_1")
    assert response.status_code == 409 and response.json()["error"] == "replayed"
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.error == ""
    assert polls_of(webhooks_on, clip) == []


def test_a_webhook_about_an_unknown_prediction_is_taken_and_ignored(webhooks_on, user, client):
    clip = running_clip(user, webhooks_on)
    other = webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id]) | {"id": "unknownprediction00000000aa"}
    assert post(client, webhooks_on, other).status_code == 200
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING


def test_the_secret_is_asked_of_replicate_when_no_setting_gives_it(webhooks_on, settings, user, client):
    settings.REPLICATE_WEBHOOK_SECRET = ""
    clip = running_clip(user, webhooks_on)
    webhooks_on.release(VIDEO)
    assert post(client, webhooks_on, webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id])).status_code == 200
    assert len(webhooks_on.requests_to("GET", r"/v1/webhooks/default/secret$")) == 1
    clip.refresh_from_db()
    assert clip.status == JobStatus.SUCCEEDED


def test_a_webhook_and_a_poll_racing_finish_the_row_once(webhooks_on, user):
    clip = running_clip(user, webhooks_on)
    webhooks_on.release(VIDEO)
    finishes = []

    @receiver(jobs.finished, sender=Clip, weak=False)
    def count(sender, row, **kwargs):
        finishes.append(row.pk)

    try:
        stale = Clip.objects.get(pk=clip.pk)  # a poll that read the row before the webhook landed
        pushed = webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id])
        assert jobs.deliver(clip.prediction_id, pushed).status == JobStatus.SUCCEEDED
        assert jobs.advance_row(stale) is True
    finally:
        jobs.finished.disconnect(count, sender=Clip)
    assert finishes == [clip.pk]


@pytest.mark.slow
def test_the_fake_replicate_sends_a_signed_webhook_that_finishes_the_clip(live_server, fake_replicate, settings, user):
    """End to end: the prediction is created with our public address, the fake Replicate
    signs and POSTs its "completed" webhook to the live server, and the clip is finished
    with no poll at all (the secret is fetched from the fake's API)."""
    settings.MV_PUBLIC_URL = live_server.url
    settings.REPLICATE_WEBHOOK_SECRET = ""
    fake_replicate.set_latency(VIDEO, run_s=0.3)
    with tasks.held():
        clip = rendering.request_clip(owner=user, flavor=flavors.resolve("default"), prompt="pushed")
    advance(clip)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        clip.refresh_from_db()
        if clip.is_finished and fake_replicate.webhooks_sent:  # the fake records its send once answered
            break
        time.sleep(0.05)
    assert clip.status == JobStatus.SUCCEEDED, clip.error
    assert fake_replicate.webhooks_sent == [(clip.prediction_id, "succeeded", 200)]
    assert polls_of(fake_replicate, clip) == []
    assert get_provider("replicate").pushes_updates
    assert requests.get(f"{live_server.url}{URL}", timeout=5).status_code == 405


@pytest.mark.parametrize("raw", [
    b'{"id": "x", "output": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # json.loads gives up: RecursionError
    b"[" * 5000 + b"]" * 5000,
    b'{"id": "x", "status": "succeeded"',  # cut short
    b'["not", "a", "prediction"]',
])
def test_a_signed_webhook_that_is_no_readable_prediction_is_a_400_and_changes_nothing(webhooks_on, user, client,
                                                                                       raw):
    clip = running_clip(user, webhooks_on)
    headers = {k: v for k, v in signed_headers(webhooks_on.webhook_secret, raw).items() if k != "Content-Type"}
    response = client.post(URL, raw, content_type="application/json", headers=headers)
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    clip.refresh_from_db()
    assert clip.status == JobStatus.RUNNING and clip.error == ""


@pytest.fixture
def listener():
    """A plain HTTP server on another loopback port that records what reaches it."""
    import http.server
    import threading

    seen: list[dict] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.end_headers()
            self.wfile.write(b"\x00" * 64)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()


def test_a_signed_webhook_pointing_the_output_elsewhere_fetches_nothing_and_sends_no_token(webhooks_on, user, client,
                                                                                           listener):
    """The review's case: a signed webhook for a running prediction whose output is on another
    host. Nothing is fetched from there (let alone with the token); the clip fails saying why."""
    address, seen = listener
    clip = running_clip(user, webhooks_on)
    webhooks_on.release(VIDEO)
    done = webhooks_on.as_json(webhooks_on.predictions[clip.prediction_id]) | {"output": f"{address}/leak-output.mp4"}
    assert post(client, webhooks_on, done).status_code == 200
    clip.refresh_from_db()
    assert seen == []
    assert clip.status == JobStatus.FAILED and "not at Replicate's delivery address" in clip.error and not clip.file
