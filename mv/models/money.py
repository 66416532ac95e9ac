"""The one gate every paid prediction passes, whatever its kind: an estimate, the owner's
budget for today, and the owner's cap on predictions running at once.

``Prediction`` inherits ``PaidWork``. A kind says what one of its rows costs before it starts
(``paid_estimate``); everything else is here and the same for every kind:

- ``PaidWork.admit(rows)`` creates rows only if their estimates fit in their owner's budget
  (``MV_USER_DAILY_BUDGET_USD``): the owner is locked, today's spending read, and a refusal
  (``Refused``, 402) creates nothing. Each row keeps its estimate, so work under way counts
  toward the budget before it is billed. On a paid provider an estimate of $0 is no pass: it is
  refused once nothing is left.
- ``within_owner_cap()`` is asked before a row starts: at most
  ``MV_USER_MAX_ACTIVE_PREDICTIONS`` of an owner's predictions of all kinds run at once on paid
  providers; more wait their turn.

A new kind rides on this by implementing ``paid_estimate``; a kind that does not is refused on
a paid provider rather than run unpriced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models.functions import Coalesce

from mv import costs
from mv.errors import Refused

if TYPE_CHECKING:
    from mv import flavors

ACTIVE = ("queued", "running")  # JobStatus.QUEUED, RUNNING (mv.models.base), spelt out to import nothing of it
MONEY = models.DecimalField(max_digits=12, decimal_places=6)


def day_start(now: datetime | None = None) -> datetime:
    """Midnight UTC of today: budgets are per UTC day."""
    now = now or datetime.now(UTC)
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def paying_kinds() -> list:
    """Every kind of prediction whose rows name who pays (``owner_path``); a kind whose path
    does not fit its model is left out rather than failing every request."""
    from django.apps import apps

    return [kind for kind in apps.get_app_config("mv").get_models()
            if issubclass(kind, PaidWork)
            and kind.owner_path.split("__")[0] in {field.name for field in kind._meta.get_fields()}]


def spent_today(user) -> Decimal:
    """What the user's predictions started today cost, or are estimated to while unfinished."""
    total = Decimal(0)
    for kind in paying_kinds():
        rows = kind.objects.filter(**{kind.owner_path: user}, created_at__gte=day_start())
        total += rows.aggregate(total=Coalesce(models.Sum(Coalesce("cost_usd", "estimated_cost_usd")),
                                               models.Value(Decimal(0)), output_field=MONEY))["total"]
    return costs.exact(total)


def started_by_owner(provider: str, *, besides: type | None = None) -> Counter:
    """Predictions of every kind (but ``besides``) started on ``provider`` and not finished,
    per owner's id."""
    counts: Counter = Counter()
    for kind in paying_kinds():
        if kind is besides:
            continue
        counts.update(kind.objects.filter(provider=provider, status__in=ACTIVE, started_at__isnull=False)
                      .values_list(kind.owner_path, flat=True))
    return counts


def lock_owner(owner) -> None:
    """Serialise one owner's budget checks and starts (PostgreSQL row lock; SQLite's
    IMMEDIATE transactions are serial anyway)."""
    list(get_user_model().objects.select_for_update().filter(pk=owner.pk).values_list("pk", flat=True))


def check_budget(owner, estimate: costs.Estimate) -> None:
    """Refuse (402) work whose estimate would take its owner past today's budget. Free work
    (the local renderer) always passes; paid work of $0 passes only while something is left.
    Call inside the transaction that creates the rows (alone, it only checks)."""
    budget = settings.MV_USER_DAILY_BUDGET_USD
    if budget is None or estimate.free_reason:
        return
    with transaction.atomic():  # the owner's lock holds to the end of the caller's transaction, if any
        lock_owner(owner)
        spent = spent_today(owner)
    amount = estimate.exact_usd
    try:
        costs.check_budget(spent, amount, budget)
        if amount <= 0 and spent >= costs.exact(budget):
            raise costs.BudgetExceeded(estimate=amount, left=Decimal(0), budget=costs.exact(budget))
    except costs.BudgetExceeded as exc:
        raise Refused(exc.code, str(exc), {
            "estimated_cost_usd": float(costs.cents(amount)), "spent_today_usd": float(costs.cents(spent)),
            "budget_usd": float(costs.cents(budget))}, status=402) from None


class PaidWork:
    """The money side of a ``Prediction`` (mixed into it)."""

    def paid_estimate(self, flavor: flavors.Flavor) -> costs.Estimate:
        """What this row costs on a paid provider, before it starts (every kind says how)."""
        raise NotImplementedError(f"{type(self).__name__} must say what it costs (paid_estimate)")

    def estimate(self) -> costs.Estimate:
        """This row's estimate: $0 on a free provider (saying why), else the kind's own."""
        from mv import flavors
        from mv.providers import get_provider

        provider = get_provider(self.provider)
        if not provider.paid:
            return costs.free_estimate("local preview: free" if provider.renders_locally else f"{provider.label}: free")
        try:
            return self.paid_estimate(flavors.resolve(self.config_flavor))
        except NotImplementedError:
            raise Refused("no_price", "This kind of work has no price yet, so it cannot be started on a paid "
                                      "provider.", status=402) from None

    @staticmethod
    def admit(rows: Sequence[Any], owner=None, prepare: Callable[[], None] | None = None) -> costs.Estimate:
        """Save ``rows`` (new, unsaved, one owner) only if their estimates together fit in
        the owner's budget for today; each keeps its own estimate. Raises Refused (402) and
        saves nothing otherwise (``prepare``, e.g. storing a row's input file, runs only once
        the budget allowed it). Returns their estimate together."""
        if not rows:
            return costs.Estimate()
        owner = owner or rows[0].owner
        estimates = [row.estimate() for row in rows]
        total = sum(estimates[1:], estimates[0])
        with transaction.atomic():
            check_budget(owner, total)
            if prepare is not None:
                prepare()
            for row, estimate in zip(rows, estimates, strict=True):
                row.estimated_cost_usd = estimate.exact_usd
                row.save()
        return total

    def price_before_start(self) -> None:
        """The gate again for a row that reached its start without passing ``admit`` (made
        with ``objects.create`` by code that forgot it): priced and checked against today's
        budget now, before anything is paid. Raises Refused when it does not fit: the step
        then fails it as a finish (mv.jobs), so what its end causes happens too. Call inside
        the claim's transaction."""
        from mv.providers import get_provider

        if self.estimated_cost_usd is not None or not get_provider(self.provider).paid:
            return
        estimate = self.estimate()
        check_budget(self.owner, estimate)
        self.estimated_cost_usd = estimate.exact_usd
        type(self).objects.filter(pk=self.pk).update(estimated_cost_usd=self.estimated_cost_usd)

    def within_owner_cap(self) -> bool:
        """Whether its owner may start one more prediction now (paid providers with
        MV_USER_MAX_ACTIVE_PREDICTIONS: counted over every kind)."""
        from mv.providers import get_provider

        cap = settings.MV_USER_MAX_ACTIVE_PREDICTIONS
        if cap is None or not get_provider(self.provider).paid:
            return True
        owner_id = self.owner.pk
        running = sum(kind.objects.filter(**{kind.owner_path: owner_id}, status__in=ACTIVE, started_at__isnull=False)
                      .exclude(pk=self.pk).count() for kind in paying_kinds())
        return running < cap
