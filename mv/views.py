"""The project page (/quick-gen/<id>/, the studio) and its HTMX partials: the page and its
polled sections, the flavor, re-stitch, each scene's prompt and clip (regenerate, retry,
cancel, make current). Its timeline edits are in mv.timeline_views; the create page, the
project list and whole-project actions in mv.create_views and mv.project_views.

The lookups at the top are the pages' one ownership check (another user's row is a 404).
Each view parses input with a form, calls one function in mv/, and renders the page or,
for HTMX requests, just the partial (`{% partialdef %}`) being swapped. Polls swap a
small status fragment; a card's <video> is re-rendered only when its clip changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HTMX_STOP_POLLING, trigger_client_event
from django_htmx.middleware import HtmxDetails

from mv import status, uploads
from mv.errors import Refused, message_for_form, message_if_refused
from mv.forms.pages import (FlavorSelectForm, FootageForm, ProjectCharacterForm, RegenerateForm, RestitchPageForm,
                            ScenePromptForm, StyleSelectForm)
from mv.models import Character, Clip, Project, Scene, get_owned
from mv.pipeline import characters, footage, projects, rendering, stitching

QUICK_GEN = "mv/quick_gen.html"
SCENE_CHANGED_EVENT = "scene-changed"  # a card's clip started or stopped: the counts and the banner ask again


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_project_for_user(request: HttpRequest, pk: uuid.UUID) -> Project:
    return get_owned(Project.objects.select_related("audio_track", "character_image").with_spend(), request.user, pk)


def _get_scene_for_user(request: HttpRequest, pk: uuid.UUID) -> Scene:
    return get_owned(Scene.objects.select_related("project__audio_track", "current_clip"), request.user, pk)


def _get_clip_for_user(request: HttpRequest, pk: uuid.UUID) -> Clip:
    return get_owned(Clip.objects.select_related("scene__project").filter(scene__isnull=False), request.user, pk)


def _stop_polling_if(response: HttpResponse, done: bool) -> HttpResponse:
    """A polled fragment that has nothing left to wait for tells htmx to stop (286)."""
    if done:
        response.status_code = HTMX_STOP_POLLING
    return response


def _polled(request: HttpRequest, shown: str, *, done: bool, answer: Callable[[], HttpResponse]) -> HttpResponse:
    """A polled fragment's answer: 204 (htmx swaps nothing) while what it shows is unchanged,
    so its buttons are not replaced under the pointer (a click pressed across a swap is lost);
    286 with the fragment once nothing is left to wait for."""
    if not done and request.GET.get("shown") == shown:
        return HttpResponse(status=204)
    return _stop_polling_if(answer(), done)


def _back_to_page(request: HttpRequest, error: str, to: str, **kwargs: Any) -> HttpResponse:
    """Where a plain form post (no htmx) ends: back on its page, with the error as a message;
    an htmx post gets its partial with the error in it instead."""
    if error:
        messages.error(request, error)
    return redirect(to, **kwargs)


# --- quick-gen page ----------------------------------------------------------------------------


def _page_context(project: Project) -> dict[str, Any]:
    # The plan's status is read before its scenes: once it says done, every scene is there.
    plan_pending = status.plan_pending(project)
    states = status.project_states(project)
    track = project.audio_track
    shown = status.song_span(project)  # the waveform shows the whole song
    analysis = (track.analysis or {}) if track else {}
    video = status.full_video(project, states)
    return {
        "project": project,
        "states": states,
        **_counts(states),
        **_banner(project, states, video),
        "studio_shown": status.studio_shown(project, states, video) if plan_pending else "",
        "flavor_form": FlavorSelectForm(initial={"config_flavor": project.config_flavor}),
        "style_form": StyleSelectForm(),
        "thumbs": status.thumbnails(states, shown),
        "marks": status.marks(analysis, shown) if shown and analysis.get("beats") is not None else None,
        "boundaries": _boundaries(project, states),
        "reference_note": status.reference_note(project),
        "plan_pending": plan_pending,
        "characters": Character.objects.visible_to(project.owner).only("pk", "name"),
        # Named though empty: a missing variable costs an exception per card.
        "scene_count": len(states),
        **dict.fromkeys(("oob", "prompt_form", "saved", "clip_error", "edit_error", "stitch_error", "flavor_error",
                         "oob_flavor", "edited", "refresh_error", "oob_video", "oob_timeline", "oob_banner",
                         "oob_place", "character_error")),
    }


def _banner(project: Project, states: list[status.SceneState], video: dict[str, Any]) -> dict[str, Any]:
    """The banner ("N scenes need a new clip", "older than the scenes"), the Full Video section's
    facts it stands with, and its fingerprint for its asks."""
    to_render = status.to_render(states)
    return {**video, "to_render": to_render,
            "banner_shown": status.fingerprint((project.scenes_status, to_render, video["stitch_stale"]))}


def _counts(states: list[status.SceneState]) -> dict[str, Any]:
    """The counts line: generating, ready and failed scenes, and its fingerprint for its asks."""
    counts = status.counts(states)
    return {"counts": counts, "counts_shown": status.fingerprint(counts)}


def _boundaries(project: Project, states: list[status.SceneState]) -> list[float]:
    track = project.audio_track
    return status.boundaries(states, track.duration) if track else []


@require_GET
@login_required
def quick_gen(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The page (opening it never starts paid work: the create form's POST does); its
    polled sections (#studio, #full-video) ask the same URL with htmx and get just their
    partial, with 286 once there is nothing left to wait for."""
    project = _get_project_for_user(request, pk)
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    if target == "studio":
        context = _page_context(project)
        return _polled(request, context["studio_shown"], done=not context["plan_pending"],
                       answer=lambda: render(request, f"{QUICK_GEN}#studio", context))
    if target == "banner":  # after a clip finished or a new stitch: the count and "older" again
        states = status.project_states(project, frames=False)
        context = {"project": project, "refresh_error": None, "oob_banner": None,
                   **_banner(project, states, status.full_video(project, states))}
        return _polled(request, context["banner_shown"], done=False,
                       answer=lambda: render(request, f"{QUICK_GEN}#banner", context))
    if target == "counts":  # after a clip finished: asked again, the newest ask replacing an older one (hx-sync)
        context = {"project": project, **_counts(status.project_states(project, frames=False))}
        return _polled(request, context["counts_shown"], done=False,
                       answer=lambda: render(request, f"{QUICK_GEN}#counts", context))
    if target == "full-video":  # polled while its stitch renders; the automatic one is announced by the last clip's poll
        video = status.full_video(project)
        return _polled(request, video["video_shown"], done=not (video["stitch"] and video["stitch"].is_active),
                       answer=lambda: render(request, f"{QUICK_GEN}#full-video", {"project": project, **video}))
    return render(request, QUICK_GEN, _page_context(project))


@require_POST
@login_required
def change_flavor(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    error = message_for_form(FlavorSelectForm(request.POST), lambda data: project.use_flavor(data["config_flavor"]))
    if not request.htmx:
        return _back_to_page(request, error, "quick_gen", pk=project.pk)
    context = {"project": project, "flavor_form": FlavorSelectForm(), "flavor_error": error, "oob_flavor": True}
    return render(request, f"{QUICK_GEN}#config-card", context)


@require_POST
@login_required
def project_character(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Cast a saved character in the project (the Input Data select): later clips carry it."""
    project = _get_project_for_user(request, pk)
    form = ProjectCharacterForm(request.POST)
    chosen = form.cleaned_data.get("character_id") if form.is_valid() else None
    character = Character.objects.visible_to(request.user).filter(pk=chosen).first() if chosen else None
    error = "That character is not available any more: pick another." if chosen and character is None else \
        message_if_refused(lambda: characters.cast_character(project, character))
    if not request.htmx:
        return _back_to_page(request, error, "quick_gen", pk=project.pk)
    context = {"project": project, "characters": Character.objects.visible_to(request.user), "character_error": error}
    return render(request, f"{QUICK_GEN}#project-character", context)


@require_POST
@login_required
def change_style(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The director style every later scene writing and clip uses; made clips stay as they are."""
    project = _get_project_for_user(request, pk)
    error = message_for_form(StyleSelectForm(request.POST), lambda data: project.use_style(data["director_style"]))
    if not request.htmx:
        return _back_to_page(request, error, "quick_gen", pk=project.pk)
    context = {"project": project, "flavor_form": FlavorSelectForm(), "style_form": StyleSelectForm(),
               "style_error": error}
    return render(request, f"{QUICK_GEN}#config-card", context)


@require_POST
@login_required
def restitch(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    form = RestitchPageForm(request.POST)
    captions = form.is_valid() and form.cleaned_data["captions"]
    error = message_if_refused(lambda: stitching.restitch_project(project, captions=captions))  # then shown as the latest stitch
    if not request.htmx:
        return _back_to_page(request, error, "quick_gen", pk=project.pk)
    context = {"project": project, **status.full_video(project), "stitch_error": error}
    return render(request, f"{QUICK_GEN}#full-video", context)


def _scene_response(request: HttpRequest, scene: Scene, partial: str, **extra: Any) -> HttpResponse:
    if not request.htmx:
        return redirect("quick_gen", pk=scene.project_id)
    card_clip = partial == "clip-section"
    context = {"project": scene.project, "s": status.single_state(scene, frames=card_clip), **extra}
    response = render(request, f"{QUICK_GEN}#{partial}", context)
    if card_clip:  # the start frame line too: a new clip may start from a new frame, a cancelled one from none
        performer = render_to_string(f"{QUICK_GEN}#scene-performer", context | {"oob": True}, request=request)
        response.content += performer.encode()
        trigger_client_event(response, SCENE_CHANGED_EVENT)  # the counts and the banner ask again
    return response


@require_POST
@login_required
def scene_prompt(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    scene = _get_scene_for_user(request, pk)
    form = ScenePromptForm(request.POST)
    if form.is_valid():
        projects.update_scene_prompt(scene, description=form.cleaned_data["description"],
                                     negative_description=form.cleaned_data["negative_description"])
        return _scene_response(request, scene, "scene-prompt", saved=True)
    return _scene_response(request, scene, "scene-prompt", prompt_form=form)


@require_POST
@login_required
def scene_rewrite(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    scene = _get_scene_for_user(request, pk)
    try:
        projects.rewrite_scene(scene, scene.project.flavor)
    except Refused as exc:  # e.g. today's budget is spent
        return _scene_response(request, scene, "scene-prompt", prompt_error=exc.message)
    scene.refresh_from_db()
    return _scene_response(request, scene, "scene-prompt")


@require_GET
@login_required
def scene_prompt_status(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    scene = _get_scene_for_user(request, pk)
    response = _scene_response(request, scene, "scene-prompt")
    return _stop_polling_if(response, scene.prompt_status != Scene.PromptStatus.WRITING)


@require_POST
@login_required
def scene_regenerate(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    scene = _get_scene_for_user(request, pk)
    error = message_for_form(RegenerateForm(request.POST),
                             lambda data: rendering.regenerate_scene(scene, owner=request.user, **data))
    scene.refresh_from_db()
    return _scene_response(request, scene, "clip-section", clip_error=error)


def _clip_action(request: HttpRequest, pk: uuid.UUID, action: Callable[[Clip], Any]) -> HttpResponse:
    """Run one use case on a clip and re-render its scene's clip section."""
    clip = _get_clip_for_user(request, pk)
    error = message_if_refused(lambda: action(clip))
    clip.scene.refresh_from_db()
    return _scene_response(request, clip.scene, "clip-section", clip_error=error)


@require_POST
@login_required
def scene_upload_clip(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The card's "Use my own clip": stored at once, checked and fitted in the worker."""
    scene = _get_scene_for_user(request, pk)
    form = FootageForm(request.POST, request.FILES)
    error = uploads.too_large(request) or message_for_form(
        form, lambda data: footage.upload_scene_clip(scene, owner=request.user, uploaded=data["file"]))
    scene.refresh_from_db()
    return _scene_response(request, scene, "clip-section", clip_error=error)


@require_POST
@login_required
def clip_retry(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _clip_action(request, pk, rendering.retry_clip)


@require_POST
@login_required
def clip_cancel(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _clip_action(request, pk, rendering.cancel_clip)


@require_POST
@login_required
def clip_make_current(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    return _clip_action(request, pk, rendering.make_current)

