"""When to ask a provider again about a running prediction.

A poll costs a request to the provider and a task in our queue, and a prediction is rarely
done long before its model usually takes, so a row is first polled when the quicker recent
runs of its model had finished (as the provider timed them), then often for a short while,
easing back to the steady interval should it run late. Without a history the steady interval
applies from the start. The steady interval grows with the predictions running, so together
they stay within the provider's request budget (``Provider.polls_per_second``) however many
run at once.
"""

from __future__ import annotations

import statistics
import time

from django.conf import settings
from django.utils import timezone

from mv.models import ACTIVE_STATUSES, JobStatus, Prediction
from mv.providers import get_provider

HISTORY = 20  # the latest successes of a model whose reported times are read
MIN_HISTORY = 4  # fewer than this and the model has no history yet
QUICK = 0.25  # the shortest interval between polls, seconds (the queue checks every 0.2 s)
CACHE_SECONDS = 30.0  # a worker re-reads a model's history and the running count this often at most

_cache: dict[tuple, tuple[float, float | int | None]] = {}


def _cached(key: tuple, seconds: float, compute):
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    _cache[key] = (now + seconds, value)
    return value


def forget() -> None:
    """Drop what this process remembered (tests that change the history)."""
    _cache.clear()


def usual_seconds(kind: type[Prediction], provider: str, model: str) -> float | None:
    """How long the quicker recent runs of this model took, start to finish as the provider
    reported them (the lower quartile of the last HISTORY successes); None without enough."""

    def compute() -> float | None:
        recent = (kind.objects.filter(provider=provider, model=model, status=JobStatus.SUCCEEDED)
                  .order_by("-finished_at").values_list("billed_units", flat=True)[:HISTORY])
        times = [float(t) for units in recent
                 if isinstance(t := ((units or {}).get("reported") or {}).get("total_time"), int | float) and t > 0]
        if len(times) < MIN_HISTORY:
            return None
        return statistics.quantiles(times, n=4)[0]

    return _cached(("usual", kind._meta.label, provider, model), CACHE_SECONDS, compute)


def running(provider: str) -> int:
    """Predictions of every kind started on this provider and not finished (a second old at most)."""
    return _cached(("running", provider), 1.0, lambda: sum(
        k.objects.filter(provider=provider, status__in=ACTIVE_STATUSES, started_at__isnull=False).count()
        for k in Prediction.kinds()))


def steady_interval(provider: str) -> float:
    """MV_POLL_INTERVAL, or longer when that many running predictions polled that often would
    pass the provider's budget of requests."""
    budget = get_provider(provider).polls_per_second
    interval = settings.MV_POLL_INTERVAL
    return interval if not budget else max(interval, running(provider) / budget)


def next_poll(row: Prediction) -> float:
    """Seconds until the running row is polled again."""
    provider = get_provider(row.provider)
    if provider.pushes_updates:
        return settings.MV_WEBHOOK_POLL_INTERVAL  # the webhook tells us; polling is the fallback
    steady = steady_interval(row.provider)
    usual = usual_seconds(type(row), row.provider, row.model)
    if usual is None or row.started_at is None:
        return steady
    elapsed = (timezone.now() - row.started_at).total_seconds()
    if elapsed < usual:
        return usual - elapsed
    quick = min(steady, max(QUICK, usual / 10))
    return min(steady, quick + (elapsed - usual) / 2)  # later and later while it runs late
