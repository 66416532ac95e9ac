"""Pages and their HTMX partials."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from mv.models import Project


@require_GET
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.visible_to(request.user).select_related("audio_track")
    return render(request, "mv/project_list.html", {"projects": projects})
