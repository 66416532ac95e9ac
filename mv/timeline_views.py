"""The project page's timeline edits: split, duplicate, delete, move and re-time a scene, and
bring the video up to date.

Each view: form -> one use case in mv.pipeline -> the page's #studio partial for htmx (the
full video, the timeline and the cards, which an edit can all change), else a redirect.
A refused edit shows its message above the timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from mv.errors import message_for_form, message_if_refused
from mv.forms.pages import BoundaryForm, MoveForm, SplitForm
from mv.models import Project, Scene
from mv.pipeline import timeline
from mv.views import (
    QUICK_GEN,
    _back_to_page,
    _get_project_for_user,
    _get_scene_for_user,
    _page_context,
)


def _studio(request: HttpRequest, project: Project, error: str = "") -> HttpResponse:
    if not request.htmx:
        return _back_to_page(request, error, "quick_gen", pk=project.pk)
    project.refresh_from_db()
    return render(request, f"{QUICK_GEN}#studio", {**_page_context(project), "edit_error": error})


def _edit(request: HttpRequest, pk: uuid.UUID, form_class: type[forms.Form] | None,
          action: Callable[[Scene, dict[str, Any]], Any]) -> HttpResponse:
    """Run one timeline edit on a scene and show the page's new state."""
    scene = _get_scene_for_user(request, pk)
    project = _get_project_for_user(request, scene.project_id)
    error = message_for_form((form_class or forms.Form)(request.POST), lambda data: action(scene, data))
    return _studio(request, project, error)


@require_POST
@login_required
def scene_split(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _edit(request, pk, SplitForm, lambda scene, data: timeline.split_scene(scene, data.get("at")))


@require_POST
@login_required
def scene_duplicate(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _edit(request, pk, None, lambda scene, data: timeline.duplicate_scene(scene))


@require_POST
@login_required
def scene_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _edit(request, pk, None, lambda scene, data: timeline.delete_scene(scene))


@require_POST
@login_required
def scene_move(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _edit(request, pk, MoveForm, lambda scene, data: timeline.move_scene(scene, data["to"] - 1))


@require_POST
@login_required
def scene_boundary(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _edit(request, pk, BoundaryForm, lambda scene, data: timeline.move_boundary(scene, data["start"]))


@require_POST
@login_required
def project_refresh(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The one "bring up to date" button."""
    project = _get_project_for_user(request, pk)
    return _studio(request, project, message_if_refused(lambda: timeline.refresh(project, request.user)))
