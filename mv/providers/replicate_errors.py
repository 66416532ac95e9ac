"""What Replicate's failures mean for a row: a plain message, and whether asking again can help."""

from __future__ import annotations

import logging
import re

import httpx
from replicate.exceptions import ReplicateError

from mv.providers.base import ProviderError

logger = logging.getLogger("mv.providers.replicate")


def describe(exc: Exception) -> tuple[str, bool]:
    """A clear message for the row, and whether it is permanent (True: asking again
    cannot help; False: passing trouble, poll again)."""
    if isinstance(exc, ReplicateError):
        status = exc.status or 0
        detail = (exc.detail or exc.title or "").strip()
        if status == 401:
            return "Replicate rejected the API token (check REPLICATE_API_TOKEN).", True
        if status == 402:
            return "Replicate says the account has no credit left.", True
        if status == 404:
            return f"Replicate does not know that model or prediction: {detail}", True
        if status == 422:
            return f"The model rejected the input: {detail}", True
        if status == 429:
            return "Replicate is rate-limiting requests; try again shortly.", False
        if status >= 500:
            return f"Replicate had a server error ({status}).", False
        return f"Replicate error {status}: {detail}", True
    if isinstance(exc, httpx.TimeoutException):
        return "Replicate did not answer in time.", False
    if isinstance(exc, httpx.TransportError):
        return "Could not reach Replicate (connection failed).", False
    logger.warning("unexpected error talking to Replicate: %r", exc)
    return "Something unexpected went wrong talking to Replicate; try again.", True


def maybe_created(what: str) -> ProviderError:
    """After these the request had reached Replicate, which may have created (and be billing)
    a prediction whose id we never got: not retried; the row is reconciled (mv.jobs)."""
    return ProviderError(f"Replicate {what} after the job was sent, so it may have been created and be running at "
                         "Replicate without us knowing its id.", permanent=False, maybe_created=True)


def retry_after(exc: ReplicateError) -> float | None:
    match = re.search(r"~?(\d+)s", exc.detail or "")
    return float(match.group(1)) if match else None


def error(exc: Exception) -> ProviderError:
    message, permanent = describe(exc)
    return ProviderError(message, permanent=permanent)
