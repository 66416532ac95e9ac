"""Signed webhooks the way Replicate sends them (Standard Webhooks: webhook-id,
webhook-timestamp, webhook-signature = "v1,<base64 HMAC-SHA256 of id.timestamp.body>" keyed
by the base64 part of a ``whsec_`` secret), for the fake Replicate and for tests that forge them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.error
import urllib.request

_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1: never via a proxy


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def signed_headers(secret: str, body: bytes, *, webhook_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    webhook_id = webhook_id or "msg_" + secrets.token_hex(12)
    timestamp = int(time.time()) if timestamp is None else timestamp
    key = base64.b64decode(secret.split("_", 1)[1])
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode(), "Content-Type": "application/json"}


def send(url: str, secret: str, body: bytes) -> int:
    """POST one signed delivery; its HTTP status (0 when nobody answered)."""
    request = urllib.request.Request(url, data=body, headers=signed_headers(secret, body), method="POST")
    try:
        with _direct.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0
