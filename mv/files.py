"""Moving files between local disk (where ffmpeg works) and Django storage (local or S3)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.db.models.fields.files import FieldFile

logger = logging.getLogger("mv.files")


@contextlib.contextmanager
def local_path(field_file: FieldFile) -> Iterator[Path]:
    """The stored file as a local path: the file itself on local storage, else a temp copy."""
    if isinstance(field_file.storage, FileSystemStorage):
        yield Path(field_file.path)
        return
    suffix = Path(field_file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with field_file.open("rb") as src:
            shutil.copyfileobj(src, tmp)
        tmp.flush()
        yield Path(tmp.name)


def store(field_file: FieldFile, path: Path, name: str) -> None:
    """Save a finished local file into the field (the storage picks a generated name)."""
    with open(path, "rb") as fh:
        field_file.save(name, File(fh), save=False)


WORKDIR_PREFIX = "mv-"


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    """A temp folder named after this process, so a worker starting after a crash can
    tell a dead process's leftovers (mv.jobs.remove_dead_workdirs)."""
    with tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-") as tmp:
        yield Path(tmp)


def workdir_pid(name: str) -> int | None:
    pid = name[len(WORKDIR_PREFIX):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None
