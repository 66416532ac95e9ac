"""The project list and what is done to a whole project: rename, duplicate, delete (the
buttons next to its title, on its page and on each row of the list)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from mv.errors import message_for_form
from mv.forms.pages import RenameForm
from mv.models import Project
from mv.pipeline import projects
from mv.views import _get_project_for_user


@require_GET
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    rows = Project.objects.visible_to(request.user).select_related("audio_track").with_summary()
    return render(request, "mv/project_list.html", {"projects": rows})


@require_POST
@login_required
def project_rename(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    error = message_for_form(RenameForm(request.POST), lambda data: projects.rename_project(project, data["title"]))
    if error:
        messages.error(request, error)
    return _back(request, project)


@require_POST
@login_required
def project_duplicate(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    copy = projects.duplicate_project(_get_project_for_user(request, pk))
    messages.success(request, f"Made a copy: “{copy.title}”. Its scenes have no clips yet.")
    if request.htmx:
        return HttpResponseClientRedirect(copy.get_absolute_url())
    return redirect(copy)


@require_http_methods(["GET", "POST"])
@login_required
def project_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """GET asks for confirmation (a page of its own, so it works without JavaScript)."""
    project = _get_project_for_user(request, pk)
    if request.method == "GET":
        return render(request, "mv/project_delete.html", {"project": project, "scene_count": project.scenes.count()})
    title = project.title
    projects.delete_project(project)
    messages.success(request, f"Deleted “{title}” and its videos.")
    if request.htmx:
        return HttpResponseClientRedirect("/")
    return redirect("project_list")


def _back(request: HttpRequest, project: Project) -> HttpResponse:
    """Back to where the form was: the list or the project page."""
    target = "project_list" if request.POST.get("from") == "list" else project.get_absolute_url()
    if request.htmx:
        return HttpResponseClientRedirect(redirect(target).url)
    return redirect(target)
