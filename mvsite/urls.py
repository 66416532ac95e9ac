"""Top-level URLs: the pages and their partials (mv.urls), the JSON API (mv.api_urls), admin, auth.

Media files have no URL of their own, not even with DEBUG: they are served only through the
API's ownership-checked endpoints."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.http import require_GET

from mv import webhooks


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers that ask for /favicon.ico get the site's SVG icon."""
    return redirect(static("mv/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/replicate/webhook", webhooks.replicate_webhook, name="replicate_webhook"),
    path("api/", include("mv.api_urls")),
    path("", include("mv.urls")),
]


handler400 = "mv.error_pages.bad_request"
handler403 = "mv.error_pages.permission_denied"
handler404 = "mv.error_pages.page_not_found"
handler500 = "mv.error_pages.server_error"
