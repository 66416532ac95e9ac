"""50 concurrent API requests across flavors against a live server on a file SQLite."""

from __future__ import annotations

import concurrent.futures
import re

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

    def call(i: int) -> tuple[int, str, int, dict]:
        flavor = names[i % 3]
        response = requests.post(f"{live_server.url}/api/mv/create_scenes",
                                 json={"idea": f"request-{i:03d}", "config_flavor": flavor, "number_of_scenes": 1, "wait": 60},
                                 headers={"X-API-Key": "conc-key"}, timeout=120)
        return i, flavor, response.status_code, response.json()

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, range(50)))

    assert [r for r in results if r[2] >= 500] == []
    assert all(r[2] == 200 and r[3]["status"] == "ready" for r in results), [r[3] for r in results if r[3]["status"] != "ready"][:3]
    for i, flavor, _, body in results:
        assert body["config_flavor"] == ("default" if flavor == "nope" else flavor)
    prompts = {re.search(r"request-(\d{3})", p["prompt"]).group(1): p["prompt"] for p in fake_replicate.llm_inputs()}
    assert len(prompts) == 50
    mixups = [i for i, flavor, _, _ in results if not prompts[f"{i:03d}"].startswith(expected[flavor])]
    assert mixups == []
