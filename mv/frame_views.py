"""A scene card's performer controls: "New start frame" (the picture its next clip starts
from, made again alone) and "Continue the previous shot" (start from the last frame of the
clip before). Plain form posts: the page comes back with the change, or the reason it was
refused."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from mv.errors import message_if_refused
from mv.forms.pages import ContinueShotForm
from mv.pipeline import frames
from mv.views import _get_scene_for_user


@require_POST
@login_required
def scene_start_frame(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    scene = _get_scene_for_user(request, pk)
    error = message_if_refused(lambda: frames.regenerate_start_frame(scene, owner=request.user))
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Making a new start frame for scene {scene.number}; Regenerate starts from it.")
    return redirect("quick_gen", pk=scene.project_id)


@require_POST
@login_required
def scene_continue(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    scene = _get_scene_for_user(request, pk)
    form = ContinueShotForm(request.POST)
    scene.continue_shot(form.is_valid() and form.cleaned_data["continue_previous"])
    return redirect("quick_gen", pk=scene.project_id)
