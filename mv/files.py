"""Moving files between local disk (where ffmpeg works) and Django storage (local or S3)."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
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


class FetchError(Exception):
    pass


def check_public_url(url: str) -> None:
    """A URL a user gave us must not reach this machine or its private network (our own
    admin, cloud metadata, databases), unless MV_ALLOW_PRIVATE_URLS says so."""
    if settings.MV_ALLOW_PRIVATE_URLS:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("only http(s) URLs with a host name can be fetched")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
    except (socket.gaierror, UnicodeError):
        raise FetchError(f"the host {parts.hostname} could not be found") from None
    if any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        raise FetchError(f"the host {parts.hostname} is on a private or local network, which is not allowed")


def fetch_url(url: str, dest: Path, *, limit_bytes: int, timeout: float = 60) -> Path:
    """Download a URL to dest, refusing more than limit_bytes and private hosts (also
    after a redirect)."""
    import requests

    def refuse_private_redirects(response, *args, **kwargs) -> None:
        if response.is_redirect:
            check_public_url(requests.compat.urljoin(response.url, response.headers["location"]))

    check_public_url(url)
    try:
        with requests.get(url, stream=True, timeout=timeout, hooks={"response": refuse_private_redirects}) as response:
            if response.status_code >= 400:
                raise FetchError(f"the URL answered HTTP {response.status_code}")
            received = 0
            with open(dest, "wb") as fh:
                for chunk in response.iter_content(64 * 1024):
                    received += len(chunk)
                    if received > limit_bytes:
                        raise FetchError(f"the file is larger than {limit_bytes // (1024 * 1024)} MB")
                    fh.write(chunk)
    except requests.RequestException as exc:
        logger.info("fetching %s failed: %r", url, exc)
        raise FetchError("the address could not be reached") from None
    return dest
