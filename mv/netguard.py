"""Fetching URLs users give us (songs, videos) without letting them reach this machine or its
private network (our admin, cloud metadata, databases).

The check sits at the one place that cannot be talked around: the socket. Every connection
(the first request, each redirect hop, every page, playlist and segment yt-dlp reads) is opened
by ``_GuardedConnection``, which resolves the host once, refuses it if any of its addresses is
not public, and connects to the address it checked. There is no second lookup to race, and no
second URL parser to disagree with: the host judged is the host urllib3 connects to.
``MV_ALLOW_PRIVATE_URLS`` is the only way to lift the check (the tests serve from 127.0.0.1).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3
from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)

# One plain answer for everything that went wrong on the wire: refused, unreachable, timed out,
# an HTTP error status. Telling them apart would turn the URL fields into a port scanner.
COULD_NOT_DOWNLOAD = "could not download from that URL"
PRIVATE_HOST = "the host is on a private or local network, which is not allowed"
MAX_REDIRECTS = 5


class FetchError(Exception):
    """A message for people about why a URL was not fetched (no paths, no exception text)."""


class BlockedAddress(FetchError):
    """The host resolves to this machine or a private network. Deliberately not an OSError or
    urllib3 error, so no HTTP client retries it or wraps it into a connection error."""

    def __init__(self) -> None:
        super().__init__(PRIVATE_HOST)


class HttpStatus(FetchError):
    """The server answered with an error status (the same plain message; the code for callers)."""

    def __init__(self, status: int) -> None:
        super().__init__(COULD_NOT_DOWNLOAD)
        self.status = status


class NotAllowedHost(FetchError):
    """A fetch limited to some hosts (a provider's outputs) was asked for another one."""

    def __init__(self) -> None:
        super().__init__(COULD_NOT_DOWNLOAD)


class TooLarge(FetchError):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"the file is larger than {limit_bytes // (1024 * 1024)} MB")


# --- which addresses are public -------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use only, never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, translated, NAT64,
    6to4, Teredo), which is where a packet to it really ends up."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64:
        return [low32]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return None


def is_public(address: str) -> bool:
    """Whether an address (as getaddrinfo gives it) is on the public internet, judging an IPv6
    address that embeds an IPv4 one by the IPv4 address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_multicast or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return all(v4.is_global and not v4.is_multicast for v4 in embedded)
    return ip.is_global


# The one (host, port) a fetch of our own may reach on a private address: a provider's
# configured base URL (the fake Replicate on 127.0.0.1 in tests), set for that fetch only.
_trusted: ContextVar[tuple[str, int] | None] = ContextVar("mv_netguard_trusted", default=None)


def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) pairs for host, refused if any is not public (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise FetchError(COULD_NOT_DOWNLOAD) from None
    addresses = [(family, sockaddr[0]) for family, _, _, _, sockaddr in infos]
    allowed = settings.MV_ALLOW_PRIVATE_URLS or _trusted.get() == (host.lower(), port)
    if not allowed and (not addresses or not all(is_public(a) for _, a in addresses)):
        raise BlockedAddress()
    return addresses


def check_url(url: str) -> None:
    """Refuse a URL early, before any work: not http(s), credentials or backslashes in it (which
    parsers read differently), or a host on a private network. Parsed the way urllib3 will
    parse it to connect; the connection is checked again anyway."""
    if "\\" in url or any(ord(c) < 33 for c in url):
        raise FetchError("the URL is not a plain http(s) address")
    try:
        parts = urllib3.util.parse_url(url)
    except LocationParseError:
        raise FetchError("the URL is not a plain http(s) address") from None
    if parts.scheme not in ("http", "https") or not parts.host or parts.auth:
        raise FetchError("only http(s) URLs with a host name (and no user name or password) can be fetched")
    resolve(parts.host.strip("[]"), parts.port or (443 if parts.scheme == "https" else 80))


# --- connections that check the address they connect to -----------------------------------------


class _GuardedConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        last: OSError | None = None
        for _family, address in resolve(self._dns_host.strip("[]"), self.port):
            try:  # a literal address: create_connection does no second lookup
                return urllib3.util.connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, COULD_NOT_DOWNLOAD) from exc
            except OSError as exc:
                last = exc
        if last is None:
            raise NameResolutionError(self.host, self, socket.gaierror(COULD_NOT_DOWNLOAD))
        raise NewConnectionError(self, COULD_NOT_DOWNLOAD) from last


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    """TLS still verifies and sends SNI for the host name; only the socket is pinned."""


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPools:
    """An HTTPAdapter mix-in: every pool opens guarded connections, and no proxy is used (a
    proxy would connect on our behalf to an address we never saw)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[misc]
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        raise FetchError(COULD_NOT_DOWNLOAD)


class GuardedAdapter(_GuardedPools, requests.adapters.HTTPAdapter):
    pass


def session() -> requests.Session:
    """A requests session whose every connection is guarded; no proxies from the environment."""
    s = requests.Session()
    s.trust_env = False
    s.max_redirects = MAX_REDIRECTS
    for prefix in ("http://", "https://"):
        s.mount(prefix, GuardedAdapter(max_retries=0))
    return s


def fetch_url(url: str, dest: Path, *, limit_bytes: int, timeout: float = 60, headers: dict[str, str] | None = None,
              hosts: Callable[[str], bool] | None = None, trusted: tuple[str, int] | None = None,
              verify: bool | str = True) -> Path:
    """Download url to dest, stopping as soon as more than limit_bytes have arrived.

    ``hosts``: when given, the URL and every redirect's target must pass it (a provider's
    outputs come from its delivery hosts only). ``trusted``: the one (host, port) that may be
    on a private address for this fetch (a provider's configured base URL), nothing else.
    ``headers`` go to the first host only (requests drops Authorization on a redirect
    to another host)."""
    if hosts is not None and not hosts(url):
        raise NotAllowedHost()
    token = _trusted.set((trusted[0].lower(), trusted[1]) if trusted else None)
    try:
        check_url(url)
        return _fetch(url, dest, limit_bytes=limit_bytes, timeout=timeout, headers=headers or {}, hosts=hosts,
                      verify=verify)
    finally:
        _trusted.reset(token)


def _fetch(url: str, dest: Path, *, limit_bytes: int, timeout: float, headers: dict[str, str],
           hosts: Callable[[str], bool] | None, verify: bool | str) -> Path:
    def each_hop(response: requests.Response, **kwargs: Any) -> None:
        if hosts is not None and response.is_redirect and not hosts(urljoin(response.url, response.headers["location"])):
            raise NotAllowedHost()

    try:
        with session() as s, s.get(url, stream=True, timeout=timeout, headers=headers, verify=verify,
                                   hooks={"response": each_hop}) as response:
            if response.status_code >= 400:
                raise HttpStatus(response.status_code)
            received = 0
            with open(dest, "wb") as fh:
                for chunk in response.iter_content(64 * 1024):
                    received += len(chunk)
                    if received > limit_bytes:
                        raise TooLarge(limit_bytes)
                    fh.write(chunk)
    except requests.RequestException:
        raise FetchError(COULD_NOT_DOWNLOAD) from None
    return dest


# --- yt-dlp ------------------------------------------------------------------------------------


class _Run:
    """One yt-dlp run: the bytes it may still read over the network (all requests together),
    and the guard's own refusal if there was one (yt-dlp wraps it in its own errors)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit, self.used = limit_bytes, 0
        self.failure: FetchError | None = None

    def refuse(self, failure: FetchError) -> FetchError:
        self.failure = self.failure or failure
        return failure

    def take(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise self.refuse(TooLarge(self.limit))


@functools.cache
def _guarded_youtube_dl_class() -> type:
    """A YoutubeDL whose only request handler is yt-dlp's requests handler with guarded
    connections and a byte budget (no urllib, curl_cffi or websocket handler, and so no
    unguarded connection)."""
    import yt_dlp
    from yt_dlp.networking._requests import (
        RequestsHTTPAdapter,
        RequestsRH,
        RequestsSession,
    )

    class Adapter(_GuardedPools, RequestsHTTPAdapter):
        pass

    class GuardedRequestsRH(RequestsRH):
        def __init__(self, *args: Any, run: _Run, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._run = run

        def _create_instance(self, cookiejar, legacy_ssl_support=None):
            s = RequestsSession()
            adapter = Adapter(ssl_context=self._make_sslcontext(legacy_ssl_support=legacy_ssl_support),
                              source_address=self.source_address, max_retries=urllib3.util.retry.Retry(False))
            s.adapters.clear()
            s.headers = requests.models.CaseInsensitiveDict()
            s.mount("https://", adapter)
            s.mount("http://", adapter)
            s.cookies = cookiejar
            s.trust_env = False
            s.max_redirects = MAX_REDIRECTS
            return s

        def _send(self, request):
            try:
                response = super()._send(request)
            except FetchError as exc:
                raise self._run.refuse(exc) from None
            read, run = response.read, self._run

            def counted(amt: int | None = None) -> bytes:
                data = read(amt)
                run.take(len(data))
                return data

            response.read = counted
            return response

    class GuardedYoutubeDL(yt_dlp.YoutubeDL):
        def __init__(self, params: dict[str, Any], *, limit_bytes: int) -> None:
            self.guard = _Run(limit_bytes)
            super().__init__(params)

        @functools.cached_property
        def _request_director(self):
            return self.build_request_director([functools.partial(GuardedRequestsRH, run=self.guard)])

    return GuardedYoutubeDL


def youtube_dl(options: dict[str, Any], *, limit_bytes: int):
    """A YoutubeDL whose every request passes the guard and counts against limit_bytes; after
    a failure, ``ydl.guard.failure`` is the guard's refusal, if that is what stopped it. Only
    its native downloaders run (they fetch through the guarded handler); ffmpeg, which would
    open its own connections, may read local files only."""
    return _guarded_youtube_dl_class()(options | {
        "proxy": "",  # no proxy from the environment
        "external_downloader": {"default": "native"},
        "external_downloader_args": {"ffmpeg_i": ["-protocol_whitelist", "file"]},
        "hls_prefer_native": True,
        "match_filter": lambda info, incomplete=False: "live streams are not accepted" if info.get("is_live") else None,
        "max_filesize": limit_bytes,
    }, limit_bytes=limit_bytes)
