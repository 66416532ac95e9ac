"""The site's URLs plus one view that fails, to exercise the 500 page through the real handler."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from mvsite.urls import handler403, handler404, handler500  # noqa: F401
from mvsite.urls import urlpatterns as site_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: /tmp/mv-secret/upload.mp3 [Errno 5]")


urlpatterns = [path("boom/", boom), path("api/boom/", boom), *site_urlpatterns]
