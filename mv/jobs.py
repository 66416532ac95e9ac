"""The life of a paid prediction, for every kind of ``Prediction`` row alike.

A queued row is claimed and started, and the provider's prediction id is stored before
anything waits on it; a running row is polled (one poll chain per row, named by its
``poll_token``), cancelled and failed past its deadline, and kept when it succeeds. A
worker that starts after a crash resumes every unfinished row from its stored id (never
paying twice: a start cut off mid-way is failed once ``MV_START_GRACE`` has passed; free
local renders simply start again). A finish, however it comes, is one transaction
(``finishing``): the row's status, its ledger entry and every row it causes commit together
under its project's lock. The background tasks (mv.tasks) only run these steps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from mv import dbretry, files, liveness, media, polling
from mv.errors import Refused
from mv.models import ACTIVE_STATUSES, JobStatus, Prediction, Stitch
from mv.providers import ProviderError, get_provider
from mv.providers.base import JobUpdate, sending_to

logger = logging.getLogger("mv.jobs")

# Sent once when a prediction row finishes, whichever way (sender: its model class,
# row: the row), inside the transaction that finishes it. The use cases hang their
# follow-ups on it (mv.pipeline.followups): they write rows, and enqueue tasks on commit.
finished = Signal()


def kind_model(kind: str) -> type[Prediction]:
    model = apps.get_model("mv", kind)
    if not issubclass(model, Prediction):
        raise LookupError(f"{kind} is not a kind of prediction")
    return model


def advance(kind: str, pk: str, token: str | None) -> float | None:
    """One step of a poll chain: None when the chain ends (the row finished, is gone, a
    newer chain took over, or it waits: for a slot, which the finish that frees one grants,
    or for an event such as its song's analysis; either starts a new chain for it), else the
    seconds until its next step while its prediction runs."""
    row = kind_model(kind).objects.filter(pk=pk).first()
    if (row is None or not row.is_current_chain(token) or advance_row(row) or row.awaits_grant
            or row.waits_for_event()):
        return None
    return polling.next_poll(row)


def advance_row(row: Prediction) -> bool:
    """One step of the row's life; when this step finishes it, its status, its ledger entry
    and its follow-ups commit together (``finishing``; once: a row finished elsewhere, by a
    Cancel or a racing webhook, is left alone). True once it is finished."""
    if row.is_finished:
        return True
    reported: dict = {}
    try:
        return step(row, reported)
    except Exception as exc:
        if dbretry.is_transient(exc):
            raise  # a database error that passes: the whole step is run again (mv.dbretry)
        # A bug must never leave a row running forever: fail it with a plain message.
        logger.exception("%s %s failed unexpectedly", row.kind_name(), row.pk)
        _fail(row, "Something went wrong on our side; retry it.", reported)
        return True


@contextlib.contextmanager
def finishing(row: Prediction, reported: dict) -> Iterator[None]:
    """The one transaction of a finish: the project row is locked first (then the slot lock:
    ``Prediction.lock_for_finish``), the block writes the row's new status (only an active
    row finishes), and when it did, its ledger entry and every follow-up it causes (the
    ``finished`` receivers: the re-stitch, the slot it frees, the next step of the automatic
    run) are written before the commit. A reader that sees the row finished sees them too.
    Provider calls, downloads and file work happen before it; task enqueues on commit."""
    try:
        with transaction.atomic():
            row.lock_for_finish()
            yield
            if row.finished_here:
                _ledger(row, reported)
                finished.send(sender=type(row), row=row)
    except BaseException:
        row.forget_finish()  # rolled back: the row is as the database has it
        raise


def _ledger(row: Prediction, reported: dict) -> None:
    """The finished row's cost (a pricing bug is logged; it never undoes the finish)."""
    try:
        with transaction.atomic():
            row.record_cost(reported)
    except Exception:
        logger.exception("%s %s: its cost could not be recorded", row.kind_name(), row.pk)


def _fail(row: Prediction, message: str, reported: dict) -> None:
    """Fail it with its follow-ups; should a follow-up itself break, the row still fails
    (with its ledger entry, without follow-ups) rather than stay active for ever."""
    try:
        with finishing(row, reported):
            row.mark_failed(message)
    except Exception as exc:
        if dbretry.is_transient(exc):
            raise  # a locked or dropped database: the whole step runs again, follow-ups included
        logger.exception("%s %s: its follow-ups failed", row.kind_name(), row.pk)
        with transaction.atomic():
            row.mark_failed(message)
            if row.finished_here:
                _ledger(row, reported)


def deliver(prediction_id: str, payload: dict) -> Prediction | None:
    """What a provider pushed about one of its predictions (a webhook): the row that waits
    on it, of whatever kind, takes one step now, through the same code as a poll but
    reading the pushed state instead of asking. None when no row has that prediction."""
    for model in Prediction.kinds():
        row = model.objects.filter(prediction_id=prediction_id).first()
        if row is not None:
            break
    else:
        return None
    if row.is_active:
        with get_provider(row.provider).pushed(prediction_id, payload):
            advance_row(row)
    return row


def step(row: Prediction, reported: dict | None = None) -> bool:
    """Start, poll or finish an unfinished row once. True once it is finished; ``reported``
    receives what the provider says the job used."""
    reported = {} if reported is None else reported
    provider = get_provider(row.provider)
    with files.workdir() as workdir, contextlib.ExitStack() as stack:
        try:
            update = _start_or_poll(row, provider, workdir, stack, reported)
            if update is None:
                return row.is_finished
            if update.state == "running":
                row.note_progress(update.progress)
                return False
            reported.update(update.metrics)
            fields = row.prepare_output(update) if update.state == "succeeded" else {}
            with finishing(row, reported):
                if update.state == "succeeded":
                    row.keep_output(update, fields)
                elif update.state == "canceled":
                    row.mark_canceled(update.error or "The prediction was cancelled.")
                else:
                    row.mark_failed(update.error or "The model failed without saying why.")
            return True
        except ProviderError as exc:
            if not exc.permanent and row.status == JobStatus.RUNNING:
                logger.warning("%s %s: transient provider error, will poll again: %s", row.kind_name(), row.pk, exc.message)
                return False
            _fail(row, exc.message, reported)
        except media.MediaError as exc:
            logger.warning("%s %s: unusable output: %s", row.kind_name(), row.pk, exc)
            _fail(row, row.media_failure(str(exc)), reported)
    return True


def _start_or_poll(row: Prediction, provider, workdir, stack, reported: dict) -> JobUpdate | None:
    """The update to apply, or None when there is nothing to do this step (another worker
    is starting it, it waits for a slot, or it finished here)."""
    if row.status == JobStatus.QUEUED:
        if row.started_at is not None:
            update = reconcile(row, provider)
            if update is not None or row.started_at is not None or row.status != JobStatus.QUEUED:
                return update
        try:
            claimed = row.claim_turn()
        except Refused as exc:  # made without the budget gate, and over today's budget: a finish
            _fail(row, exc.message, reported)
            return None
        if not claimed:
            return None
        try:
            with liveness.starting(row.pk), sending_to(partial(_sending, row)):
                update = row.start_job(provider, workdir, stack)
        except _ClaimLost:
            row.refresh_from_db()  # cancelled (or taken over) before anything was sent: nothing to undo
            return None
        except ProviderError as exc:
            if not exc.maybe_created or not row.start_key:
                raise
            # Sent, but no answer says what became of it: the next step looks for it.
            logger.warning("%s %s: %s; it will be looked for at the provider", row.kind_name(), row.pk, exc.message)
            dbretry.call(row.release_start)
            return None
        if not dbretry.call(row.accept, update):
            if row.prediction_id == update.prediction_id:
                return None  # a reconcile found this prediction and resumed it meanwhile
            # Finished meanwhile (a Cancel, a newer request): nobody will collect this
            # prediction, so stop paying for it.
            provider.cancel(update.prediction_id)
            return None
        return update
    if not row.prediction_id:
        _fail(row, "Interrupted before the model accepted the job; retry to run it again.", reported)
        return None
    if row.deadline_at and timezone.now() > row.deadline_at:
        reported.update(provider.cancel(row.prediction_id))
        _fail(row, f"Timed out after {settings.MV_PREDICTION_TIMEOUT:.0f} s; the prediction was cancelled.", reported)
        return None
    return row.poll_job(provider, row.prediction_id, workdir)


def _sending(row: Prediction, key: str) -> None:
    """The create with ``key`` is about to go out: record its key on the row first (so a
    worker cut off from here on can find it at the provider), or stop it when the row is no
    longer this claim's (cancelled meanwhile: nothing is sent, nothing paid)."""
    if not dbretry.call(row.note_start_sent, key):
        raise _ClaimLost("The job was cancelled or restarted before it was sent.")


class _ClaimLost(ProviderError):
    """The row stopped being this start's before its create went out."""


def reconcile(row: Prediction, provider) -> JobUpdate | None:
    """A queued row whose start was claimed but never stored a prediction id. Left alone while
    its claimer may still be inside the start (a live process of this machine; another
    machine's claim for MV_START_GRACE). Else: nothing was sent (no start key) -> start it
    again; the provider lists the prediction with its key -> resume it; the provider shows
    none -> start it again, once the create could no longer land (MV_CREATE_TIMEOUT after it
    was sent). A provider that cannot list predictions fails it as interrupted instead."""
    if _claimer_may_be_starting(row):
        return None
    if not row.start_key:
        dbretry.call(row.start_again)  # nothing was sent: nothing to find, nothing paid
        return None
    if not provider.lists_predictions:
        _fail(row, "Interrupted while starting (the worker restarted); retry to run it again.", {})
        return None
    try:
        found = provider.find_started(row.start_key, row.start_sent_at or row.started_at, _TakenIds())
    except ProviderError as exc:
        logger.warning("%s %s: could not look for its prediction yet: %s", row.kind_name(), row.pk, exc.message)
        return None  # asked again at the next step
    if found:
        if not dbretry.call(row.adopt, found):
            return None
        logger.info("%s %s: resumed prediction %s, found by its start key", row.kind_name(), row.pk, found)
        return JobUpdate(state="running", prediction_id=found)
    sent = row.start_sent_at or row.started_at
    if timezone.now() - sent < timedelta(seconds=settings.MV_CREATE_TIMEOUT):
        return None  # the create may still be landing: look again at the next step
    dbretry.call(row.start_again)
    return None


def _claimer_may_be_starting(row: Prediction) -> bool:
    """Whether the process that claimed the row's start may still be inside it: it runs (on
    this machine; this very process only while it is starting that row), or it is on another
    machine and its claim is younger than MV_START_GRACE."""
    gone = liveness.claimer_gone(row.started_by)
    if gone is False:
        return not liveness.claimer_is_me(row.started_by) or liveness.is_starting(row.pk)
    return gone is None and timezone.now() - row.started_at < timedelta(seconds=settings.MV_START_GRACE)


class _TakenIds:
    """The prediction ids rows already hold (asked per id, only for listed candidates)."""

    def __contains__(self, prediction_id: object) -> bool:
        return any(m.objects.filter(prediction_id=prediction_id).exists() for m in Prediction.kinds())


def cancel(row: Prediction, message: str = "Cancelled by you.") -> bool:
    """Stop an active row and the prediction it pays for: the row, its ledger entry and its
    follow-ups commit in one transaction; the provider is told once that commits (never
    from inside a transaction), and what it reports it used is added to the ledger then. A
    start under way when this lands cancels its own prediction (see accept), and the poll
    chain ends at its next step. False when it was not active."""
    with finishing(row, {}):
        row.mark_canceled(message)
        if row.finished_here:
            row.refresh_from_db(fields=["prediction_id"])  # an accept may have landed just before
    if not row.finished_here:
        return False
    transaction.on_commit(partial(_cancel_at_provider, row))
    return True


def _cancel_at_provider(row: Prediction) -> None:
    """Tell the provider, once the cancel committed; a start cut off after sending its create
    is found by its key and stopped too. What it reports it used joins the ledger."""
    row.refresh_from_db(fields=["prediction_id", "start_key", "start_sent_at", "started_by", "started_at"])
    provider = get_provider(row.provider)
    prediction_id = row.prediction_id or _sent_by_a_dead_start(row, provider)
    if not prediction_id:
        return
    reported = provider.cancel(prediction_id)
    if reported:
        _ledger(row, reported)


def _sent_by_a_dead_start(row: Prediction, provider) -> str:
    """The prediction a start cut off after sending its create made (found by its key), so a
    Cancel stops it too; "" when there is none to find (a live start cancels its own)."""
    if not row.start_key or not provider.lists_predictions or _claimer_may_be_starting(row):
        return ""
    try:
        return provider.find_started(row.start_key, row.start_sent_at or row.started_at, _TakenIds()) or ""
    except ProviderError:
        return ""


def recover() -> tuple[list[Prediction], list[Stitch]]:
    """On worker start: the unfinished predictions to resume in new poll chains and the
    stitches to run again (the caller enqueues them). Local renders a dead worker left are
    queued again from scratch: they cost nothing (one a live worker of this machine is still
    rendering is left to it). Temp folders of dead workers go, and ffmpeg processes a dead
    worker left running are stopped."""
    resume: list[Prediction] = []
    for model in Prediction.kinds():
        for row in model.objects.filter(status__in=ACTIVE_STATUSES):
            if ((row.started_at or row.prediction_id) and get_provider(row.provider).renders_locally
                    and not (row.started_at and row.status == JobStatus.QUEUED and _claimer_may_be_starting(row))):
                row.restart()
            resume.append(row)
    Stitch.objects.filter(status=JobStatus.RUNNING).update(status=JobStatus.QUEUED)
    remove_dead_workdirs()
    return resume, list(Stitch.objects.filter(status=JobStatus.QUEUED))


def remove_dead_workdirs() -> list[str]:
    """Temp folders (mv.files.workdir) whose process is gone: a killed worker's leftovers,
    and the ffmpeg processes still writing into them (a killed worker's children live on)."""
    removed = []
    for path in (p for p in os.scandir(tempfile.gettempdir()) if p.name.startswith(files.WORKDIR_PREFIX)):
        pid = files.workdir_pid(path.name)
        if pid is not None and not process_alive(pid):
            _stop_processes_using(path.path)
            shutil.rmtree(path.path, ignore_errors=True)
            removed.append(path.name)
    return removed


def _stop_processes_using(folder: str) -> None:
    """Kill the processes whose command line names this folder (Linux /proc; elsewhere none)."""
    marker = folder.encode() + b"/"
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "cmdline"), "rb") as fh:
                if marker in fh.read():
                    os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def process_alive(pid: int) -> bool:
    """Whether the process runs. A zombie (killed, not yet reaped: a killed worker's children
    linger so where nothing reaps orphans) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def wait_for(rows: list, seconds: float) -> bool:
    """Re-read rows until all are finished or the time is up (the API's `wait`)."""
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        for row in rows:
            row.refresh_from_db()
        if all(r.is_finished for r in rows):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
