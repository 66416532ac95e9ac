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

from mv import files, media, polling
from mv.models import ACTIVE_STATUSES, JobStatus, Prediction, Stitch
from mv.providers import ProviderError, get_provider
from mv.providers.base import JobUpdate

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
    except Exception:
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
    except Exception:
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
            if timezone.now() - row.started_at < timedelta(seconds=settings.MV_START_GRACE):
                return None  # another worker may still be inside the create call
            # The model may have accepted that start, so starting again could pay twice.
            _fail(row, "Interrupted while starting (the worker restarted); retry to run it again.", reported)
            return None
        if not row.claim_turn():
            return None
        update = row.start_job(provider, workdir, stack)
        if not row.accept(update):
            # Finished meanwhile (a Cancel, the start outlived MV_START_GRACE, a newer
            # request): nobody will collect this prediction, so stop paying for it.
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
    if row.prediction_id:
        transaction.on_commit(partial(_cancel_at_provider, row))
    return True


def _cancel_at_provider(row: Prediction) -> None:
    reported = get_provider(row.provider).cancel(row.prediction_id)
    if reported:
        _ledger(row, reported)


def recover() -> tuple[list[Prediction], list[Stitch]]:
    """On worker start: the unfinished predictions to resume in new poll chains and the
    stitches to run again (the caller enqueues them). Local renders under way are queued
    again from scratch: they cost nothing, and should another worker still be rendering one,
    its result is simply not kept (its accept fails). Temp folders of dead workers go, and
    ffmpeg processes a dead worker left running are stopped."""
    resume: list[Prediction] = []
    for model in Prediction.kinds():
        for row in model.objects.filter(status__in=ACTIVE_STATUSES):
            if (row.started_at or row.prediction_id) and get_provider(row.provider).renders_locally:
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
