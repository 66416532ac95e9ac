"""The project page's timeline edits: split, duplicate, delete, move and re-time a scene, and
bring the video up to date.

Each view: form -> one use case in mv.pipeline -> only the parts of the page the edit changed,
each a partial of the page swapped out of band (the cards whose content changed, the
timeline, the counts and the banner, the Full Video section only when it changed, so a
playing video keeps playing); the page then keeps the edited card where it was on the screen
(static/mv/app.js, on the "studio-edited" event). A refused edit shows its message in the
edited card, next to the control. Without htmx: a redirect, the message shown on the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from mv import status
from mv.errors import message_for_form, message_if_refused
from mv.forms.pages import BoundaryForm, MoveForm, SplitForm
from mv.models import Project, Scene
from mv.pipeline import timeline
from mv.templatetags.mv_costs import project_costs
from mv.views import QUICK_GEN, _back_to_page, _get_project_for_user, _get_scene_for_user, _page_context

EDITED_EVENT = "studio-edited"  # app.js keeps the named card in place and the focus in it


def _before(project: Project) -> dict[str, Any]:
    """What the page shows before an edit, to tell what the edit changed."""
    states = status.project_states(project, frames=False)  # cards are compared by card_key, which has no frames
    return {"states": states, "video": status.video_key(status.full_video(project, states))}


def _changes(request: HttpRequest, project: Project, before: dict[str, Any], *, edited: Scene | None = None,
             error: str = "", refresh_error: str = "") -> HttpResponse:
    """The page's parts the edit changed, each out of band (the answer itself swaps nothing)."""
    if not request.htmx:
        return _back_to_page(request, error or refresh_error, "quick_gen", pk=project.pk)
    project.refresh_from_db()
    context = _page_context(project)
    states = context["states"]
    focus = _focus(before["states"], states, edited)
    context |= {"edited": str(focus.pk) if focus else None, "edit_error": error, "refresh_error": refresh_error}
    places = set(status.changed_places(before["states"], states))
    places |= {i for i, s in enumerate(states) if focus is not None and s.scene.pk == focus.pk}
    parts = [_place(request, context, i, appended=i >= len(before["states"])) for i in sorted(places)]
    parts += [f'<div id="place-{n}" hx-swap-oob="delete"></div>' for n in range(len(states) + 1, len(before["states"]) + 1)]
    parts += [render_to_string(f"{QUICK_GEN}#{name}", context | {flag: True}, request=request)
              for name, flag in (("timeline", "oob_timeline"), ("counts", "oob"), ("banner", "oob_banner"))]
    parts.append(render_to_string("mv/_costs.html#project-costs", project_costs(project, states, oob=True)))
    if status.video_key(context) != before["video"]:
        parts.append(render_to_string(f"{QUICK_GEN}#full-video", context | {"oob_video": True}, request=request))
    response = HttpResponse("".join(parts))
    return trigger_client_event(response, EDITED_EVENT, {"scene": str(focus.pk) if focus else ""}, after="settle")


def _place(request: HttpRequest, context: dict[str, Any], index: int, *, appended: bool) -> str:
    """One scene card in its place, swapped out of band (a new last place is appended)."""
    html = render_to_string(f"{QUICK_GEN}#scene-place", context | {"s": context["states"][index], "oob_place": not appended},
                            request=request)
    return f'<div hx-swap-oob="beforeend:#scene-list">{html}</div>' if appended else html


def _focus(before: list[status.SceneState], after: list[status.SceneState], edited: Scene | None) -> Scene | None:
    """The card to keep in place: the edited scene, else (deleted) the one that took its time."""
    if edited is None:
        return None
    for state in after:
        if state.scene.pk == edited.pk:
            return state.scene
    old = next((i for i, s in enumerate(before) if s.scene.pk == edited.pk), 0)
    return after[max(min(old - 1, len(after) - 1), 0)].scene if after else None


def _edit(request: HttpRequest, pk: uuid.UUID, form_class: type[forms.Form] | None,
          action: Callable[[Scene, dict[str, Any]], Any]) -> HttpResponse:
    """Run one timeline edit on a scene and answer what it changed."""
    scene = _get_scene_for_user(request, pk)
    project = _get_project_for_user(request, scene.project_id)
    before = _before(project) if request.htmx else {}
    error = message_for_form((form_class or forms.Form)(request.POST), lambda data: action(scene, data))
    return _changes(request, project, before, edited=scene, error=error)


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
    before = _before(project) if request.htmx else {}
    error = message_if_refused(lambda: timeline.refresh(project, request.user))
    return _changes(request, project, before, refresh_error=error)
