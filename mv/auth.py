"""Who is calling the API, and how often they may guess.

API keys belong to users. ``MV_API_KEYS`` entries are ``username:key`` (a bare key acts as the
``MV_API_USER`` user, as before); ``manage.py mv_api_key create USERNAME`` makes a key stored
only as a hash (``ApiKey``), revocable in the admin. Keys are checked by ``ApiKeyBackend``
through Django's ``authenticate()``, so django-axes counts bad keys like bad passwords: logins
lock per user name and per address, API keys per address, for ``AXES_COOLOFF_TIME``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
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
