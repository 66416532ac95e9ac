"""Who is calling the API, and how often they may guess.

API keys belong to users. ``MV_API_KEYS`` entries are ``username:key`` (a bare key acts as the
``MV_API_USER`` user, as before); ``manage.py mv_api_key create USERNAME`` makes a key stored
only as a hash (``ApiKey``), revocable in the admin. Keys are checked by ``ApiKeyBackend``
through Django's ``authenticate()``, so django-axes counts bad keys like bad passwords
(``LockoutHandler`` says how: three counts, each limited to ``AXES_FAILURE_LIMIT`` within
``AXES_COOLOFF_TIME``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from mv.models import ApiKey

KEY_PREFIX = "mv_"
LAST_USED_EVERY = timedelta(minutes=1)  # how often last_used_at is written (not on every request)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def create_key(user, name: str = "") -> tuple[ApiKey, str]:
    """A new key for user: the row, and the key itself (shown once, never stored)."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return ApiKey.objects.create(user=user, name=name[:100], prefix=prefix, key_hash=_hash(key)), key


def env_keys() -> list[tuple[str, str]]:
    """(username, key) for each MV_API_KEYS entry; a bare key belongs to MV_API_USER."""
    pairs = []
    for entry in settings.MV_API_KEYS:
        username, sep, key = entry.partition(":")
        pairs.append((username, key) if sep and username and key else (settings.MV_API_USER, entry))
    return pairs


def user_for_key(key: str):
    """The active user a key belongs to, or None."""
    if key.startswith(KEY_PREFIX):
        prefix = key[len(KEY_PREFIX):].split("_", 1)[0]
        row = ApiKey.objects.select_related("user").filter(prefix=prefix, revoked_at__isnull=True).first()
        if row is not None and hmac.compare_digest(row.key_hash, _hash(key)) and row.user.is_active:
            now = timezone.now()
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
                ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
            return row.user
    owner = None
    for username, candidate in env_keys():  # compare with every entry: no early exit to time
        if hmac.compare_digest(key.encode("utf-8", "replace"), candidate.encode("utf-8", "replace")):
            owner = owner or username
    if owner is None:
        return None
    user, _ = get_user_model().objects.get_or_create(username=owner, defaults={"is_active": True})
    return user if user.is_active else None


class ApiKeyBackend:
    """An authentication backend for ``authenticate(request, api_key=...)``."""

    def authenticate(self, request: HttpRequest | None, api_key: str | None = None, **kwargs):
        if not api_key:
            return None
        return user_for_key(api_key)

    def get_user(self, user_id):
        return None  # API keys never make a session


# --- django-axes hooks ----------------------------------------------------------------------


def lockout_parameters(request, credentials: dict | None) -> list[str]:
    """API keys carry no user name: those guesses lock by address only (a shared "no user
    name" bucket would let one guesser lock every key out). Logins lock by either."""
    if credentials and "api_key" in credentials:
        return ["ip_address"]
    return ["username", "ip_address"]


class LockoutHandler(AxesDatabaseHandler):
    """django-axes' database handler with three separate counts of failures:

    - per address, of logins (wrong passwords for any user name),
    - per address, of API keys (bad keys carry no user name),
    - per user name, of logins (from any address).

    An address over its own limit is refused outright (even a right password or a valid key):
    that stops one guesser. A user name over its limit does not refuse a right password from
    an address that is not over its limit, so nobody can lock a named account out for
    everyone; a wrong one there is answered with the lockout (and counts for its address).
    A successful login clears only that user's failures from that address (the user's own
    typos), never other user names' failures there nor bad keys, so logging in between
    guesses resets nothing a guesser made.
    """

    @staticmethod
    def _is_key(credentials: dict | None) -> bool:
        return bool(credentials) and "api_key" in credentials

    def filter_user_attempts(self, request, credentials: dict | None = None) -> list:
        address = request.axes_ip_address
        if self._is_key(credentials):
            return [AccessAttempt.objects.filter(ip_address=address, username__isnull=True)]
        username = get_client_username(request, credentials)
        by_address = AccessAttempt.objects.filter(ip_address=address, username__isnull=False)
        return [by_address, AccessAttempt.objects.filter(username=username)] if username else [by_address]

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        """Checked before a password or key is: only the address's own count refuses then."""
        from axes.attempts import get_cool_off_threshold
        from axes.helpers import get_failure_limit

        attempts = self.filter_user_attempts(request, credentials)[0]
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        failures = attempts.aggregate(total=models.Sum("failures_since_start"))["total"] or 0
        return failures >= get_failure_limit(request, credentials)

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        """After a successful login: that user's failures from that address, nothing else."""
        username = get_client_username(request, credentials)
        if not username:
            return 0
        count, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return count


def client_ip(request: HttpRequest) -> str:
    """The caller's address: behind our TLS proxy, the one the proxy saw (the last hop it
    appended), else the socket's."""
    if settings.MV_BEHIND_TLS_PROXY:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def lockout_response(request: HttpRequest, original_response: HttpResponse | None = None,
                     credentials: dict | None = None) -> HttpResponse:
    """A plain message: JSON 429 on the API, the login page with the message elsewhere."""
    minutes = max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    message = f"Too many failed attempts. Try again in {minutes} minutes."
    if request.path.startswith("/api/"):
        from mv.apiutils import error_response

        response = error_response(429, "too_many_attempts", message)
    else:
        from django.contrib.auth.forms import AuthenticationForm

        response = render(request, "registration/login.html", {"form": AuthenticationForm(request),
                                                                "lockout_message": message}, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
