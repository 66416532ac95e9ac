"""The API's `wait` never ties up the web threads: a low cap and a small pool of waiting slots."""

from __future__ import annotations

import json
import threading
import time

import pytest

from mv import waiting
from tests.database import closes_its_connections


@pytest.fixture
def queued_clips(client, user, settings):
    """Clips that stay queued (the dummy task backend never runs them), so every wait lasts."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.MV_WAIT_SLOTS = 1
    settings.MV_MAX_WAIT_SECONDS = 3
    client.force_login(user)
    return client


def generate(client, wait: float) -> tuple[int, float]:
    started = time.monotonic()
    response = client.post("/api/mv/generate_video", json.dumps({"prompt": "a fox", "wait": wait}),
                           content_type="application/json", HTTP_X_API_KEY="test-api-key")
    return response.status_code, time.monotonic() - started


def test_a_long_wait_is_cut_to_the_cap(queued_clips, settings):
    settings.MV_MAX_WAIT_SECONDS = 0.5
    status, took = generate(queued_clips, 600)
    assert status == 202 and 0.4 < took < 3


def test_when_every_waiting_slot_is_taken_a_request_answers_202_at_once(queued_clips, transactional_db):
    from django.test import Client

    holder_done = threading.Event()
    results: dict[str, tuple[int, float]] = {}

    def hold_the_slot() -> None:
        try:
            results["holder"] = generate(Client(), 3)
        finally:
            holder_done.set()

    thread = threading.Thread(target=closes_its_connections(hold_the_slot))
    thread.start()
    deadline = time.monotonic() + 5
    while waiting._pool()._value != 0 and time.monotonic() < deadline:  # the holder is waiting
        time.sleep(0.01)
    status, took = generate(Client(), 3)
    page = Client().get("/accounts/login/")
    thread.join(10)
    assert status == 202 and took < 1.5  # not queued behind the waiting request
    assert page.status_code == 200
    assert results["holder"][0] == 202 and results["holder"][1] >= 2.5  # the holder did wait
