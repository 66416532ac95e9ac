"""50 concurrent API requests across flavors against a live server on a file SQLite."""

from __future__ import annotations

import concurrent.futures
import re
import threading

import pytest
import requests

from mv import flavors

pytestmark = pytest.mark.slow


def test_concurrent_requests_each_use_their_own_flavor(live_server, fake_replicate, settings, user):
    settings.MV_API_KEYS = ["conc-key"]
    expected = {
        "default": flavors.resolve("default").values["scene_prompts"]["scene_generation_prompt"].splitlines()[0],
        "mv1": flavors.resolve("mv1").values["scene_prompts"]["scene_generation_prompt"].splitlines()[0],
    }
    expected["nope"] = expected["default"]
    names = ["default", "mv1", "nope"]
    # Deterministic under any load: the scene writer finishes on its second poll (not after
    # a wall-clock time), and all 50 requests are released together by a barrier.
    fake_replicate.set_latency("openai/gpt-4o-mini", polls=2)
    start = threading.Barrier(50, timeout=60)

    def call(i: int) -> tuple[int, str, int, dict]:
        flavor = names[i % 3]
        start.wait()
        response = requests.post(f"{live_server.url}/api/mv/create_scenes",
                                 json={"idea": f"request-{i:03d}", "config_flavor": flavor, "number_of_scenes": 1, "wait": 60},
                                 headers={"X-API-Key": "conc-key"}, timeout=120)
        return i, flavor, response.status_code, response.json()

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, range(50)))

    assert [r for r in results if r[2] >= 500] == []
    unfinished = [(r[2], r[3].get("status"), r[3].get("error") or r[3].get("message")) for r in results
                  if r[2] != 200 or r[3].get("status") != "ready"]
    assert unfinished == []
    for i, flavor, _, body in results:
        assert body["config_flavor"] == ("default" if flavor == "nope" else flavor)
    prompts = {re.search(r"request-(\d{3})", p["prompt"]).group(1): p["prompt"] for p in fake_replicate.llm_inputs()}
    assert len(prompts) == 50
    mixups = [i for i, flavor, _, _ in results if not prompts[f"{i:03d}"].startswith(expected[flavor])]
    assert mixups == []
