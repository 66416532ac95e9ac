"""The API's `wait` never ties up the web threads: a low cap and a small pool of waiting slots."""

from __future__ import annotations

import json
import threading
import time

import pytest

from mv import jobs, waiting
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


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """How long each request asked the rows to be waited for (what the cap and the slots decide),
    so the tests read the decision instead of timing a loaded machine; the wait still happens."""
    asked: list[float] = []
    real = jobs.wait_for

    def recording(rows, seconds):
        asked.append(seconds)
        return real(rows, seconds)

    monkeypatch.setattr(jobs, "wait_for", recording)
    return asked


def test_a_long_wait_is_cut_to_the_cap(queued_clips, settings, waits):
    settings.MV_MAX_WAIT_SECONDS = 0.5
    status, took = generate(queued_clips, 600)
    assert status == 202 and waits == [0.5] and took >= 0.4


def test_when_every_waiting_slot_is_taken_a_request_answers_202_at_once(queued_clips, transactional_db, waits):
    from django.test import Client

    results: dict[str, tuple[int, float]] = {}

    def hold_the_slot() -> None:
        results["holder"] = generate(Client(), 3)

    thread = threading.Thread(target=closes_its_connections(hold_the_slot))
    thread.start()
    deadline = time.monotonic() + 60
    while not waits and time.monotonic() < deadline:  # until the holder is waiting in its slot
        time.sleep(0.01)
    assert waits == [3] and waiting._pool()._value == 0
    status, _ = generate(Client(), 3)
    page = Client().get("/accounts/login/")
    thread.join(30)
    assert status == 202 and waits == [3, 0]  # looked once, not queued behind the waiting request
    assert page.status_code == 200
    assert results["holder"][0] == 202 and results["holder"][1] >= 2.5  # the holder did wait
