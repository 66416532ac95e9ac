"""What paid work costs: an estimate before a call, the cost of a finished one (the ledger),
the daily budget check (the fair-share choice of which waiting work starts next is mv.fairshare).

Everything here is a pure function of its arguments (no database, no provider), so the
pages, the API, ``make_video`` and the job lifecycle all price work the same way.

Money rules, written once here:

- Amounts are ``Decimal`` US dollars. A price read from YAML (a float) goes through its
  shortest text (``Decimal(str(0.083))``), so 0.083 is exactly 0.083, never 0.08299999….
- A cost is kept exact to the micro-dollar (``exact``: 6 places, half up) wherever it is
  computed, stored or summed: a second of Whisper GPU time costs $0.000225.
- It is rounded to cents (``cents``: half up) once, when a total is shown or sent by the
  API. An estimate and the sum of its ledger entries therefore round the same way, and a
  price is never rounded twice.
- A budget or a cost limit is compared with exact amounts; a refusal rounds what is left
  or allowed down, and the cost up only where half-up would make it look allowed, so its
  two numbers always show why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

from mv import flavors

Number = Decimal | float | int

MICRO = Decimal("0.000001")
CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)

# Room in the scene writer's prompt for what the user types (idea, character, parameters),
# on top of the flavor's templates: an upper bound, in tokens.
PROMPT_FILL_TOKENS = 1000
CHARS_PER_TOKEN = 4  # the usual rule of thumb for English text and GPT tokenizers


class BudgetExceeded(Exception):
    """A paid request whose estimate would take a user past today's budget."""

    code = "budget_exceeded"

    def __init__(self, *, estimate: Decimal, left: Decimal, budget: Decimal) -> None:
        self.estimate, self.left, self.budget = estimate, left, budget
        cost, shown_left = _refusal(estimate, left)
        super().__init__(f"This would cost about {cost}; you have {shown_left} left of today's {format_usd(budget)} budget.")


class CostLimitExceeded(Exception):
    """A plan whose estimate is above the most its caller allowed (``make_video --max-cost``)."""

    code = "cost_limit_exceeded"

    def __init__(self, *, estimate: Decimal, limit: Decimal) -> None:
        self.estimate, self.limit = estimate, limit
        cost, allowed = _refusal(estimate, limit)
        super().__init__(f"This would cost about {cost}, more than the {allowed} allowed.")


def to_decimal(value: Number) -> Decimal:
    """A finite number of dollars (or units) as a Decimal; a float through its shortest text."""
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int):
        raise ValueError(f"not a number: {value!r}")
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if not amount.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return amount


def exact(value: Number) -> Decimal:
    """A cost as it is computed, stored and summed: to the micro-dollar."""
    return to_decimal(value).quantize(MICRO, rounding=ROUND_HALF_UP)


def cents(value: Number, rounding: str = ROUND_HALF_UP) -> Decimal:
    """A total as it is shown or sent: to the cent."""
    return to_decimal(value).quantize(CENT, rounding=rounding)


def format_usd(amount: Number) -> str:
    """``$14.40``; a cost that rounds to nothing but is not free is ``< $0.01``."""
    amount = to_decimal(amount)
    rounded = cents(amount)
    if amount > 0 and rounded == 0:
        return "< $0.01"
    return f"${rounded:,.2f}"


def format_unit_price(price: Number) -> str:
    """A unit price with the digits it has (at least two): $0.40, $0.083, $0.000225."""
    price = exact(price).normalize()
    places = max(2, -price.as_tuple().exponent)
    return f"${price:,.{places}f}"


def _refusal(cost: Decimal, allowed: Decimal) -> tuple[str, str]:
    """A refused cost and what was allowed (or is left), as shown: the cost to the cent as
    everywhere, but rounded up when that would make it look allowed; the allowance rounded
    down. So the two numbers in a refusal always show why."""
    shown_allowed = cents(allowed, ROUND_FLOOR)
    shown_cost = cents(cost)
    if shown_cost <= shown_allowed:
        shown_cost = cents(cost, ROUND_CEILING)
    return format_usd(shown_cost), format_usd(shown_allowed)


def _format_seconds(seconds: Decimal) -> str:
    return f"{seconds.quantize(CENT, rounding=ROUND_HALF_UP).normalize():f} s"


def _short_model(model: str) -> str:
    return model.rsplit("/", 1)[-1]


# kind -> (unit name in billed_units, price key, units per priced amount). A kind billed on
# two counts (the scene writer: tokens in and out) lists both.
BILLING: Mapping[str, tuple[tuple[str, str, Decimal], ...]] = MappingProxyType({
    "video": (("seconds", "video_usd_per_second", Decimal(1)),),
    "video_with_audio": (("seconds", "video_with_audio_usd_per_second", Decimal(1)),),
    "lipsync": (("seconds", "lipsync_usd_per_second", Decimal(1)),),
    "image": (("images", "image_usd_each", Decimal(1)),),
    "scene_writing": (("input_tokens", "scene_writer_usd_per_million_input_tokens", MILLION),
                      ("output_tokens", "scene_writer_usd_per_million_output_tokens", MILLION)),
    "lyrics": (("gpu_seconds", "lyrics_usd_per_gpu_second", Decimal(1)),),
    "start_frame": (("images", "start_frame_usd_each", Decimal(1)),),
    "stems": (("gpu_seconds", "stems_usd_per_gpu_second", Decimal(1)),),
    "analysis": (("gpu_seconds", "analysis_usd_per_gpu_second", Decimal(1)),),
    "music": (("gpu_seconds", "music_usd_per_gpu_second", Decimal(1)),),
})
KINDS: tuple[str, ...] = tuple(BILLING)


def cost_of(kind: str, flavor_pricing: Mapping[str, Any], billed_units: Mapping[str, Number]) -> Decimal:
    """What one finished prediction cost at the prices in force (exact, to the micro-dollar).

    ``billed_units`` holds what the provider bills the kind for: ``seconds`` of output
    (video, video_with_audio, lipsync: measured from the file), ``images``,
    ``input_tokens`` and ``output_tokens`` (scene_writing), ``gpu_seconds`` (lyrics: the
    prediction's ``metrics.predict_time``). A failed or cancelled prediction passes what it
    was billed for, often nothing (zeros).
    """
    if kind not in BILLING:
        raise ValueError(f"unknown kind of paid work {kind!r}; known: {', '.join(KINDS)}")
    lines = BILLING[kind]
    expected = {unit for unit, _, _ in lines}
    if set(billed_units) != expected:
        raise ValueError(f"{kind} is billed on {', '.join(sorted(expected))}, not {', '.join(sorted(billed_units)) or 'nothing'}")
    total = Decimal(0)
    for unit, price_key, per in lines:
        count = to_decimal(billed_units[unit])
        if count < 0:
            raise ValueError(f"{unit} cannot be negative ({count})")
        if price_key not in flavor_pricing:
            raise ValueError(f"no price {price_key!r} (manage.py check reports it)")
        total += count * to_decimal(flavor_pricing[price_key]) / per
    return exact(total)


@dataclass(frozen=True)
class LineItem:
    """One kind of paid work in an estimate: ``count`` ``unit``s at ``unit_price`` each."""

    kind: str  # a key of BILLING
    what: str  # for people: "12 clips × 8 s with audio"
    count: Decimal
    unit: str  # "s", "image", "call", "min"
    unit_price: Decimal
    subtotal: Decimal  # exact (micro-dollars)
    model: str = ""

    def summary(self) -> str:
        at = f" at {_short_model(self.model)}" if self.model else ""
        return f"{self.what}{at} ({format_unit_price(self.unit_price)}/{self.unit})"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "count": float(self.count), "unit": self.unit,
                "unit_price_usd": float(self.unit_price), "subtotal_usd": float(self.subtotal),
                "model": self.model, "summary": self.summary()}


@dataclass(frozen=True)
class Estimate:
    """What a request would cost: its line items and their total, rounded to cents once."""

    items: tuple[LineItem, ...] = ()
    free_reason: str = ""  # why it costs nothing at all (the local renderer)
    note: str = ""  # a word on the plan behind it (the share of paid clip seconds trimmed away)

    @property
    def exact_usd(self) -> Decimal:
        return exact(sum((item.subtotal for item in self.items), Decimal(0)))

    @property
    def total_usd(self) -> Decimal:
        return cents(self.exact_usd)

    @property
    def summary(self) -> str:
        """One line for people: "≈ $14.40 — 12 clips × 8 s at veo-3.1 ($0.15/s)"."""
        note = f" · {self.note}" if self.note else ""
        if self.free_reason or not self.items:
            return f"$0.00 — {self.free_reason or 'nothing to pay for'}{note}"
        return f"≈ {format_usd(self.exact_usd)} — " + "; ".join(item.summary() for item in self.items) + note

    def __add__(self, other: Estimate) -> Estimate:
        reason = self.free_reason if self.free_reason == other.free_reason else ""
        return Estimate(items=self.items + other.items, free_reason=reason,
                        note="; ".join(n for n in (self.note, other.note) if n))

    def to_dict(self) -> dict[str, Any]:
        return {"estimated_cost_usd": float(self.total_usd), "summary": self.summary,
                "items": [item.to_dict() for item in self.items]}


def pricing(flavor: flavors.Flavor) -> Mapping[str, Any]:
    """The flavor's prices (``image_params.yaml`` ``pricing``, inherited key by key)."""
    return flavor.get("image_params", "pricing", used_in="mv.costs: prices for estimates and the ledger")


def _per_second_item(kind: str, flavor: flavors.Flavor, seconds_list: Sequence[Number], noun: str,
                     model: str, suffix: str = "") -> Estimate:
    if not seconds_list:
        return Estimate()
    seconds = [to_decimal(s) for s in seconds_list]
    if any(s < 0 for s in seconds):
        raise ValueError("a length in seconds cannot be negative")
    total = sum(seconds, Decimal(0))
    plural = noun if len(seconds) == 1 else f"{noun}s"
    if len(set(seconds)) == 1:
        what = f"{len(seconds)} {plural} × {_format_seconds(seconds[0])}"
    else:
        what = f"{len(seconds)} {plural}, {_format_seconds(total)} in all"
    prices = pricing(flavor)
    (unit, price_key, _), = BILLING[kind]
    item = LineItem(kind=kind, what=what + suffix, count=total, unit="s", unit_price=to_decimal(prices[price_key]),
                    subtotal=cost_of(kind, prices, {unit: total}), model=model)
    return Estimate(items=(item,))


def estimate_clips(flavor: flavors.Flavor, seconds_list: Sequence[Number], generate_audio: bool) -> Estimate:
    """Clips of these lengths (the model's durations, what it bills) from the flavor's video model."""
    model = flavor.get("image_params", "video_model", used_in="mv.costs.estimate_clips: model named in the estimate")
    kind = "video_with_audio" if generate_audio else "video"
    return _per_second_item(kind, flavor, seconds_list, "clip", model, " with audio" if generate_audio else "")


LIPSYNC_MIN_BILLED_SECONDS = 1  # when a flavor does not say (image_params lipsync_min_billed_seconds)


def estimate_lipsync(flavor: flavors.Flavor, seconds_list: Sequence[Number]) -> Estimate:
    """Lipsyncs whose outputs last these many seconds (the song slices they are cut to), each
    priced at least at the model's minimum billed length, so no lipsync is estimated at $0."""
    model = flavor.get("image_params", "lipsync_model", used_in="mv.costs.estimate_lipsync: model named in the estimate")
    least = to_decimal(flavor.get("image_params", "lipsync_min_billed_seconds", default=LIPSYNC_MIN_BILLED_SECONDS,
                                  used_in="mv.costs.estimate_lipsync: shortest output priced"))
    seconds = [to_decimal(s) for s in seconds_list]
    if any(s < 0 for s in seconds):
        raise ValueError("a length in seconds cannot be negative")
    return _per_second_item("lipsync", flavor, [max(s, least) for s in seconds], "lipsync", model)


def estimate_images(flavor: flavors.Flavor, n: int) -> Estimate:
    """``n`` character reference images from the flavor's image model."""
    if n < 0:
        raise ValueError("the number of images cannot be negative")
    if n == 0:
        return Estimate()
    prices = pricing(flavor)
    model = flavor.get("image_params", "model", used_in="mv.costs.estimate_images: model named in the estimate")
    item = LineItem(kind="image", what=f"{n} reference image{'s' if n != 1 else ''}", count=Decimal(n), unit="image",
                    unit_price=to_decimal(prices["image_usd_each"]), subtotal=cost_of("image", prices, {"images": n}),
                    model=model)
    return Estimate(items=(item,))


def approx_tokens(text: str) -> int:
    """A token count good enough for a price: about four characters a token."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_scene_writing(flavor: flavors.Flavor) -> Estimate:
    """One scene-writer call, priced at its most: the flavor's prompts plus room for what the
    user types in, and every output token it may write (``scene_max_tokens``)."""
    prompts = flavor.values["scene_prompts"]
    input_tokens = PROMPT_FILL_TOKENS + sum(approx_tokens(prompts.get(key) or "")
                                            for key in ("scene_system_prompt", "scene_generation_prompt"))
    output_tokens = int(flavor.get("image_params", "scene_max_tokens", default=4096,
                                   used_in="mv.costs.estimate_scene_writing: most output tokens billed"))
    model = flavor.get("image_params", "scene_model", used_in="mv.costs.estimate_scene_writing: model named in the estimate")
    cost = cost_of("scene_writing", pricing(flavor), {"input_tokens": input_tokens, "output_tokens": output_tokens})
    item = LineItem(kind="scene_writing", what=f"scene writing, ≤ {input_tokens + output_tokens:,} tokens",
                    count=Decimal(1), unit="call", unit_price=cost, subtotal=cost, model=model)
    return Estimate(items=(item,))


def estimate_music(flavor: flavors.Flavor, seconds: Number) -> Estimate:
    """Making ``seconds`` of song: billed by GPU time once made; estimated at the flavor's
    assumed price per second of song."""
    seconds = to_decimal(seconds)
    price = to_decimal(pricing(flavor)["music_usd_per_second"])
    item = LineItem(kind="music", what=f"a song of {_format_seconds(seconds)}", count=seconds, unit="s",
                    unit_price=price, subtotal=exact(seconds * price))
    return Estimate(items=(item,))


def estimate_lyrics(flavor: flavors.Flavor, seconds: Number) -> Estimate:
    """Transcribing ``seconds`` of song (Whisper bills GPU time, known only after the call)."""
    return _per_minute_of_song(flavor, seconds, "lyrics", "lyrics")


def estimate_structure(flavor: flavors.Flavor, seconds: Number) -> Estimate:
    """The structure model hearing ``seconds`` of song (billed on GPU time, known only after)."""
    return _per_minute_of_song(flavor, seconds, "analysis", "song structure")


def _per_minute_of_song(flavor: flavors.Flavor, seconds: Number, kind: str, what: str) -> Estimate:
    """A model that listens to a song, at the flavor's assumed ``<kind>_usd_per_minute`` of song."""
    seconds = to_decimal(seconds)
    if seconds < 0:
        raise ValueError("a length in seconds cannot be negative")
    if seconds == 0:
        return Estimate()
    minutes = seconds / 60
    price = to_decimal(pricing(flavor)[f"{kind}_usd_per_minute"])
    item = LineItem(kind=kind, what=f"{what} of {_format_seconds(seconds)} of song", count=minutes, unit="min",
                    unit_price=price, subtotal=exact(minutes * price))
    return Estimate(items=(item,))


def estimate_start_frames(flavor: flavors.Flavor, n: int) -> Estimate:
    """``n`` scene start frames from the flavor's image-editing model (``start_frame_model``)."""
    if n <= 0:
        return Estimate()
    prices = pricing(flavor)
    model = flavor.get("image_params", "start_frame_model", default="",
                       used_in="mv.costs.estimate_start_frames: model named in the estimate")
    item = LineItem(kind="start_frame", what=f"{n} start frame{'s' if n != 1 else ''}", count=Decimal(n), unit="image",
                    unit_price=to_decimal(prices["start_frame_usd_each"]),
                    subtotal=cost_of("start_frame", prices, {"images": n}), model=model or "")
    return Estimate(items=(item,))


def estimate_stems(flavor: flavors.Flavor, seconds: Number) -> Estimate:
    """Separating ``seconds`` of song into stems (billed by GPU time; estimated per minute of song)."""
    return _per_minute_of_song(flavor, seconds, "stems", "vocals")


def estimate_project(flavor: flavors.Flavor, *, clip_seconds: Sequence[Number], generate_audio: bool,
                     lipsync_seconds: Sequence[Number] = (), scene_writing: bool = True, images: int = 0,
                     lyrics_seconds: Number = 0) -> Estimate:
    """A whole project: clips, lipsyncs, reference images, scene writing, lyrics (the big costs first)."""
    writing = estimate_scene_writing(flavor) if scene_writing else Estimate()
    return (estimate_clips(flavor, clip_seconds, generate_audio) + estimate_lipsync(flavor, lipsync_seconds)
            + estimate_images(flavor, images) + writing + estimate_lyrics(flavor, lyrics_seconds))


def free_estimate(reason: str = "local preview: free") -> Estimate:
    """Work that costs nothing (the local renderer), saying why."""
    return Estimate(free_reason=reason)


def check_budget(spent_today_usd: Number, estimate_usd: Number, budget_usd: Number | None) -> None:
    """Refuse (``BudgetExceeded``) a request whose estimate would take today's spending past
    the budget; ``None`` means no budget."""
    if budget_usd is None:
        return
    spent, estimate, budget = exact(spent_today_usd), exact(estimate_usd), exact(budget_usd)
    if min(spent, estimate, budget) < 0:
        raise ValueError("amounts of money here cannot be negative")
    if spent + estimate > budget:
        raise BudgetExceeded(estimate=estimate, left=max(budget - spent, Decimal(0)), budget=budget)


def check_max_cost(estimate_usd: Number, max_usd: Number | None) -> None:
    """Refuse (``CostLimitExceeded``) an estimate above ``max_usd``; ``None`` means no limit."""
    if max_usd is None:
        return
    estimate, limit = exact(estimate_usd), exact(max_usd)
    if min(estimate, limit) < 0:
        raise ValueError("amounts of money here cannot be negative")
    if estimate > limit:
        raise CostLimitExceeded(estimate=estimate, limit=limit)
