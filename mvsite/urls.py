"""Top-level URLs: pages and partials (mv.views), the JSON API (mv.api), admin, auth.

Media files have no URL of their own, not even with DEBUG: they are served only through the
API's ownership-checked endpoints."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("mv.api")),
    path("", include("mv.urls")),
]

handler400 = "mv.apiutils.bad_request"
handler500 = "mv.apiutils.server_error"

