"""The site's URLs plus one view that fails, to exercise the 500 page through the real handler."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mvsite.urls import handler403, handler404, handler500  # noqa: F401
from mvsite.urls import urlpatterns as site_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: /tmp/mv-secret/upload.mp3 [Errno 5]")


def locked(request: HttpRequest) -> HttpResponse:
    from django.db import OperationalError

    raise OperationalError("database is locked")


class LockedMiddleware:
    """Meets a locked database before any view runs (as a session read in a middleware can)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.endswith("/locked-early/"):
            locked(request)
        return self.get_response(request)


urlpatterns = [path("boom/", boom), path("api/boom/", boom), path("locked/", locked), path("api/locked/", locked),
               *site_urlpatterns]
