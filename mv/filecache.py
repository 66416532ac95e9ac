"""Local copies of stored files for the stitch: on remote storage (S3) the missing ones are
fetched in parallel and kept in a size-bounded cache on local disk, shared by every process
on the machine, so a re-stitch downloads nothing it already has.

Stored names are generated and never reused or overwritten (``GeneratedName``), so a name
always means the same bytes. Entries appear by an atomic rename (a reader never sees half a
file), the least recently used are evicted under a file lock, and a caller gets a hard link
in its own work folder: an eviction by another process never takes a file from under it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage
from django.db.models.fields.files import FieldFile

logger = logging.getLogger("mv.files")

PART = ".part-"  # an entry being written: the name it is written under until renamed into place
STALE_PART_SECONDS = 3600.0  # a part this old was left by a killed process


def local_copies(stored: Sequence[FieldFile], workdir: Path) -> list[Path]:
    """Each stored file as a local path, in order: the file itself on local storage, else a
    link (or copy) in ``workdir`` taken from the cache or fetched into it, the missing ones
    fetched at once in up to ``MV_FETCH_THREADS`` threads."""
    if all(isinstance(f.storage, FileSystemStorage) for f in stored):
        return [Path(f.path) for f in stored]
    cache = FileCache.from_settings()
    batch = uuid.uuid4().hex[:8]  # a folder may receive several batches (a stitch fetches what it lacks as it goes)
    targets = [workdir / f"fetched-{batch}-{i}{Path(f.name).suffix}" for i, f in enumerate(stored)]
    missing = [(f, t) for f, t in zip(stored, targets, strict=True)
               if isinstance(f.storage, FileSystemStorage) or not cache.take(_key(f.storage, f.name), t)]
    if missing:
        with ThreadPoolExecutor(max_workers=max(1, min(len(missing), settings.MV_FETCH_THREADS))) as pool:
            list(pool.map(lambda item: _fetch(item[0], item[1], cache), missing))
    return [Path(f.path) if isinstance(f.storage, FileSystemStorage) else t for f, t in zip(stored, targets, strict=True)]


def remember(stored: FieldFile, path: Path) -> None:
    """A file just stored (a part the stitch made) goes into this machine's cache too, so
    the next stitch here does not download what it wrote."""
    if not isinstance(stored.storage, FileSystemStorage):
        FileCache.from_settings().keep(_key(stored.storage, stored.name), path)


def _key(storage: Storage, name: str) -> str:
    """The cache key: which store (its class and bucket) and the stored name."""
    where = getattr(storage, "bucket_name", "") or getattr(storage, "location", "")
    return f"{type(storage).__module__}.{type(storage).__qualname__}\n{where}\n{name}"


def _fetch(stored: FieldFile, target: Path, cache: FileCache) -> None:
    if isinstance(stored.storage, FileSystemStorage):
        return
    with stored.storage.open(stored.name, "rb") as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)
    cache.keep(_key(stored.storage, stored.name), target)


class FileCache:
    """Files by key in one folder, at most ``limit`` bytes (0: keeps nothing)."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder, self.limit = Path(folder), limit

    @classmethod
    def from_settings(cls) -> FileCache:
        return cls(Path(settings.MV_FILE_CACHE_DIR), settings.MV_FILE_CACHE_MB * 1024 * 1024)

    def _entry(self, key: str) -> Path:
        return self.folder / hashlib.sha256(key.encode()).hexdigest()

    def take(self, key: str, target: Path) -> bool:
        """Put the cached file at ``target`` (a link, else a copy); False when not cached."""
        if self.limit <= 0:
            return False
        entry = self._entry(key)
        try:
            _link(entry, target)
        except FileNotFoundError:
            return False
        with contextlib.suppress(OSError):
            _touch(entry)  # recently used: evicted last
        return True

    def keep(self, key: str, source: Path) -> None:
        """Add a local file under ``key`` (when it fits), then evict down to the limit."""
        size = source.stat().st_size
        if self.limit <= 0 or size > self.limit:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        part = self.folder / f"{PART}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            _link(source, part)
            _touch(part)  # just used (a link keeps the download's own time)
            os.replace(part, self._entry(key))
        except OSError as exc:  # a full or read-only disk: the stitch goes on without the cache
            logger.warning("file cache: could not keep a file: %s", exc)
            return
        finally:
            part.unlink(missing_ok=True)
        self.evict()

    def evict(self) -> None:
        """Delete the least recently used entries until the rest fit, and parts left by
        killed processes; one process at a time."""
        with self._locked():
            entries, total, now = [], 0, time.time()
            for entry in os.scandir(self.folder):
                try:
                    info = entry.stat()
                except FileNotFoundError:
                    continue
                if entry.name.startswith(PART):
                    if now - info.st_mtime > STALE_PART_SECONDS:
                        Path(entry.path).unlink(missing_ok=True)
                elif not entry.name.startswith("."):
                    entries.append((info.st_mtime, info.st_size, entry.path))
                    total += info.st_size
            for _, size, path in sorted(entries):
                if total <= self.limit:
                    break
                Path(path).unlink(missing_ok=True)
                total -= size

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.folder / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _touch(path: Path) -> None:
    """Mark as used now, to the nanosecond (the file system's own clock ticks in milliseconds)."""
    now = time.time_ns()
    os.utime(path, ns=(now, now))


def _link(source: Path, target: Path) -> None:
    """A hard link (no bytes copied), else a copy (another file system)."""
    try:
        os.link(source, target)
    except FileNotFoundError:
        raise
    except OSError:
        shutil.copyfile(source, target)
