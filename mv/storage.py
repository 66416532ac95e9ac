"""Local media storage whose files appear only when complete."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

from django.core.files.storage import FileSystemStorage

INCOMING_PREFIX = ".incoming-"


class AtomicFileSystemStorage(FileSystemStorage):
    """Writes each file under a hidden temporary name beside its final one and renames it
    into place when complete, so a process killed mid-write never leaves a half file under
    a real name (what it does leave, ``prune_media`` removes)."""

    def _save(self, name: str, content) -> str:
        directory, basename = os.path.split(name)
        temp = super()._save(os.path.join(directory, f"{INCOMING_PREFIX}{uuid.uuid4().hex}-{basename}"), content)
        os.replace(self.path(temp), self.path(name))
        return name


def prune_unreferenced(older_than_seconds: float) -> list[str]:
    """Delete local media files that no row points at (left by a process killed between
    writing a file and saving its row), once older than ``older_than_seconds`` so files of
    work in progress are never touched; parts (mv.models.parts) are files of their rows like
    any other, and the parts of a clip that lost its file, or that no stitch used for
    MV_PRUNE_PARTS_UNUSED_DAYS, go (on object stores too). Returns the names removed."""
    from django.apps import apps
    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.db import models

    from mv.models.parts import drop_stale_parts

    drop_stale_parts(timedelta(days=settings.MV_PRUNE_PARTS_UNUSED_DAYS))  # and with their clip's file
    if not isinstance(default_storage, FileSystemStorage):
        return []  # object stores: use the bucket's lifecycle rules
    referenced: set[str] = set()
    for model in apps.get_app_config("mv").get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField):
                referenced.update(model.objects.exclude(**{field.name: ""}).values_list(field.name, flat=True))
    root = default_storage.location
    cutoff = time.time() - older_than_seconds
    removed = []
    for folder, _dirs, names in os.walk(root):
        for filename in names:
            path = os.path.join(folder, filename)
            name = os.path.relpath(path, root).replace(os.sep, "/")
            if name not in referenced and os.path.getmtime(path) <= cutoff:
                os.remove(path)
                removed.append(name)
    return removed
