"""The one abstract model for a paid prediction (`Prediction`) with the verbs of its life; what
every row kind shares below it (file names, ownership, job status) is in mv.models.job."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from mv.models.job import (  # noqa: F401  (what every kind shares, re-exported: mv.models.base is their home for imports)
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    GeneratedName,
    Job,
    JobStatus,
    OwnedQuerySet,
    get_owned,
)
from mv.models.locks import lock_project, lock_slots, slots_granted
from mv.models.money import PaidWork, lock_owner, started_by_owner

if TYPE_CHECKING:
    import contextlib

    from mv.providers.base import JobUpdate, Provider


class Prediction(PaidWork, Job):
    """A paid job we wait on: admitted through the money gate (``PaidWork.admit``: estimate,
    budget; ``within_owner_cap`` before it starts), sent to a provider, its id stored before
    anything waits on it, polled by one chain (``poll_token``) under a deadline, finished once.

    Each kind (a clip, a character image, a scene writing, ...) subclasses this and says
    what it costs (``paid_estimate``), how it starts (``start_job``), how it is polled
    (``poll_job``) and what it keeps when it succeeds (``keep_output``); mv.jobs runs the life
    of every kind the same way.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=32, blank=True, db_index=True)
    model = models.CharField(max_length=200, blank=True)
    input = models.JSONField(default=dict, blank=True)  # what we asked for, then exactly what was sent
    config_flavor = models.CharField(max_length=64, default="default", db_index=True)
    prediction_id = models.CharField(max_length=100, blank=True, db_index=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # When a slot (MV_MAX_CONCURRENT_PREDICTIONS / MV_USER_MAX_ACTIVE_PREDICTIONS) was granted
    # to it, by the finish that freed the slot or by a start that found one free: a granted
    # row counts as started for the fair-share pick until it finishes, and its chain starts it.
    granted_at = models.DateTimeField(null=True, blank=True)
    # Which poll chain may advance this row: recovery starts a new chain with a new token,
    # and any older chain still queued ends at its next step, so one chain polls a row.
    poll_token = models.UUIDField(null=True, blank=True, editable=False)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, from the provider's logs
    # The start, for reconciling one cut off at any instant (mv.jobs.reconcile): who claimed it
    # (mv.liveness.identity), and the key its create carries (what the provider echoes back, so
    # the prediction can be found again) with when it was sent. No key: nothing was sent.
    started_by = models.CharField(max_length=200, blank=True, editable=False)
    start_key = models.CharField(max_length=64, blank=True, editable=False)
    start_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The ledger: what it was estimated to cost before it started, what it is billed for
    # (e.g. {"seconds": 8.0} measured from the output, {"images": 1}) and its cost at the
    # prices in force.
    estimated_cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    billed_units = models.JSONField(default=dict, blank=True)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)

    # Does this kind count toward MV_MAX_CONCURRENT_PREDICTIONS on providers that limit it
    # (and toward MV_USER_MAX_ACTIVE_PREDICTIONS, in fair shares between users)?
    takes_a_slot = False
    # The lookup from a row of this kind to the user who pays for it.
    owner_path = "owner"

    class Meta:
        abstract = True

    @staticmethod
    def kinds() -> list[type[Prediction]]:
        """Every concrete kind of prediction (a new kind joins by subclassing Prediction)."""
        from django.apps import apps

        return [m for m in apps.get_app_config("mv").get_models() if issubclass(m, Prediction)]

    @classmethod
    def kind_name(cls) -> str:
        """The name a task carries to find this kind again (its model name)."""
        return cls._meta.model_name

    # --- the verbs of its life ------------------------------------------------------------

    def claim_start(self) -> bool:
        """Claim the right to start it (one worker wins); the time is the claim's proof, and
        the claimer's identity says whether it may still be inside the create."""
        from mv import liveness

        now, me = timezone.now(), liveness.identity()
        if not type(self).objects.filter(pk=self.pk, status=JobStatus.QUEUED, started_at__isnull=True).update(
            started_at=now, started_by=me
        ):
            return False
        self.started_at, self.started_by = now, me
        return True

    def _mine(self) -> models.QuerySet:
        """This row, only while it is still queued under this instance's claim."""
        return type(self).objects.filter(pk=self.pk, status=JobStatus.QUEUED, started_at=self.started_at)

    def note_start_sent(self, key: str) -> bool:
        """Record the key of the create about to be sent (before it is sent: a row without a
        key provably paid for nothing). False when the claim was lost (cancelled, restarted):
        then the create must not be sent."""
        now = timezone.now()
        if not self._mine().update(start_key=key, start_sent_at=now):
            return False
        self.start_key, self.start_sent_at = key, now
        return True

    def release_start(self) -> None:
        """Nobody is inside the create any more (it ended without an answer that says what
        happened): the next step reconciles it at once instead of waiting on the claimer."""
        if self._mine().update(started_by=""):
            self.started_by = ""

    def start_again(self) -> bool:
        """Forget a start that provably created nothing, so it is claimed and started anew."""
        values = {"started_at": None, "started_by": "", "start_key": "", "start_sent_at": None}
        if not self._mine().update(**values):
            self.refresh_from_db()
            return False
        for name, value in values.items():
            setattr(self, name, value)
        return True

    def adopt(self, prediction_id: str) -> bool:
        """Take over the prediction a cut-off start created (found at the provider by its key):
        it runs now, polled like any other. False when the row changed meanwhile."""
        values = {"status": JobStatus.RUNNING, "prediction_id": prediction_id,
                  "deadline_at": timezone.now() + timedelta(seconds=settings.MV_PREDICTION_TIMEOUT)}
        if not self._mine().update(**values):
            self.refresh_from_db()
            return False
        for name, value in values.items():
            setattr(self, name, value)
        return True

    def claim_turn(self) -> bool:
        """Claim the right to start it now. A row that waits for a slot needs a grant: here when
        the fair-share pick chooses it (granting every row it chooses, within each owner's
        MV_USER_MAX_ACTIVE_PREDICTIONS over every kind), else later from the finish that frees
        one. False: it waits, without polling. Any other row starts when its owner is within
        that cap (checked under a lock on the owner, so concurrent workers never let a user
        past it). Either way a row that reached its start without passing the gate is priced
        and checked against today's budget first (``price_before_start``: Refused, nothing
        claimed, when it does not fit)."""
        if not self.waits_for_slots():
            with transaction.atomic():
                if settings.MV_USER_MAX_ACTIVE_PREDICTIONS is not None:
                    lock_owner(self.owner)  # the owner's cap counts every kind: one start at a time
                if not (self.may_start() and self.within_owner_cap()):
                    return False
                self.price_before_start()
                return self.claim_start()
        if self.granted_at is None:
            with transaction.atomic():
                lock_slots(type(self), self.provider)
                self.refresh_from_db(fields=["granted_at"])  # another start may have granted it
                granted = [] if self.granted_at else type(self).grant_slots(self.provider)
            mine = next((row for row in granted if row.pk == self.pk), None)
            slots_granted.send(sender=type(self), rows=[row for row in granted if row is not mine])
            self.granted_at = mine.granted_at if mine else self.granted_at
            if self.granted_at is None:
                return False
        with transaction.atomic():
            self.price_before_start()
            return self.claim_start()

    @classmethod
    def grant_slots(cls, provider: str) -> list[Prediction]:
        """Grant the free slots on ``provider`` to the rows ``chosen_to_start`` picks (one row
        update each), under the slot lock: by every finish that frees a slot, in its
        transaction, and by a start; the caller starts the granted rows' chains."""
        from mv.providers import ProviderError, get_provider

        try:
            chosen = cls.chosen_to_start(get_provider(provider))
        except ProviderError:  # a provider no longer configured: nothing of it starts
            return []
        now = timezone.now()
        granted = []
        for item in chosen:
            if cls.objects.filter(pk=item.item_id, status=JobStatus.QUEUED, started_at__isnull=True,
                                  granted_at__isnull=True).update(granted_at=now):
                granted.append(cls.objects.get(pk=item.item_id))
        return granted

    @property
    def awaits_grant(self) -> bool:
        """Queued for a slot not granted yet: it does not poll (a grant starts its chain)."""
        return (self.status == JobStatus.QUEUED and self.started_at is None and self.granted_at is None
                and self.waits_for_slots())

    def waits_for_slots(self) -> bool:
        """Whether it starts only once a slot is granted (a kind says, by its provider)."""
        return False

    def project_key(self) -> Any:
        """The project whose row its finish locks (None: it belongs to none)."""
        return None

    def lock_for_finish(self) -> None:
        """A finish's locks, in the one order (project row, slot lock, then rows: no deadlock)."""
        key = self.project_key()
        if key is not None:
            lock_project(key)
        if self.waits_for_slots():
            lock_slots(type(self), self.provider)

    @classmethod
    def chosen_to_start(cls, provider: Provider) -> list[Any]:
        """The waiting rows of this kind on ``provider`` that start now, in order (ids in
        ``mv.fairshare.WaitingItem``s): each free slot (MV_MAX_CONCURRENT_PREDICTIONS, on providers
        that limit concurrency) goes to the user with the fewest started predictions, round
        robin, first in first out within a user; on paid providers a user with
        MV_USER_MAX_ACTIVE_PREDICTIONS started (or granted) waits in their own queue."""
        from collections import Counter

        from mv import fairshare

        rows = cls.objects.filter(provider=provider.name, status__in=ACTIVE_STATUSES)
        taken = models.Q(started_at__isnull=False) | models.Q(granted_at__isnull=False)
        started = Counter(rows.filter(taken).values_list(cls.owner_path, flat=True))
        waiting = [fairshare.WaitingItem(user_id=user, created_at=created, item_id=pk) for pk, user, created in
                   rows.exclude(taken).exclude(cls.waiting_for_events()).values_list("pk", cls.owner_path, "created_at")]
        free = settings.MV_MAX_CONCURRENT_PREDICTIONS - sum(started.values()) if provider.limits_concurrency \
            else len(waiting)
        cap = settings.MV_USER_MAX_ACTIVE_PREDICTIONS if provider.paid else None
        # a user's running predictions of every kind (lyrics, images, ...) count toward the cap
        # (this kind's rows count once started or granted; a grant is a start not yet made)
        by_owner = started_by_owner(provider.name, besides=cls) + started if cap is not None else started
        return fairshare.choose_to_start(waiting, by_owner, per_user_cap=cap, free_slots=max(0, free))

    def accept(self, update: JobUpdate) -> bool:
        """The provider took the job: store its id and deadline before anything waits on
        it. False when the row was finished (or restarted) meanwhile: nobody will collect
        that prediction then, and the caller cancels it."""
        values = {
            "status": JobStatus.RUNNING,
            "prediction_id": update.prediction_id,
            "deadline_at": timezone.now() + timedelta(seconds=settings.MV_PREDICTION_TIMEOUT),
            "model": update.model or self.model,
            "input": self.input | {"sent": update.input},
        }
        if not self._mine().update(**values):
            self.refresh_from_db(fields=["status", "error", "finished_at", "prediction_id"])
            return False
        for name, value in values.items():
            setattr(self, name, value)
        return True

    def note_progress(self, percent: int) -> None:
        if percent != self.progress:
            self.progress = percent
            self.save(update_fields=["progress"])

    def succeed(self, **fields: Any) -> None:
        """Finish it with its output fields (saved with the status in one write). Like every
        finish, only an active row: when two steps race (a webhook and a poll), one wins."""
        values = {"status": JobStatus.SUCCEEDED, "error": "", "progress": 100, "finished_at": timezone.now(), **fields}
        if not type(self).objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).update(**values):
            self.refresh_from_db()
            return
        for name, value in values.items():
            setattr(self, name, value)
        self.finished_here = True

    def is_current_chain(self, token: str | None) -> bool:
        """Whether the chain holding ``token`` polls this row (as read with the row)."""
        return (str(self.poll_token) if self.poll_token else None) == token

    def new_chain(self) -> uuid.UUID:
        """A new poll chain takes over (older chains of this row end at their next step)."""
        self.poll_token = uuid.uuid4()
        type(self).objects.filter(pk=self.pk).update(poll_token=self.poll_token)
        return self.poll_token

    def restart(self) -> None:
        """Queue it again from scratch (only for work that costs nothing to redo: a local
        render cut off by a dead worker)."""
        values = {"status": JobStatus.QUEUED, "started_at": None, "granted_at": None, "prediction_id": "",
                  "deadline_at": None, "progress": 0, "error": "", "started_by": "", "start_key": "",
                  "start_sent_at": None}
        for name, value in values.items():
            setattr(self, name, value)
        self.save(update_fields=list(values))

    def record_cost(self, reported: Mapping[str, Any] | None = None) -> None:
        """Write the ledger once the row finished: what it is billed for (``billing``) and its
        cost at the prices in force now (its flavor's ``pricing``); free providers cost $0.
        ``reported``: what the provider says the job used (Replicate's metrics), kept with
        the units, and what a failed or cancelled job is billed on where the kind says so."""
        from mv import costs, flavors
        from mv.providers import ProviderError, get_provider

        reported = dict(reported or {})
        billed = self.billing(reported)
        if billed is None:
            return
        kind, units = billed
        try:
            paid = get_provider(self.provider).paid
        except ProviderError:  # a provider no longer configured: its work is not priced
            paid = False
        price_list = costs.pricing(flavors.resolve(self.config_flavor))
        self.cost_usd = costs.cost_of(kind, price_list, units) if paid else Decimal(0)
        self.billed_units = {**{k: float(v) for k, v in units.items()}, "kind": kind,
                             **({"reported": reported} if reported else {})}
        self.save(update_fields=["cost_usd", "billed_units"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.pk),
            "status": self.status,
            "error": self.error or None,
            "provider": self.provider,
            "model": self.model,
            "progress": self.progress,
            **self.cost_fields(),
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    def cost_fields(self) -> dict[str, float | None]:
        """The ledger in the API: the estimate before it started, the cost once finished."""
        def usd(value: Decimal | None) -> float | None:
            return None if value is None else float(value)

        return {"estimated_cost_usd": usd(self.estimated_cost_usd), "cost_usd": usd(self.cost_usd)}

    # --- what each kind says --------------------------------------------------------------

    def may_start(self) -> bool:
        """Whether it may start now (a kind bounded by a slot limit waits its turn)."""
        return True

    def waits_for_event(self) -> bool:
        """Queued for an event that will start it (a new poll chain), so no chain polls it meanwhile."""
        return False

    @classmethod
    def waiting_for_events(cls) -> models.Q:
        """The rows ``waits_for_event`` says wait, as a filter: no slot is granted to them."""
        return models.Q(pk__in=[])

    def billing(self, reported: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """What a finished row is billed for: (a kind of ``mv.costs.BILLING``, its units),
        e.g. ("image", {"images": 1}); None when nothing is billed. ``reported`` holds what
        the provider says it used (e.g. ``predict_time`` for a kind billed on GPU time)."""
        return None

    def start_job(self, provider: Provider, workdir: Path, stack: contextlib.ExitStack) -> JobUpdate:
        """Send this row's input to its provider (every kind says how: Clip, CharacterImage,
        SceneWriting, LyricsTranscription)."""
        raise NotImplementedError(f"{type(self).__name__} must say how it starts")

    def poll_job(self, provider: Provider, prediction_id: str, workdir: Path) -> JobUpdate:
        return provider.poll(prediction_id, workdir=workdir)

    def prepare_output(self, update: JobUpdate) -> dict[str, Any]:
        """Check and store a success's output before its finishing transaction (file work
        holds no lock): the fields it writes. ProviderError/MediaError: unusable."""
        return {}

    def keep_output(self, update: JobUpdate, fields: dict[str, Any]) -> None:
        """Mark it succeeded with ``fields``, inside its finishing transaction; a kind adds the
        rows its success changes there (a scene's current clip, a written scene plan)."""
        self.succeed(**fields)

    def media_failure(self, detail: str) -> str:
        """The row's message when its output cannot be used."""
        return "The model's output could not be used."
