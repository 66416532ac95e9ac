"""Pages and their HTMX partials.

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
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HTMX_STOP_POLLING, reswap, retarget
from django_htmx.middleware import HtmxDetails

from mv import audio, cost_views, flavors, status, uploads
from mv.errors import Refused
from mv.forms import (
    AudioUrlForm,
    CharacterImagesForm,
    FlavorSelectForm,
    ProjectCreateForm,
    RegenerateForm,
    ScenePromptForm,
)
from mv.models import AudioTrack, CharacterImage, Clip, Project, Scene
from mv.pipeline import characters, projects, rendering, spending, stitching
from mv.templatetags.mv_costs import project_costs

QUICK_GEN = "mv/quick_gen.html"
CREATE = "mv/create.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _get_project_for_user(request: HttpRequest, pk: uuid.UUID) -> Project:
    projects = Project.objects.visible_to(request.user).select_related("audio_track", "character_image").with_spend()
    return get_object_or_404(projects, pk=pk)


def _get_scene_for_user(request: HttpRequest, pk: uuid.UUID) -> Scene:
    return get_object_or_404(_scenes_of(Project.objects.visible_to(request.user)), pk=pk)


def _get_clip_for_user(request: HttpRequest, pk: uuid.UUID) -> Clip:
    return get_object_or_404(Clip.objects.visible_to(request.user).select_related("scene__project")
                             .filter(scene__isnull=False), pk=pk)


def _scenes_of(projects: QuerySet[Project]) -> QuerySet[Scene]:
    return Scene.objects.select_related("project__audio_track", "current_clip").filter(project__in=projects)


def _stop_polling_if(response: HttpResponse, done: bool) -> HttpResponse:
    """A polled fragment that has nothing left to wait for tells htmx to stop (286)."""
    if done:
        response.status_code = HTMX_STOP_POLLING
    return response


@require_GET
@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.visible_to(request.user).select_related("audio_track").with_summary()
    return render(request, "mv/project_list.html", {"projects": projects})


# --- create page -----------------------------------------------------------------------------


def _create_context(request: HttpRequest, form: ProjectCreateForm) -> dict[str, Any]:
    track_id = form["audio_track_id"].value()
    track = AudioTrack.objects.visible_to(request.user).filter(pk=track_id).first() if _is_uuid(track_id) else None
    image_id = form["character_image_id"].value()
    url_form = AudioUrlForm(request.POST if request.method == "POST" else None)
    return {"form": form, "track": track, "url_form": url_form, "selected_image": image_id,
            "images": _images_from(request, request.POST.getlist("image_ids") if request.method == "POST" else []),
            **cost_views.plan_estimate(form.data if form.is_bound else form.initial)}



def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _images_from(request: HttpRequest, ids: list[str]) -> list[CharacterImage]:
    ids = [i for i in ids if _is_uuid(i)][:4]
    return list(CharacterImage.objects.visible_to(request.user).filter(pk__in=ids).order_by("created_at"))


@require_GET
@login_required
def create(request: HttpRequest) -> HttpResponse:
    return render(request, CREATE, _create_context(request, ProjectCreateForm(initial={"config_flavor": flavors.DEFAULT})))


@require_POST
@login_required
def create_submit(request: HttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST, owner=request.user)
    if not form.is_valid():
        return render(request, CREATE, _create_context(request, form), status=200)
    data = form.cleaned_data
    flavor = flavors.resolve(data["config_flavor"])
    try:
        with transaction.atomic():  # refused over budget: not even the project is kept
            project = projects.create_project(
                owner=request.user, mode=data["mode"], video_description=data["video_description"],
                character_description=data["character_description"], audio_track=data["audio_track_id"],
                audio_start=data["audio_start"] or 0.0, song_end=data["song_end"], flavor=flavor,
                character_image=data["character_image_id"], number_of_scenes=data["number_of_scenes"],
                aspect_ratio=data.get("aspect_ratio") or None,
            )
            spending.check_budget(request.user, spending.project_estimate(project, flavor))
            projects.start_project(project)
    except Refused as exc:
        return render(request, CREATE, _create_context(request, form) | {"create_error": exc.message}, status=200)
    return redirect("quick_gen", pk=project.pk)


@require_POST
@login_required
def create_audio_upload(request: HttpRequest) -> HttpResponse:
    error = ""
    track = None
    upload = request.FILES.get("file")
    if uploads.too_large(request):
        error = uploads.too_large(request)
    elif upload is None:
        error = "Choose an audio file to upload."
    else:
        try:
            track = audio.import_upload(request.user, upload)
        except audio.AudioImportError as exc:
            error = str(exc)
    return _music_source(request, track, error)


@require_GET
@login_required
def create_music_source(request: HttpRequest) -> HttpResponse:
    """The empty song picker again ("Use another song"); the chosen track stays stored."""
    return _music_source(request, None, "")


@require_POST
@login_required
def create_audio_url(request: HttpRequest) -> HttpResponse:
    form = AudioUrlForm(request.POST)
    track, error = None, ""
    if not form.is_valid():
        error = "Enter a valid http(s) URL."
    else:
        try:
            track = audio.import_url(request.user, form.cleaned_data["url"])
        except audio.AudioImportError as exc:
            error = str(exc)
    return _music_source(request, track, error)


def _music_source(request: HttpRequest, track: AudioTrack | None, error: str) -> HttpResponse:
    context = {"track": track, "music_error": error, "url_form": AudioUrlForm(request.POST or None),
               "form": ProjectCreateForm()}
    if request.htmx:
        return render(request, f"{CREATE}#music-source", context)
    if error:
        messages.error(request, error)
    return redirect("create")


@require_POST
@login_required
def create_character_images(request: HttpRequest) -> HttpResponse:
    form = CharacterImagesForm(request.POST)
    images: list[CharacterImage] = []
    error = ""
    if form.is_valid():
        flavor = flavors.resolve(form.cleaned_data.get("config_flavor") or flavors.DEFAULT)
        try:
            requested = characters.request_character_images(owner=request.user, flavor=flavor,
                                                          description=form.cleaned_data["character_description"],
                                                          aspect_ratio=form.cleaned_data.get("aspect_ratio") or None)
        except Refused as exc:
            return _character_grid(request, [], exc.message)
        images = _images_from(request, [str(i.pk) for i in requested])  # fresh: some may be done already
    else:
        error = "Describe the character first."
    return _character_grid(request, images, error)


@require_GET
@login_required
def character_images(request: HttpRequest) -> HttpResponse:
    images = _images_from(request, request.GET.getlist("id"))
    response = _character_grid(request, images, "")
    return _stop_polling_if(response, bool(images) and all(i.is_finished for i in images))


def _character_grid(request: HttpRequest, images: list[CharacterImage], error: str) -> HttpResponse:
    context = {"images": images, "image_error": error, "images_pending": any(i.is_active for i in images),
               "selected_image": request.POST.get("character_image_id") or request.GET.get("character_image_id")}
    if request.htmx:
        return render(request, f"{CREATE}#character-images", context)
    return redirect("create")


# --- quick-gen page ----------------------------------------------------------------------------


def _page_context(project: Project) -> dict[str, Any]:
    states = status.project_states(project)
    track = project.audio_track
    shown = (0.0, track.duration) if track and track.duration else None  # the waveform shows the whole song
    analysis = (track.analysis or {}) if track else {}
    return {
        "project": project,
        "states": states,
        "counts": status.counts(states),
        **status.full_video(project, states),
        "flavor_form": FlavorSelectForm(initial={"config_flavor": project.config_flavor}),
        "thumbs": status.thumbnails(states, shown),
        "marks": status.marks(analysis, shown) if shown and analysis.get("beats") is not None else None,
        "boundaries": _boundaries(project, states),
        "to_render": sum(1 for s in states if s.active is None and (s.current is None or s.out_of_date)),
        "reference_note": status.reference_note(project),
        # Named though empty: a missing variable costs an exception per card.
        **dict.fromkeys(("oob", "prompt_form", "saved", "clip_error", "edit_error", "stitch_error", "oob_flavor")),
    }


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
    # The plan's status is read before its scenes: once it says done, every scene is there.
    written = project.scenes_status != Project.ScenesStatus.WRITING
    target = request.htmx.target if request.htmx and not request.htmx.history_restore_request else None
    if target == "studio":
        response = render(request, f"{QUICK_GEN}#studio", _page_context(project))
        return _stop_polling_if(response, written)
    if target == "full-video":
        video = status.full_video(project)
        response = render(request, f"{QUICK_GEN}#full-video", {"project": project, **video})
        waiting_for_auto = project.autorun_started and not project.auto_stitch_done
        stitch = video["stitch"]
        return _stop_polling_if(response, not (stitch and stitch.is_active) and not waiting_for_auto)
    return render(request, QUICK_GEN, _page_context(project))


@require_POST
@login_required
def change_flavor(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    form = FlavorSelectForm(request.POST)
    if form.is_valid():
        project.config_flavor = form.cleaned_data["config_flavor"]
        project.save(update_fields=["config_flavor", "updated_at"])
    if not request.htmx:
        return redirect("quick_gen", pk=project.pk)
    return render(request, f"{QUICK_GEN}#config-card", {"project": project, "flavor_form": form, "oob_flavor": True})


@require_POST
@login_required
def restitch(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    project = _get_project_for_user(request, pk)
    error = ""
    try:
        stitching.restitch_project(project)  # the section then shows it as the latest stitch
    except Refused as exc:
        error = exc.message
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("quick_gen", pk=project.pk)
    context = {"project": project, **status.full_video(project), "stitch_error": error}
    return render(request, f"{QUICK_GEN}#full-video", context)


def _scene_response(request: HttpRequest, scene: Scene, partial: str, **extra: Any) -> HttpResponse:
    if not request.htmx:
        return redirect("quick_gen", pk=scene.project_id)
    context = {"project": scene.project, "s": status.single_state(scene), **extra}
    return render(request, f"{QUICK_GEN}#{partial}", context)


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
        projects.rewrite_scene(scene, flavors.resolve(scene.project.config_flavor))
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
    form = RegenerateForm(request.POST)
    error = ""
    if not form.is_valid():
        error = " ".join(m for errors in form.errors.values() for m in errors)
    else:
        try:
            rendering.regenerate_scene(scene, owner=request.user, **form.cleaned_data)
        except Refused as exc:
            error = exc.message
    scene.refresh_from_db()
    return _scene_response(request, scene, "clip-section", clip_error=error)


@require_GET
@login_required
def clip_status(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The polled fragment. While a clip renders it returns only the small status; once
    it is done (286 stops the poll) it swaps the card's clip section once, plus the counts
    and the full video out of band."""
    active = status.active_clip(request.user, pk)
    if active is not None:
        state = status.SceneState(scene=active.scene, current=None, active=active, failed=None)
        return render(request, f"{QUICK_GEN}#clip-status", {"s": state})
    scene = _get_scene_for_user(request, pk)
    project = scene.project
    states = status.project_states(project)
    state = next(s for s in states if s.scene.pk == scene.pk)
    html = render_to_string(f"{QUICK_GEN}#clip-section", {"s": state, "project": project}, request=request)
    oob = {"project": project, "oob": True}
    html += render_to_string(f"{QUICK_GEN}#counts", {**oob, "counts": status.counts(states)}, request=request)
    html += render_to_string("mv/_costs.html#project-costs", {**oob, **project_costs(project, states)}, request=request)
    track = project.audio_track
    shown = (0.0, track.duration) if track and track.duration else None
    thumb = next(t for t in status.thumbnails(states, shown) if t["s"].scene.pk == scene.pk)
    html += render_to_string(f"{QUICK_GEN}#thumb", {**oob, "t": thumb}, request=request)
    video = status.full_video(project, states)
    stitch = video["stitch"]
    if stitch is not None and str(stitch.pk) != request.GET.get("shown_stitch", ""):
        # Only a new stitch replaces the Full Video section: a playing video keeps playing.
        html += render_to_string(f"{QUICK_GEN}#full-video", {**oob, **video}, request=request)
    response = HttpResponse(html, status=HTMX_STOP_POLLING)
    retarget(response, f"#clip-{scene.pk}")
    reswap(response, "outerHTML")
    return response


def _clip_action(request: HttpRequest, pk: uuid.UUID, action: Callable[[Clip], Any]) -> HttpResponse:
    """Run one use case on a clip and re-render its scene's clip section."""
    clip = _get_clip_for_user(request, pk)
    error = ""
    try:
        action(clip)
    except Refused as exc:
        error = exc.message
    clip.scene.refresh_from_db()
    return _scene_response(request, clip.scene, "clip-section", clip_error=error)


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

