"""What every row kind shares, below the paid prediction: generated file names, ownership
(who may see a row: one check for pages and API), and a job's status with its finishing verbs
(predictions and stitches alike)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.deconstruct import deconstructible


@deconstructible(path="mv.models.GeneratedName")
class GeneratedName:
    """Stored names are generated (uuid + a short extension), never the client's name."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, instance: models.Model, filename: str) -> str:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        if not ext.isalnum() or len(ext) > 5:
            ext = "bin"
        return f"{self.prefix}/{uuid.uuid4().hex}.{ext}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeneratedName) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)


class OwnedQuerySet(models.QuerySet):
    """Users see only their own rows; superusers see all (staff only see all in the admin,
    whose own permissions apply there)."""

    owner_path = "owner"

    def visible_to(self, user) -> OwnedQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(**{self.owner_path: user})


def get_owned(rows: type[models.Model] | OwnedQuerySet, user, pk: Any) -> Any:
    """The row `pk` of a model (or of a queryset of it) if `user` may see it, else 404: the one
    ownership check of the pages and the API (another user's id is as unknown as a made-up one)."""
    queryset = rows if isinstance(rows, models.QuerySet) else rows._default_manager.all()
    return get_object_or_404(queryset.visible_to(user), pk=pk)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class Job(models.Model):
    """Status bookkeeping shared by predictions and stitches."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Set on this instance when it was this instance's write that finished the row, so what
    # follows a finish runs once even when two steps race to finish it.
    finished_here = False

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def shown_state(self) -> tuple:
        """What a page shows of it (queued and running look alike): part of a poll's fingerprint."""
        return (self.pk, "active" if self.is_active else self.status)

    def mark_running(self) -> None:
        self.status = JobStatus.RUNNING
        self.started_at = self.started_at or timezone.now()
        self.save(update_fields=["status", "started_at"])

    def mark_failed(self, error: str) -> None:
        self._finish(JobStatus.FAILED, error)

    def mark_canceled(self, error: str = "cancelled") -> None:
        self._finish(JobStatus.CANCELED, error)

    def forget_finish(self) -> None:
        """After a finishing transaction rolled back: the row as the database has it again."""
        if self.finished_here:
            self.finished_here = False
            self.refresh_from_db(fields=["status", "error", "finished_at"])

    def _finish(self, status: str, error: str) -> None:
        """Only an active row finishes: a row already finished (by a Cancel, a deadline, a
        newer request) keeps its outcome."""
        now = timezone.now()
        if type(self).objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).update(
            status=status, error=error[:2000], finished_at=now
        ):
            self.status, self.error, self.finished_at = status, error[:2000], now
            self.finished_here = True
        else:
            self.refresh_from_db(fields=["status", "error", "finished_at"])
