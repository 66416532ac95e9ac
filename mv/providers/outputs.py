"""Copying a Replicate output into our hands: from Replicate's delivery hosts only, through
the same network guard and size limit as the URLs users give us (mv.netguard), with the API
token sent to the API's own origin only.

A webhook or a poll says where an output is; that answer is not trusted further than this.
The delivery hosts are ``replicate.delivery`` and its subdomains over https; with
REPLICATE_BASE_URL set (the fake Replicate on 127.0.0.1 in tests) also exactly that origin,
which is then the one private address the guard lets this fetch reach.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import re
import ssl
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from mv import netguard
from mv.providers.base import ProviderError

logger = logging.getLogger("mv.providers.replicate")

DELIVERY_HOST = "replicate.delivery"
API_ORIGIN = ("https", "api.replicate.com", 443)

Origin = tuple[str, str, int]


def origin(url: str) -> Origin | None:
    """(scheme, host, port) of a URL; None when it has none we can read."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a port that is no number
        return None
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def base_origin() -> Origin | None:
    """REPLICATE_BASE_URL's origin when it is set (the fake in tests), else None."""
    return origin(settings.REPLICATE_BASE_URL) if settings.REPLICATE_BASE_URL else None


def is_delivery_url(url: str) -> bool:
    """An https URL on replicate.delivery or a subdomain, or exactly the configured base origin."""
    found = origin(url)
    if found is None or not found[1]:
        return False
    scheme, host, port = found
    if scheme == "https" and port == 443 and (host == DELIVERY_HOST or host.endswith("." + DELIVERY_HOST)):
        return True
    return found == base_origin()


def auth_headers(url: str) -> dict[str, str]:
    """The API token, for the API's own origin only (never a delivery host on its own)."""
    if origin(url) == (base_origin() or API_ORIGIN):
        return {"Authorization": f"Bearer {settings.REPLICATE_API_TOKEN}"}
    return {}


def suffix(url: str) -> str:
    """An output's file extension, from its URL's path (a data URL: from its media type)."""
    if url.startswith("data:"):
        return mimetypes.guess_extension(url[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()) or ""
    found = PurePosixPath(urlsplit(url).path).suffix.lower()
    return found if re.fullmatch(r"\.[a-z0-9]{1,5}", found) else ""


def download(output: Any, dest: Path) -> Path:
    """Copy an output (URL string, FileOutput, or a list of either) to dest. A dest without a
    suffix gets the output's own (from its URL, or a data URL's media type), so an image stays
    a .png or .jpg. Raises ProviderError with a plain message."""
    if isinstance(output, list | tuple):
        if not output:
            raise ProviderError("the model returned no output")
        output = output[0]
    if output is None:
        raise ProviderError("the model returned no output")
    url = getattr(output, "url", None) or str(output)
    if not dest.suffix:
        dest = dest.with_name(dest.name + suffix(url))
    tmp = dest.with_name(dest.name + ".part")
    if url.startswith("data:"):
        try:
            tmp.write_bytes(base64.b64decode(url.split(",", 1)[1]))
        except (IndexError, ValueError):
            raise ProviderError("the model returned an unreadable data URL") from None
        tmp.replace(dest)
        return dest
    try:
        _fetch(url, tmp)
    except ProviderError:
        tmp.unlink(missing_ok=True)  # a part-written file is nothing to keep
        raise
    tmp.replace(dest)
    return dest


def _fetch(url: str, tmp: Path) -> None:
    base = base_origin()
    try:
        # verify: the system's CA file when one is set (SSL_CERT_FILE, as Replicate's own client honours)
        netguard.fetch_url(url, tmp, limit_bytes=settings.MV_MAX_UPLOAD_MB * 1024 * 1024, timeout=60,
                           headers=auth_headers(url), hosts=is_delivery_url, trusted=base[1:] if base else None,
                           verify=ssl.get_default_verify_paths().cafile or True)
    except netguard.NotAllowedHost:
        logger.warning("refused to fetch an output from %s: not a delivery host", origin(url))
        raise ProviderError("the model's output is not at Replicate's delivery address, so it was not fetched") from None
    except netguard.TooLarge:
        raise ProviderError(f"the model's output is larger than {settings.MV_MAX_UPLOAD_MB} MB") from None
    except netguard.HttpStatus as exc:
        raise ProviderError(f"the model's output could not be downloaded (HTTP {exc.status})") from None
    except netguard.BlockedAddress:
        raise ProviderError("the model's output is on a private network address, so it was not fetched") from None
    except netguard.FetchError:
        raise ProviderError("the model's output could not be downloaded (the connection failed)",
                            permanent=False) from None
