"""Page and HTMX partial URLs (the JSON API lives in mv.api)."""

from django.urls import path

from mv import views

urlpatterns = [
    path("", views.project_list, name="project_list"),
]
