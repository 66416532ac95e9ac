"""Money around the rows: what a request would cost (priced by mv.costs with the flavor's
prices and the provider that would run it), the daily budget each request is checked
against before anything is created, and what a project or a user has spent.

Spending counts every prediction row a user started today (UTC): a finished row at its
ledger cost, an unfinished one at its estimate, so work already under way is counted
before it is billed and concurrent requests cannot slip past the budget together.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models.functions import TruncDate

from mv import costs, flavors, planning
from mv.flavors import Flavor
from mv.models import AudioTrack, Clip, Project, Scene, money
from mv.providers import Provider, get_provider


def _free_or(provider: Provider, estimate: costs.Estimate) -> costs.Estimate:
    """The estimate on a paid provider; on a free one (the local renderer) $0, saying why."""
    if provider.paid:
        return estimate
    return costs.free_estimate("local preview: free" if provider.renders_locally else f"{provider.label}: free")


def _video_params(flavor: Flavor) -> tuple[int, bool]:
    return flavor.video.duration, flavor.video.generate_audio


def clip_estimate(flavor: Flavor, *, seconds: float | None = None, generate_audio: bool | None = None,
                  provider: Provider | None = None) -> costs.Estimate:
    """One generated clip (the flavor's length and audio unless given)."""
    default_seconds, default_audio = _video_params(flavor)
    audio = default_audio if generate_audio is None else generate_audio
    estimate = costs.estimate_clips(flavor, [seconds or default_seconds], audio)
    return _free_or(provider or get_provider(), estimate)


def lipsync_estimate(flavor: Flavor, seconds: float, provider: Provider | None = None) -> costs.Estimate:
    """One lipsync whose output lasts ``seconds`` (the song slice it is cut to)."""
    return _free_or(provider or get_provider(), costs.estimate_lipsync(flavor, [seconds]))


def images_estimate(flavor: Flavor, count: int, provider: Provider | None = None) -> costs.Estimate:
    return _free_or(provider or get_provider(), costs.estimate_images(flavor, count))


def writing_estimate(flavor: Flavor, provider: Provider | None = None) -> costs.Estimate:
    return _free_or(provider or get_provider(), costs.estimate_scene_writing(flavor))


def plan_estimate(flavor: Flavor, *, scenes: int, lipsync_seconds: list[float] | tuple = (),
                  clip_seconds: list[float] | None = None, provider: Provider | None = None) -> costs.Estimate:
    """A whole project: its scenes written, a clip for each (the flavor's length unless the
    plan gives each scene's), and the lipsyncs asked for."""
    seconds, with_audio = _video_params(flavor)
    estimate = costs.estimate_project(flavor, clip_seconds=clip_seconds or [seconds] * scenes,
                                      generate_audio=with_audio, lipsync_seconds=lipsync_seconds, scene_writing=True)
    return _free_or(provider or get_provider(), estimate)


def _slots_estimate(flavor: Flavor, slots: list) -> costs.Estimate:
    """Scenes written, then a clip for each slot, of the length that covers it (and a note
    when much of what is paid for is trimmed away)."""
    estimate = plan_estimate(flavor, scenes=len(slots),
                             clip_seconds=[planning.clip_seconds_for(slot.length, flavor) for slot in slots])
    return dataclasses.replace(estimate, note=planning.trimmed_note(planning.clip_seconds(slots, flavor)))


def song_estimate(track: AudioTrack, flavor: Flavor, *, start: float | None, end: float | None,
                  count: int | None) -> costs.Estimate:
    """The create page's price before the project exists: [start, end] of the song planned as
    the project would be. Raises Refused (the plan's message) when it does not fit. While
    the song is importing, the count asked for (or the flavor's) at the flavor's clip length."""
    slots = planning.plan(track, start=start, end=end, count=count, flavor=flavor)
    if slots is None:
        return plan_estimate(flavor, scenes=count or int(flavor.get(
            "parameters", "number_of_scenes", used_in="mv.pipeline.spending: scenes while the song imports")))
    return _slots_estimate(flavor, slots)


def project_estimate(project: Project, flavor: Flavor) -> costs.Estimate:
    """A new project's automatic run: its scenes written, then a clip for each (with a song,
    each of the length that covers its slot in the plan)."""
    slots = project.plan(flavor)
    if slots:
        return _slots_estimate(flavor, slots)
    count = project.scene_request(flavor, used_in="mv.pipeline.spending: scenes in the estimate").number_of_scenes
    return plan_estimate(flavor, scenes=count)


def regenerate_estimate(scene: Scene, *, lipsync: bool = False) -> costs.Estimate:
    """The scene card's Regenerate (a new clip), or Regenerate with lipsync (its slot of the song)."""
    flavor = scene.project.flavor
    slot = scene.slot
    if lipsync and slot is not None:
        return lipsync_estimate(flavor, round(slot.length, 6))
    return clip_estimate(flavor, seconds=scene.clip_seconds(flavor))  # the length it is asked for


def retry_estimate(clip: Clip) -> costs.Estimate:
    """Running a failed clip again with the same inputs."""
    flavor = flavors.resolve(clip.config_flavor)
    if clip.kind == Clip.Kind.LIPSYNC:
        return lipsync_estimate(flavor, max(0.0, (clip.audio_end or 0.0) - (clip.audio_start or 0.0)))
    return clip_estimate(flavor, seconds=clip.input.get("duration"), generate_audio=clip.input.get("generate_audio"))


def price_label(estimate: costs.Estimate) -> str:
    """A button's price: "$3.20", or "free"."""
    return "free" if estimate.free_reason else costs.format_usd(estimate.exact_usd)


day_start = money.day_start  # budgets are per UTC day
spent_today = money.spent_today  # what the user's predictions started today cost, or are estimated to
_paying_kinds = money.paying_kinds


def spend_by_user_and_day(days: int = 30) -> list[dict[str, Any]]:
    """The ledger per user per UTC day (newest first) over the last ``days`` days: what was
    spent (finished rows' costs) and how many predictions were started."""
    since = day_start() - timedelta(days=days - 1)
    totals: dict[tuple, dict[str, Any]] = {}
    for kind in _paying_kinds():
        rows = (kind.objects.filter(created_at__gte=since)
                .annotate(day=TruncDate("created_at", tzinfo=UTC), user=models.F(kind.owner_path))
                .values("day", "user").annotate(spend=models.Sum("cost_usd"), count=models.Count("pk")))
        for row in rows:
            entry = totals.setdefault((row["day"], row["user"]), {"day": row["day"], "user_id": row["user"],
                                                                   "spend": Decimal(0), "predictions": 0})
            entry["spend"] += row["spend"] or 0
            entry["predictions"] += row["count"]
    names = dict(get_user_model().objects.filter(pk__in={u for _, u in totals}).values_list("pk", "username"))
    result = sorted(totals.values(), key=lambda e: (e["day"], names.get(e["user_id"], "")), reverse=True)
    return [entry | {"username": names.get(entry["user_id"], "?"), "spend": costs.exact(entry["spend"])}
            for entry in result]


def check_budget(owner, estimate: costs.Estimate) -> None:
    """Refuse (402) work whose estimate would take its user past today's budget (the same
    rule as every prediction's gate, mv.models.money)."""
    money.check_budget(owner, estimate)


@contextlib.contextmanager
def budgeted(owner, estimate: costs.Estimate) -> Iterator[None]:
    """Run the block that creates a request's rows only if its estimate fits in the user's
    budget for today; else refuse before anything is created."""
    with transaction.atomic():
        check_budget(owner, estimate)
        yield
