"""JSON endpoints under /api/ (the names of the tool MV Studio replaces).

Each view parses its input with a form from mv.forms.api, calls one function in mv/, and
answers the rows' ``to_dict()``. Errors are {"error", "message", "details"} with a 4xx:
forms give 400, ``Refused`` from the use cases its own status, an unknown or another
user's id 404 (see mv.apiutils.api_endpoint).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse

from mv import audio, costs, files, flavors, media, netguard, planning, styles, uploads, waiting
from mv.apiutils import api_endpoint, parse_json, serve_file
from mv.errors import Refused
from mv.forms.api import (
    AudioDownloadForm,
    AudioTrimForm,
    AudioUploadForm,
    CharacterReferenceForm,
    CreateScenesForm,
    GenerateVideoForm,
    LipsyncForm,
    RestitchForm,
    RetryForm,
    StitchForm,
)
from mv.forms.fields import JsonForm
from mv.forms.pages import LyricsForm
from mv.models import (
    AudioTrack,
    Character,
    CharacterImage,
    Clip,
    Project,
    Scene,
    Stitch,
    check_range,
    get_owned,
)
from mv.music import captions
from mv.pipeline import characters, projects, rendering, songs, spending, stitching

logger = logging.getLogger("mv.api")
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def _valid(form_class: type[JsonForm], request: HttpRequest) -> JsonForm:
    form = form_class(parse_json(request))
    if not form.is_valid():
        raise Refused("validation_error", "Some fields are invalid.", form.errors_as_details())
    return form


def _owned(model: type[models.Model], request: HttpRequest, pk: uuid.UUID | str | None) -> Any:
    """The API caller's row (models.get_owned: another user's id is as unknown as a made-up one)."""
    return get_owned(Scene.objects.select_related("project") if model is Scene else model, request.api_user, pk)


def _flavor(name: str, project: Project | None = None) -> flavors.Flavor:
    """The flavor sent, else the project's own (work on an existing project never slips
    to ``default`` because the field was left out), else ``default``."""
    if not name and project is not None:
        name = project.config_flavor
    return flavors.resolve(name or flavors.DEFAULT)


def _answer(rows: list, body: Callable[[], dict[str, Any]], wait: float | None) -> JsonResponse:
    """200 once every row is finished (waiting up to ``wait`` seconds), else 202; the body
    is read after the wait."""
    done = waiting.wait_for(rows, wait or 0)
    return JsonResponse(body(), status=200 if done else 202)


def _serve(request: HttpRequest, field_file, content_type: str, filename: str, missing: str) -> HttpResponse:
    """A stored file, or a JSON 404 saying plainly why there is none yet."""
    if not field_file:
        raise Refused("not_ready", missing, status=404)
    return serve_file(request, field_file, content_type=content_type, filename=filename)


@api_endpoint("GET")
def get_config_flavors(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"flavors": flavors.names(), "default": flavors.DEFAULT})


@api_endpoint("GET")
def get_director_styles(request: HttpRequest) -> JsonResponse:
    """The director styles a project can use ("default": none, the flavor's look alone)."""
    return JsonResponse({"styles": [styles.registry().styles[n].to_dict() for n in styles.names()], "default": None})


@api_endpoint("POST")
def create_scenes(request: HttpRequest) -> JsonResponse:
    form = _valid(CreateScenesForm, request)
    data = form.cleaned_data
    track = _owned(AudioTrack, request, data["audio_id"]) if data.get("audio_id") else None
    character = _owned(Character, request, data["character_id"]) if data.get("character_id") else None
    song = {"song_start": data.get("song_start"), "song_end": data.get("song_end"), "character": character}
    if data.get("project_id"):
        project = _owned(Project, request, data["project_id"])
        flavor = _flavor(data["config_flavor"], project)
        projects.revise_project(project, flavor=flavor, video_description=data["idea"],
                                character_description=data["character_description"],
                                number_of_scenes=data.get("number_of_scenes"),
                                scene_parameters=form.scene_parameters(), audio_track=track,
                                aspect_ratio=data.get("aspect_ratio") or None,
                                director_style=data["director_style"] if "director_style" in form.data else None, **song)
    else:
        flavor = _flavor(data["config_flavor"])
        project = projects.create_project(owner=request.api_user, video_description=data["idea"],
                                        character_description=data["character_description"], flavor=flavor,
                                        number_of_scenes=data.get("number_of_scenes"),
                                        scene_parameters=form.scene_parameters(), audio_track=track,
                                        audio_start=song["song_start"] or 0.0, song_end=song["song_end"],
                                        aspect_ratio=data.get("aspect_ratio") or None,
                                        director_style=data["director_style"], character=character)
    writing = projects.request_scenes(project, flavor)
    params = project.scene_request(flavor, used_in="mv.api.create_scenes", slots=writing.slots)
    plan = spending.project_estimate(project, flavor)

    def body() -> dict[str, Any]:
        project.refresh_from_db()
        writing.refresh_from_db(fields=["input", "number_of_scenes"])  # the plan is cut again when it starts
        return project.to_dict() | plan.to_dict() | {"config_flavor": flavor.name, "metadata": {
            "number_of_scenes": writing.number_of_scenes, "parameters_used": {
                "character_characteristics": params.character_characteristics, "video_type": params.video_type,
                "video_characteristics": params.video_characteristics, "camera_angle": params.camera_angle}},
            "plan": [slot.to_dict() for slot in writing.slots or []]} | planning.clip_seconds(
            writing.slots, flavor, scenes=writing.number_of_scenes or 0)

    return _answer([writing], body, data.get("wait"))


@api_endpoint("GET")
def project_detail(request: HttpRequest, project_id: uuid.UUID) -> JsonResponse:
    return JsonResponse(_owned(Project, request, project_id).to_dict())


@api_endpoint("POST")
def project_stop(request: HttpRequest, project_id: uuid.UUID) -> JsonResponse:
    """Stop all: the project's queued and running predictions are cancelled (at the provider
    too); finished clips stay."""
    project = _owned(Project, request, project_id)
    stopped = projects.stop_project(project)
    return JsonResponse(project.to_dict() | {"stopped": stopped})


@api_endpoint("POST")
def project_restitch(request: HttpRequest, project_id: uuid.UUID) -> JsonResponse:
    """The page's "Re-stitch with current clips": every scene's current clip, trimmed to its
    slot (``captions``: with the lyric lines burned in)."""
    data = _valid(RestitchForm, request).cleaned_data
    stitch = stitching.restitch_project(_owned(Project, request, project_id), captions=bool(data.get("captions")))
    return _answer([stitch], stitch.to_dict, data.get("wait"))


CAPTION_FORMATS = {"srt": ("application/x-subrip", captions.to_srt), "vtt": ("text/vtt", captions.to_vtt)}


@api_endpoint("GET")
def project_captions(request: HttpRequest, project_id: uuid.UUID, fmt: str) -> HttpResponse:
    """The lyric lines sung in the project's video, timed to the video, as SRT or WebVTT."""
    project = _owned(Project, request, project_id)
    if project.audio_track is None or not project.audio_track.lyrics:
        raise Refused("no_lyrics", "This project's song has no lyrics yet: paste them on the song, or wait "
                                  "for the transcription, then download the captions.", status=404)
    content_type, write = CAPTION_FORMATS[fmt]
    response = HttpResponse(write(project.caption_cues()), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{project.caption_name(fmt)}"'
    return response


@api_endpoint("POST")
def generate_video(request: HttpRequest) -> JsonResponse:
    data = _valid(GenerateVideoForm, request).cleaned_data
    scene = _owned(Scene, request, data["scene_id"]) if data.get("scene_id") else None
    flavor = _flavor(data["config_flavor"], scene.project if scene else None)
    image = _owned(CharacterImage, request, data["character_reference_id"]) if data.get("character_reference_id") \
        else None
    clip = rendering.request_clip(owner=request.api_user, flavor=flavor, prompt=data["prompt"],
                              negative_prompt=data["negative_prompt"], scene=scene,
                              aspect_ratio=data.get("aspect_ratio") or None, duration=data.get("duration"),
                              generate_audio=data.get("generate_audio"), seed=data.get("seed"), character_image=image)
    return _answer([clip], clip.to_dict, data.get("wait"))


@api_endpoint("POST")
def lipsync(request: HttpRequest) -> JsonResponse:
    """Everything is checked before anything is kept: a video or song fetched by URL is
    registered only once the times have passed against the song's real length."""
    form = _valid(LipsyncForm, request)
    data = form.cleaned_data
    source = _owned(Clip, request, data["video_id"]) if data.get("video_id") else None
    track = _owned(AudioTrack, request, data["audio_id"]) if data.get("audio_id") else None
    if source is not None and source.status != "succeeded":
        raise Refused("video_not_ready", "Only a finished video can be lipsynced.")
    if track is not None:
        track.require_imported()
    asked = (data.get("start_time"), data.get("end_time"))
    check_range(*asked, track.duration if track is not None else None)  # fails before any download
    with files.workdir() as workdir:
        video_path = _fetch_video(data["video_url"], workdir) if source is None else None
        if track is None:
            try:
                track = audio.import_url(request.api_user, data["audio_url"],
                                         check=lambda duration: check_range(*asked, duration))
            except audio.AudioImportError as exc:
                raise Refused("bad_audio_url", str(exc)) from None
        if source is None:
            source = rendering.import_clip(request.api_user, video_path, source_url=data["video_url"])
    clip = rendering.request_lipsync(owner=request.api_user, flavor=_flavor(source.config_flavor), source=source,
                                 audio_track=track, start_time=asked[0], end_time=asked[1], options=form.options())
    return _answer([clip], lambda: clip.to_dict() | {"replaces_current_clip": clip.promote_on_success},
                   data.get("wait"))


def _fetch_video(url: str, workdir: Path) -> Path:
    """The video at url, downloaded and checked, but not registered yet."""
    try:
        path = netguard.fetch_url(url, workdir / "video.mp4", limit_bytes=settings.MV_MAX_UPLOAD_MB * 1024 * 1024)
        media.require_video(path)
    except netguard.FetchError as exc:
        raise Refused("bad_video_url", f"Could not use video_url: {exc}.") from None
    except media.MediaError as exc:
        logger.info("video_url refused: %s", exc.detail)
        raise Refused("bad_video_url", "video_url is not a video we can use — MP4, MOV or WebM work.") from None
    return path


@api_endpoint("POST")
def stitch_videos(request: HttpRequest) -> JsonResponse:
    data = _valid(StitchForm, request).cleaned_data
    found = {str(c.pk): c for c in Clip.objects.visible_to(request.api_user).filter(pk__in=data["video_ids"])}
    missing = [v for v in data["video_ids"] if v not in found]
    if missing:
        raise Refused("not_found", "Some of those videos do not exist.", {"missing_video_ids": missing}, status=404)
    track = _owned(AudioTrack, request, data["audio_overlay_id"]) if data.get("audio_overlay_id") else None
    if track is not None:
        track.require_imported()
    suppress = data.get("suppress_video_audio")
    stitch = stitching.request_stitch(owner=request.api_user, clips=[found[v] for v in data["video_ids"]],
                                      audio_track=track, audio_start=data.get("audio_start") or 0.0,
                                      suppress_video_audio=(track is not None) if suppress is None else suppress)
    return _answer([stitch], stitch.to_dict, data.get("wait"))


@api_endpoint("POST")
def retry_video(request: HttpRequest) -> JsonResponse:
    """Run a failed clip again (a new clip with the same inputs); nothing else re-runs."""
    data = _valid(RetryForm, request).cleaned_data
    again = rendering.retry_clip(_owned(Clip, request, data["video_id"]))
    return _answer([again], again.to_dict, data.get("wait"))


@api_endpoint("POST")
def cancel_video(request: HttpRequest) -> JsonResponse:
    """Stop a queued or rendering clip and its prediction; the scene keeps its clip."""
    data = _valid(RetryForm, request).cleaned_data
    return JsonResponse(rendering.cancel_clip(_owned(Clip, request, data["video_id"])).to_dict())


def _video(request: HttpRequest, video_id: uuid.UUID) -> Clip | Stitch:
    clip = Clip.objects.visible_to(request.api_user).filter(pk=video_id).first()
    return clip or _owned(Stitch, request, video_id)


@api_endpoint("GET", "HEAD")
def get_video(request: HttpRequest, video_id: uuid.UUID) -> HttpResponse:
    video = _video(request, video_id)
    return _serve(request, video.file, "video/mp4", video.download_name(), f"This video has no file yet ({video.status}).")


@api_endpoint("GET")
def get_poster(request: HttpRequest, video_id: uuid.UUID) -> HttpResponse:
    clip = _owned(Clip, request, video_id)
    return _serve(request, clip.poster, "image/jpeg", f"{clip.pk}.jpg", "This video has no poster.")


@api_endpoint("GET")
def get_video_info(request: HttpRequest, video_id: uuid.UUID) -> JsonResponse:
    return JsonResponse(_video(request, video_id).to_dict())


def _import(action: Callable[[], AudioTrack], failure_code: str) -> AudioTrack:
    try:
        return action()
    except audio.AudioTooLarge as exc:
        raise Refused("too_large", str(exc), status=413) from None
    except audio.AudioImportError as exc:
        raise Refused(failure_code, str(exc)) from None


@api_endpoint("POST")
def audio_upload(request: HttpRequest) -> JsonResponse:
    """The bytes are stored and the answer comes at once (status "importing"); the checks,
    transcode, waveform and analysis run in the worker: read them at the analysis URL."""
    form = AudioUploadForm(request.POST, request.FILES)
    if uploads.too_large(request):
        raise Refused("too_large", uploads.too_large(request), status=413)
    if not form.is_valid():
        raise Refused("validation_error", "Send the song as a multipart field named 'file'.",
                       {k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
    track = _import(lambda: songs.receive_upload(request.api_user, form.cleaned_data["file"]), "not_audio")
    return JsonResponse(track.to_dict(), status=201)


@api_endpoint("POST")
def audio_download(request: HttpRequest) -> JsonResponse:
    """The URL is checked now; the download and import run in the worker (status "importing")."""
    data = _valid(AudioDownloadForm, request).cleaned_data
    track = _import(lambda: songs.request_url(request.api_user, data["url"]), "download_failed")
    return JsonResponse(track.to_dict(), status=201)


@api_endpoint("GET")
def audio_get(request: HttpRequest, audio_id: uuid.UUID) -> HttpResponse:
    track = _owned(AudioTrack, request, audio_id)
    return _serve(request, track.file or track.original, "audio/mp4", f"{track.pk}.m4a",
                  track.analysis_error or "This song has no file.")


@api_endpoint("GET")
def audio_waveform(request: HttpRequest, audio_id: uuid.UUID) -> HttpResponse:
    track = _owned(AudioTrack, request, audio_id)
    return _serve(request, track.waveform, "image/png", f"{track.pk}.png", "This track has no waveform picture.")


@api_endpoint("POST")
def audio_trim(request: HttpRequest) -> JsonResponse:
    data = _valid(AudioTrimForm, request).cleaned_data
    track = _owned(AudioTrack, request, data["audio_id"])
    track.require_imported()
    trimmed = _import(lambda: audio.trim(track, data["start_at"], data.get("end_at")), "trim_failed")
    return JsonResponse(trimmed.to_dict() | {"original_audio_id": str(track.pk)}, status=201)


@api_endpoint("GET")
def audio_analysis(request: HttpRequest, audio_id: uuid.UUID) -> JsonResponse:
    """The song's tempo, beats, bars, sections and lyrics: status "importing", then "analyzing",
    then "ready", or "failed" with a plain message in "error"."""
    return JsonResponse(_owned(AudioTrack, request, audio_id).analysis_to_dict())


@api_endpoint("POST")
def audio_lyrics(request: HttpRequest, audio_id: uuid.UUID) -> JsonResponse:
    """Paste lyrics (plain lines or LRC); they replace any transcription."""
    track = _owned(AudioTrack, request, audio_id)
    songs.paste_lyrics(track, _valid(LyricsForm, request).cleaned_data["lyrics"])
    return JsonResponse(track.analysis_to_dict())


@api_endpoint("POST")
def generate_character_reference(request: HttpRequest) -> JsonResponse:
    data = _valid(CharacterReferenceForm, request).cleaned_data
    flavor = _flavor(data["config_flavor"])
    images = characters.request_character_images(owner=request.api_user, flavor=flavor,
                                                  description=data["character_description"],
                                                  num_images=data.get("num_images") or 4, seed=data.get("seed"),
                                                  aspect_ratio=data.get("aspect_ratio") or None)
    estimate = sum((i.estimated_cost_usd or 0 for i in images), Decimal(0))
    return _answer(images, lambda: {"config_flavor": flavor.name, "images": [i.to_dict() for i in images],
                                    "estimated_cost_usd": float(costs.cents(estimate))}, data.get("wait"))


@api_endpoint("GET")
def get_character_reference(request: HttpRequest, image_id: uuid.UUID) -> HttpResponse:
    image = _owned(CharacterImage, request, image_id)
    kind = IMAGE_TYPES.get(image.file.name.rsplit(".", 1)[-1].lower(), "image/png")
    return _serve(request, image.file, kind, image.file.name.rsplit("/", 1)[-1],
                  f"This image has no file yet ({image.status}).")


@api_endpoint("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    raise Refused("not_found", "No such API endpoint or id.", status=404)
