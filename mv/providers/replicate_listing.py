"""Finding a prediction again at Replicate by the key its create carried (mv.providers.base.
start_key): a start cut off after its create was sent is resumed, never paid for twice.

Replicate keeps the model and the input of every prediction and lists them newest first
(``GET /v1/predictions``, 100 a page, ``next`` for older ones). The files in an input are
the URLs of our uploads; Replicate's Files API keeps each one's SHA-256, so a listed input
gives the same key as the create that made it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container
from datetime import datetime, timedelta
from typing import Any

from mv.providers.base import start_key

FILE_URL = re.compile(r"^https?://[^/]+/v1/files/([A-Za-z0-9]+)/?$")  # an upload, as an input holds it
CLOCK_SKEW = 300.0  # seconds Replicate's clock may differ from ours


def digests(value: Any) -> Any:
    """An input with each open file replaced by the SHA-256 of its bytes (read, then rewound
    for the upload)."""
    if isinstance(value, dict):
        return {k: digests(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [digests(v) for v in value]
    if hasattr(value, "read") and hasattr(value, "seek"):
        digest = hashlib.sha256()
        for chunk in iter(lambda: value.read(1 << 20), b""):
            digest.update(chunk)
        value.seek(0)
        return f"sha256:{digest.hexdigest()}"
    return value


def listed_digests(client, value: Any, seen: dict[str, str]) -> Any:
    """A listed input as ``digests`` made it before the create: our uploads by their SHA-256."""
    if isinstance(value, dict):
        return {k: listed_digests(client, v, seen) for k, v in value.items()}
    if isinstance(value, list):
        return [listed_digests(client, v, seen) for v in value]
    if isinstance(value, str) and (match := FILE_URL.match(value)):
        if value not in seen:
            checksums = client.files.get(match.group(1)).checksums or {}
            seen[value] = f"sha256:{checksums['sha256']}" if checksums.get("sha256") else value
        return seen[value]
    return value


def find_started(client, key: str, since: datetime, taken: Container[str], *, pages: int) -> str | None:
    """The id of the newest listed prediction created with ``key`` no earlier than ``since``
    (less CLOCK_SKEW) whose id is not in ``taken``; None when the pages looked at show none.
    Raises the client's errors."""
    cutoff = since - timedelta(seconds=CLOCK_SKEW)
    seen: dict[str, str] = {}
    cursor: Any = ...
    for _ in range(max(1, pages)):
        page = client.predictions.list(cursor)
        for prediction in page.results:
            created = _when(prediction.created_at)
            if created is not None and created < cutoff:
                return None  # older than the start: the rest are older still
            if prediction.id in taken or not isinstance(prediction.input, dict):
                continue
            if start_key(prediction.model or "", listed_digests(client, prediction.input, seen)) == key:
                return prediction.id
        if not page.next:
            return None
        cursor = page.next
    return None


def _when(stamp: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None
