"""The site's error pages: styled 404, 403, 500 and 503 with the header and a way back.

Paths under /api/ keep answering the API's JSON error shape. The 500 page is rendered
without the request (no context processors, no database), and falls back to plain HTML
if even that fails, so a broken database or template never hides the error page itself.
A database error that passes (locked, busy, a dropped connection: mv.dbretry) is no 500:
the request answers 503 with Retry-After, from a view (the middleware below) or from a
middleware or anywhere else (``server_error``, which sees the exception being handled).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
from django.views import defaults

from mv import dbretry
from mv.apiutils import error_response

logger = logging.getLogger("mv.error_pages")

FALLBACK_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Something went wrong · MV Studio</title>'
    '</head><body><h1>Something went wrong</h1><p>The error has been logged. '
    '<a href="/">Back to your projects</a></p></body></html>'
)

# What a 404 from a view was looking for, by URL name: the page can then say so.
_MISSING = {"quick_gen": "project", "change_flavor": "project", "restitch": "project"}


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(404, "not_found", "No such API endpoint or id.")
    match = getattr(request, "resolver_match", None)
    what = _MISSING.get(match.url_name, "") if match else ""
    body = loader.render_to_string("404.html", {"missing": what}, request=request)
    return HttpResponse(body, status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refuses before any view runs (e.g. a body it cannot read)."""
    if _is_api(request):
        return error_response(400, "bad_request", "The request could not be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_response(403, "forbidden", "You are not allowed to do that.")
    return defaults.permission_denied(request, exception, template_name="403.html")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token (often: a page left open past its session)."""
    if _is_api(request):
        return error_response(403, "csrf_failed", "CSRF token missing or incorrect.")
    logger.info("CSRF failure on %s: %s", request.path, reason)
    body = loader.render_to_string("403.html", {"expired_form": True}, request=request)
    return HttpResponse(body, status=403)


def busy(request: HttpRequest) -> HttpResponse:
    """503 + Retry-After: the database is busy for a moment; nothing was lost."""
    if _is_api(request):
        response = error_response(503, "busy", "The service is busy for a moment; try again in a few seconds.")
    else:
        try:
            body = loader.get_template("503.html").render()
        except Exception:
            logger.exception("the 503 page could not be rendered")
            body = FALLBACK_500.replace("Something went wrong", "Busy for a moment")
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(settings.MV_DB_RETRY_AFTER)
    return response


class TransientDatabaseErrorMiddleware:
    """A view that meets a database error that passes answers 503 with Retry-After (in
    DEBUG too, where Django would show its technical 500 page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if dbretry.is_transient(exception):
            logger.warning("%s %s: database busy, answered 503", request.method, request.path)
            return busy(request)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    if dbretry.is_transient(sys.exc_info()[1]):  # e.g. a session read in a middleware met a locked database
        return busy(request)
    if _is_api(request):
        return error_response(500, "server_error", "Something went wrong on our side; the error has been logged.")
    try:
        body = loader.get_template("500.html").render()
    except Exception:  # the error page must never fail: plain HTML instead
        logger.exception("the 500 page could not be rendered")
        body = FALLBACK_500
    return HttpResponseServerError(body)
