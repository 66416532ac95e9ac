"""JSON endpoints under /api/ (same names as the tool MV Studio replaces)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from mv import flavors
from mv.apiutils import api_endpoint


@api_endpoint("GET")
def get_config_flavors(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"flavors": flavors.names(), "default": flavors.DEFAULT})


urlpatterns = [
    path("mv/get_config_flavors", get_config_flavors, name="api_get_config_flavors"),
]
