"""The create page (/create/) and its HTMX partials: the song picker (upload, URL), the
character reference images, and the submit that creates the project and starts its run.

Each view parses input with a form, calls one function in mv/, and renders the page or,
for HTMX requests, just the partial being swapped.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mv import audio, cost_views, flavors, status, uploads
from mv.errors import Refused, message_for_form
from mv.forms.pages import AudioUrlForm, CharacterImagesForm, ProjectCreateForm, SongGenerateForm
from mv.models import AudioTrack, CharacterImage
from mv.pipeline import characters, projects, songs, spending
from mv.views import _back_to_page, _polled

CREATE = "mv/create.html"


def _create_context(request: HttpRequest, form: ProjectCreateForm) -> dict[str, Any]:
    track_id = form["audio_track_id"].value()
    track = AudioTrack.objects.visible_to(request.user).filter(pk=track_id).first() if _is_uuid(track_id) else None
    if track is not None and track.import_failed:
        track = None  # the picker again; the form's error says why
    image_id = form["character_image_id"].value()
    url_form = AudioUrlForm(request.POST if request.method == "POST" else None)
    return {"form": form, "track": track, "url_form": url_form, "song_form": SongGenerateForm(), "selected_image": image_id,
            **_grid(_images_from(request, request.POST.getlist("image_ids") if request.method == "POST" else [])),
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
    return render(request, CREATE, _create_context(request, ProjectCreateForm(initial={"config_flavor": flavors.DEFAULT},
                                                                        owner=request.user)))


@require_http_methods(["GET", "POST"])
@login_required
def create_submit(request: HttpRequest) -> HttpResponse:
    """POST: make the project. GET (the address opened directly, or a reload): the create page."""
    if request.method == "GET":
        return redirect("create")
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
                aspect_ratio=data.get("aspect_ratio") or None, director_style=data["director_style"],
                character=data["character_id"],
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
            track = songs.receive_upload(request.user, upload)  # imported in the worker: the card polls
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
            track = songs.request_url(request.user, form.cleaned_data["url"])
        except audio.AudioImportError as exc:
            error = str(exc)
    return _music_source(request, track, error)


@require_POST
@login_required
def create_audio_generate(request: HttpRequest) -> HttpResponse:
    """"Generate a song": the picker shows the song while the music model makes it."""
    form = SongGenerateForm(request.POST)
    track = None

    def generate(data: dict) -> None:
        nonlocal track
        flavor = flavors.resolve(data.get("config_flavor") or flavors.DEFAULT)
        track = songs.request_song(request.user, flavor, prompt=data["prompt"], duration=data["duration"],
                                   lyrics=data["lyrics"]).track

    error = message_for_form(form, generate)
    return _music_source(request, track, error)


def _music_source(request: HttpRequest, track: AudioTrack | None, error: str) -> HttpResponse:
    if not request.htmx:
        return _back_to_page(request, error, "create")
    return render_music_source(request, track, error)


def render_music_source(request: HttpRequest, track: AudioTrack | None, error: str) -> HttpResponse:
    """The song picker with this track (as it stands now), or empty with the message of a
    song that could not be imported."""
    if track is not None:
        track.refresh_from_db()
        if track.import_failed:
            track, error = None, track.analysis_error
    context = {"track": track, "music_error": error, "url_form": AudioUrlForm(request.POST or None),
               "song_form": SongGenerateForm(request.POST or None) if error else SongGenerateForm(),
               "form": ProjectCreateForm()}
    return render(request, f"{CREATE}#music-source", context)


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
    return _polled(request, _grid(images)["images_shown"],
                   done=bool(images) and all(i.is_finished for i in images),
                   answer=lambda: _character_grid(request, images, ""))


def _grid(images: list[CharacterImage]) -> dict[str, Any]:
    """The picture grid: polled while a picture renders (also after a refused submit)."""
    return {"images": images, "images_pending": any(i.is_active for i in images),
            "images_shown": status.fingerprint([i.shown_state for i in images])}


def _character_grid(request: HttpRequest, images: list[CharacterImage], error: str) -> HttpResponse:
    context = {**_grid(images), "image_error": error,
               "selected_image": request.POST.get("character_image_id") or request.GET.get("character_image_id")}
    if not request.htmx:
        return _back_to_page(request, error, "create")
    return render(request, f"{CREATE}#character-images", context)
