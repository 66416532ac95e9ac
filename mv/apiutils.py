"""The JSON API's plumbing: auth (session or X-API-Key), method checks, error shape.

Every endpoint answers errors as ``{"error": code, "message": text, "details": {...}}``
with a 4xx status; bad input never becomes a 500.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from django.http.request import RawPostDataException
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)

from mv.errors import Refused

logger = logging.getLogger("mv.api")


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse({"error": code, "message": message, "details": details or {}}, status=status)


def api_user(request: HttpRequest):
    """The user behind a request: the session's, or the owner of the X-API-Key (checked once
    per request, through authenticate() so that django-axes throttles bad keys)."""
    if request.user.is_authenticated:
        return request.user
    if not hasattr(request, "_mv_api_user"):
        key = request.headers.get("X-API-Key", "")
        request._mv_api_user = authenticate(request, api_key=key) if key else None
    return request._mv_api_user


def parse_json(request: HttpRequest) -> dict[str, Any]:
    try:
        body = request.body
    except RequestDataTooBig:
        raise Refused("too_large", "The request body is too large.", status=413) from None
    except RawPostDataException:  # read as a form already (the CSRF check of a multipart Content-Type)
        raise Refused("invalid_json", "Send the request body as JSON (Content-Type: application/json).") from None
    if not body:
        return {}
    try:
        data = json.loads(body)
        # a lone surrogate ("\ud800") is valid JSON but not text: refuse it here, for every field
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError):  # RecursionError: nested thousands of levels deep
        raise Refused("invalid_json", "The request body is not valid JSON text.") from None
    if not isinstance(data, dict):
        raise Refused("invalid_json", "The request body must be a JSON object.")
    return data


def api_endpoint(*methods: str) -> Callable:
    """Wrap a JSON view: allowed methods (405), auth (401), Refused -> JSON 4xx (its status).

    API-key requests carry no session, so they are exempt from CSRF; session requests
    keep Django's CSRF protection through the normal middleware.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = error_response(405, "method_not_allowed", f"Use {' or '.join(methods)} for this endpoint.")
                response["Allow"] = ", ".join(methods)
                return response
            user = api_user(request)
            if user is None:
                return error_response(
                    401, "unauthorized", "Log in, or send a valid API key in the X-API-Key header."
                )
            request.api_user = user
            try:
                return view(request, *args, **kwargs)
            except Refused as exc:
                return error_response(exc.status, exc.code, exc.message, exc.details)
            except Http404:
                return error_response(404, "not_found", "No such item (or it is not yours).")

        wrapper.csrf_exempt = True  # CSRF is enforced below for session-authenticated calls
        return _csrf_for_sessions(wrapper)

    return decorate


def _csrf_for_sessions(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Enforce CSRF when the caller is authenticated by its session cookie."""
    from django.middleware.csrf import CsrfViewMiddleware

    middleware = CsrfViewMiddleware(lambda request: HttpResponse())

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and request.method not in ("GET", "HEAD", "OPTIONS"):
            rejected = middleware.process_view(request, None, (), {})
            if rejected is not None:
                return error_response(403, "csrf_failed", "CSRF token missing or incorrect.")
        return view(request, *args, **kwargs)

    wrapper.csrf_exempt = True
    return wrapper


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_FAR = 10**18  # past any file we store: a longer number of digits means "past the end"


def _byte_position(digits: str) -> int:
    """A Range header's number, read without converting thousands of digits (Python refuses
    past 4,300, and it would be slow well before): any longer number is past every file."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _FAR


def serve_file(request: HttpRequest, field_file, *, content_type: str, filename: str) -> HttpResponse:
    """Stream a stored file with a fixed content type; single byte ranges get a 206 so
    players can seek. ``?download=1`` makes it an attachment."""
    try:
        size = field_file.size
    except (OSError, ValueError):
        return error_response(404, "not_found", "The file is missing.")
    disposition = "attachment" if request.GET.get("download") else "inline"
    match = _RANGE.match(request.headers.get("Range", "").strip())
    start, end = 0, size - 1
    status = 200
    if match and (match.group(1) or match.group(2)):
        if match.group(1):
            start = _byte_position(match.group(1))
            end = min(_byte_position(match.group(2)), size - 1) if match.group(2) else size - 1
        else:
            start = max(0, size - _byte_position(match.group(2)))
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        status = 206
    length = end - start + 1
    content_range = f"bytes {start}-{end}/{size}" if status == 206 else ""
    if request.method == "HEAD":  # the same headers, no body, and the file is never opened
        response = HttpResponse(status=status, content_type=content_type)
        _file_headers(response, length=length, disposition=disposition, filename=filename, content_range=content_range)
        return response
    handle = field_file.open("rb")
    handle.seek(start)

    def chunks(remaining: int = length, block: int = 64 * 1024):
        try:
            while remaining > 0:
                data = handle.read(min(block, remaining))
                if not data:
                    break
                remaining -= len(data)
                yield data
        finally:
            handle.close()

    response = StreamingHttpResponse(chunks(), status=status, content_type=content_type)
    _file_headers(response, length=length, disposition=disposition, filename=filename, content_range=content_range)
    return response


def _file_headers(response: HttpResponse | StreamingHttpResponse, *, length: int, disposition: str, filename: str,
                  content_range: str) -> None:
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=3600"
    if content_range:
        response["Content-Range"] = content_range
