"""Cost: estimates before paying, the ledger's cost of a finished prediction, the daily budget
check, the per-user settings and the fair-share choice of which waiting work starts next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from mv import costs, fairshare, flavors
from tests.test_settings_and_auth import run_python

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def default() -> flavors.Flavor:
    return flavors.resolve("default")


@pytest.fixture
def cheap(tmp_path) -> flavors.Flavor:
    """A flavor that sets one price and inherits the others from the shipped default."""
    root = tmp_path / "configs"
    real = Path(flavors.registry().path) / "default"
    (root / "default").mkdir(parents=True)
    for path in real.glob("*.yaml"):
        (root / "default" / path.name).write_text(path.read_text())
    (root / "cheap").mkdir()
    (root / "cheap" / "image_params.yaml").write_text("pricing:\n  video_usd_per_second: 0.15\n")
    return flavors.load_registry(root).flavors["cheap"]


def prices(flavor: flavors.Flavor) -> dict:
    return dict(flavor.values["image_params"]["pricing"])


# --- estimates -------------------------------------------------------------------------------

def test_clip_estimate_names_count_length_model_and_price(cheap):
    estimate = costs.estimate_clips(cheap, [8] * 12, generate_audio=False)
    assert estimate.total_usd == Decimal("14.40")
    assert estimate.summary == "≈ $14.40 — 12 clips × 8 s at veo-3.1 ($0.15/s)"
    (item,) = estimate.items
    assert (item.kind, item.count, item.unit, item.unit_price, item.subtotal) == (
        "video", Decimal(96), "s", Decimal("0.15"), Decimal("14.400000"))


def test_clips_with_audio_use_the_audio_price_which_the_flavor_inherits(cheap, default):
    assert prices(cheap)["video_with_audio_usd_per_second"] == prices(default)["video_with_audio_usd_per_second"]
    estimate = costs.estimate_clips(cheap, [8] * 12, generate_audio=True)
    assert estimate.total_usd == Decimal("38.40")
    assert estimate.summary == "≈ $38.40 — 12 clips × 8 s with audio at veo-3.1 ($0.40/s)"


def test_clips_of_different_lengths_are_summed(default):
    estimate = costs.estimate_clips(default, [8, 6, 4], generate_audio=False)
    assert estimate.total_usd == Decimal("3.60")
    assert "3 clips, 18 s in all" in estimate.summary


def test_no_clips_cost_nothing_and_say_so(default):
    estimate = costs.estimate_clips(default, [], generate_audio=True)
    assert estimate.total_usd == 0 and estimate.summary == "$0.00 — nothing to pay for"


def test_lipsync_is_priced_per_second_of_its_slices(default):
    estimate = costs.estimate_lipsync(default, [7.5, 8])
    assert estimate.exact_usd == Decimal("1.286500")  # 15.5 s x $0.083
    assert estimate.total_usd == Decimal("1.29")
    assert estimate.summary == "≈ $1.29 — 2 lipsyncs, 15.5 s in all at lipsync-2-pro ($0.083/s)"


def test_reference_images_are_priced_each(default):
    estimate = costs.estimate_images(default, 4)
    assert estimate.total_usd == Decimal("0.16")
    assert estimate.summary == "≈ $0.16 — 4 reference images at imagen-4 ($0.04/image)"
    assert costs.estimate_images(default, 0).items == ()
    with pytest.raises(ValueError):
        costs.estimate_images(default, -1)


def test_scene_writing_is_priced_at_its_most_tokens_and_shows_under_a_cent(default):
    estimate = costs.estimate_scene_writing(default)
    prompts = default.values["scene_prompts"]
    input_tokens = costs.PROMPT_FILL_TOKENS + sum(costs.approx_tokens(prompts[k])
                                                  for k in ("scene_system_prompt", "scene_generation_prompt")
                                                  if k in prompts)
    output_tokens = default.values["image_params"]["scene_max_tokens"]
    expected = costs.cost_of("scene_writing", prices(default),
                             {"input_tokens": input_tokens, "output_tokens": output_tokens})
    assert estimate.exact_usd == expected > 0
    assert estimate.total_usd == 0
    assert estimate.summary.startswith("≈ < $0.01 — scene writing, ≤ ")
    assert "at gpt-4o-mini" in estimate.summary


def test_lyrics_are_estimated_per_minute_of_song(default):
    estimate = costs.estimate_lyrics(default, 180)
    assert estimate.total_usd == Decimal("0.03")
    assert estimate.summary == "≈ $0.03 — lyrics of 180 s of song ($0.01/min)"


def test_a_project_estimate_is_the_sum_of_its_parts_rounded_once(default):
    project = costs.estimate_project(default, clip_seconds=[8] * 12, generate_audio=True, lipsync_seconds=[8, 7.5],
                                     scene_writing=True, images=4)
    parts = [costs.estimate_clips(default, [8] * 12, True), costs.estimate_lipsync(default, [8, 7.5]),
             costs.estimate_images(default, 4), costs.estimate_scene_writing(default)]
    assert project.exact_usd == sum(p.exact_usd for p in parts)
    assert [item.kind for item in project.items] == ["video_with_audio", "lipsync", "image", "scene_writing"]
    assert project.total_usd == Decimal("39.85")
    assert project.summary.startswith("≈ $39.85 — 12 clips × 8 s with audio at veo-3.1 ($0.40/s); 2 lipsyncs")
    # Two lipsyncs of 1 s are 0.083 + 0.083 = 0.166 -> $0.17, not 0.08 + 0.08.
    one = costs.estimate_lipsync(default, [1])
    assert (one + one).total_usd == Decimal("0.17")


def test_the_local_renderer_is_free_and_says_so():
    estimate = costs.free_estimate("local preview: free")
    assert estimate.total_usd == 0
    assert estimate.summary == "$0.00 — local preview: free"
    assert estimate.to_dict() == {"estimated_cost_usd": 0.0, "summary": "$0.00 — local preview: free", "items": []}


def test_an_estimate_as_json_carries_the_rounded_total_and_its_items(default):
    data = costs.estimate_clips(default, [8, 8], generate_audio=True).to_dict()
    assert data["estimated_cost_usd"] == 6.4
    assert data["items"] == [{"kind": "video_with_audio", "what": "2 clips × 8 s with audio", "count": 16.0,
                              "unit": "s", "unit_price_usd": 0.4, "subtotal_usd": 6.4, "model": "google/veo-3.1",
                              "summary": "2 clips × 8 s with audio at veo-3.1 ($0.40/s)"}]


# --- the ledger ----------------------------------------------------------------------------

def test_the_ledger_of_a_project_equals_its_estimate_at_the_same_prices_and_lengths(default):
    estimate = costs.estimate_project(default, clip_seconds=[8, 8, 6], generate_audio=True,
                                      lipsync_seconds=[7.25], scene_writing=False, images=2)
    pricing = prices(default)
    ledger = ([costs.cost_of("video_with_audio", pricing, {"seconds": s}) for s in (8, 8, 6)]
              + [costs.cost_of("lipsync", pricing, {"seconds": 7.25})]
              + [costs.cost_of("image", pricing, {"images": 1})] * 2)
    assert sum(ledger) == estimate.exact_usd
    assert costs.cents(sum(ledger)) == estimate.total_usd == Decimal("9.48")


def test_the_ledger_uses_the_prices_it_is_given_not_todays(default):
    then = {**prices(default), "video_usd_per_second": 0.1}
    assert costs.cost_of("video", then, {"seconds": 3}) == Decimal("0.3")  # not 0.30000000000000004
    assert costs.cost_of("video", prices(default), {"seconds": 3}) == Decimal("0.6")


def test_whisper_is_billed_for_gpu_seconds_and_the_scene_writer_per_token(default):
    assert costs.cost_of("lyrics", prices(default), {"gpu_seconds": 40}) == Decimal("0.009")
    assert costs.cost_of("scene_writing", prices(default),
                         {"input_tokens": 1_000_000, "output_tokens": 500_000}) == Decimal("0.45")


def test_a_failed_prediction_that_produced_nothing_costs_nothing(default):
    assert costs.cost_of("video_with_audio", prices(default), {"seconds": 0}) == 0


@pytest.mark.parametrize(("kind", "units", "words"), [
    ("song", {"seconds": 1}, "unknown kind"),
    ("video", {"images": 1}, "video is billed on seconds"),
    ("scene_writing", {"input_tokens": 3}, "input_tokens, output_tokens"),
    ("image", {"images": -1}, "cannot be negative"),
    ("image", {"images": float("nan")}, "not a finite number"),
])
def test_the_ledger_refuses_units_it_cannot_price(default, kind, units, words):
    with pytest.raises(ValueError, match=words):
        costs.cost_of(kind, prices(default), units)


def test_money_is_shown_in_cents_and_unit_prices_with_their_digits():
    assert costs.format_usd(Decimal("1234.5")) == "$1,234.50"
    assert costs.format_usd(Decimal("0.004")) == "< $0.01"
    assert costs.format_usd(Decimal("0.005")) == "$0.01"
    assert costs.format_usd(0) == "$0.00"
    assert [costs.format_unit_price(p) for p in (0.4, 0.083, 0.000225, 3)] == ["$0.40", "$0.083", "$0.000225", "$3.00"]


# --- budget --------------------------------------------------------------------------------

def test_a_request_over_the_daily_budget_is_refused_with_the_numbers():
    with pytest.raises(costs.BudgetExceeded) as refused:
        costs.check_budget(Decimal("3.90"), Decimal("3.20"), 5)
    assert str(refused.value) == "This would cost about $3.20; you have $1.10 left of today's $5.00 budget."
    assert refused.value.code == "budget_exceeded"
    assert (refused.value.estimate, refused.value.left, refused.value.budget) == (
        Decimal("3.2"), Decimal("1.1"), Decimal("5"))


def test_a_request_that_exactly_reaches_the_budget_is_allowed_and_no_budget_means_no_limit():
    assert costs.check_budget(Decimal("1.80"), Decimal("3.20"), 5) is None
    assert costs.check_budget(10_000, 10_000, None) is None


def test_a_spent_budget_refuses_even_a_sub_cent_call_and_its_numbers_still_show_why():
    with pytest.raises(costs.BudgetExceeded) as refused:
        costs.check_budget(5, Decimal("0.003"), 5)
    assert str(refused.value) == "This would cost about $0.01; you have $0.00 left of today's $5.00 budget."
    with pytest.raises(costs.BudgetExceeded) as refused:  # what is left rounded down, the cost up as it must
        costs.check_budget(Decimal("3.8999"), Decimal("1.1004"), 5)
    assert str(refused.value) == "This would cost about $1.11; you have $1.10 left of today's $5.00 budget."
    with pytest.raises(costs.BudgetExceeded) as refused:  # otherwise the cost is shown as everywhere else
        costs.check_budget(Decimal("3.90"), Decimal("3.201"), 5)
    assert str(refused.value) == "This would cost about $3.20; you have $1.10 left of today's $5.00 budget."


def test_a_zero_budget_allows_only_free_work():
    assert costs.check_budget(0, costs.free_estimate().total_usd, 0) is None
    with pytest.raises(costs.BudgetExceeded):
        costs.check_budget(0, Decimal("0.01"), 0)


def test_negative_amounts_are_a_programming_error_not_a_refusal():
    with pytest.raises(ValueError):
        costs.check_budget(-1, 1, 5)


def test_a_plan_above_its_cost_limit_is_refused_with_both_numbers():
    assert costs.check_max_cost(Decimal("9.99"), 10) is None
    assert costs.check_max_cost(Decimal("10.00"), 10) is None
    assert costs.check_max_cost(Decimal("1e6"), None) is None
    with pytest.raises(costs.CostLimitExceeded) as refused:
        costs.check_max_cost(Decimal("10.001"), 10)
    assert str(refused.value) == "This would cost about $10.01, more than the $10.00 allowed."
    assert refused.value.code == "cost_limit_exceeded"


def test_per_user_limits_are_unset_by_default_and_validated():
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.MV_USER_DAILY_BUDGET_USD, settings.MV_USER_MAX_ACTIVE_PREDICTIONS)")
    assert run_python(code).stdout.strip() == "None None"
    assert run_python(code, MV_USER_DAILY_BUDGET_USD="5", MV_USER_MAX_ACTIVE_PREDICTIONS="3").stdout.strip() == "5.0 3"
    for name, value in (("MV_USER_DAILY_BUDGET_USD", "-1"), ("MV_USER_DAILY_BUDGET_USD", "five"),
                        ("MV_USER_MAX_ACTIVE_PREDICTIONS", "0"), ("MV_USER_MAX_ACTIVE_PREDICTIONS", "2.5")):
        result = run_python(code, **{name: value})
        assert result.returncode != 0 and f"{name} must be" in result.stderr and "unset for no limit" in result.stderr


# --- fair shares ---------------------------------------------------------------------------

def queue(user: str, count: int, start: datetime) -> list[fairshare.WaitingItem]:
    return [fairshare.WaitingItem(user, start + timedelta(seconds=i), f"{user}{i}") for i in range(count)]


def test_user_bs_first_item_starts_within_one_turn_while_user_a_has_40_queued():
    """A fills every slot and has 40 more queued; B asks for one clip a minute later. The
    very next slot to free up goes to B, and with two free slots B gets the second."""
    waiting = queue("A", 40, T0) + queue("B", 1, T0 + timedelta(minutes=1))
    assert fairshare.choose_to_start(waiting, {"A": 8}, per_user_cap=None, free_slots=0) == []
    started = fairshare.choose_to_start(waiting, {"A": 7}, per_user_cap=None, free_slots=1)  # one of A's finished
    assert [item.item_id for item in started] == ["B0"]
    started = fairshare.choose_to_start(waiting, {}, per_user_cap=None, free_slots=2)  # both idle: A's is older
    assert [item.item_id for item in started] == ["A0", "B0"]


def test_over_many_turns_b_never_waits_behind_as_queue():
    """Turn by turn, one slot frees each turn (always one of A's): B's three items start in
    the first three turns even though A queued 40 first."""
    waiting = queue("A", 40, T0) + queue("B", 3, T0 + timedelta(minutes=1))
    active = {"A": 4, "B": 0}
    b_started_on = []
    for turn in range(1, 6):
        active["A"] -= 1  # one of A's finishes
        (item,) = fairshare.choose_to_start(waiting, active, per_user_cap=None, free_slots=1)
        waiting.remove(item)
        active[item.user_id] += 1
        if item.user_id == "B":
            b_started_on.append(turn)
            active["B"] -= 1  # B's clips are quick in this story
    assert b_started_on == [1, 2, 3]


def test_users_take_turns_and_each_users_items_keep_their_order():
    waiting = queue("A", 3, T0) + queue("B", 3, T0 + timedelta(seconds=1)) + queue("C", 3, T0 + timedelta(seconds=2))
    started = fairshare.choose_to_start(waiting, {}, per_user_cap=None, free_slots=7)
    assert [item.item_id for item in started] == ["A0", "B0", "C0", "A1", "B1", "C1", "A2"]


def test_the_user_with_fewest_active_predictions_goes_first():
    waiting = queue("A", 2, T0) + queue("B", 2, T0 + timedelta(seconds=5))
    started = fairshare.choose_to_start(waiting, {"A": 3, "B": 1}, per_user_cap=None, free_slots=3)
    assert [item.item_id for item in started] == ["B0", "B1", "A0"]


def test_a_user_at_the_cap_waits_in_their_own_queue_while_others_start():
    waiting = queue("A", 10, T0) + queue("B", 1, T0 + timedelta(seconds=5))
    started = fairshare.choose_to_start(waiting, {"A": 1}, per_user_cap=2, free_slots=5)
    assert [item.item_id for item in started] == ["B0", "A0"]  # A reaches 2 and stops
    assert fairshare.choose_to_start(queue("A", 3, T0), {"A": 2}, per_user_cap=2, free_slots=5) == []


def test_nothing_starts_without_a_free_slot_or_waiting_work():
    assert fairshare.choose_to_start(queue("A", 3, T0), {}, per_user_cap=None, free_slots=0) == []
    assert fairshare.choose_to_start([], {"A": 1}, per_user_cap=None, free_slots=4) == []
