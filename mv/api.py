"""JSON endpoints under /api/ (the names of the tool MV Studio replaces).

Each view parses its input with a form from mv.forms, calls one function in mv/, and
answers JSON. Errors are {"error", "message", "details"} with a 4xx.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path, re_path, reverse

from mv import audio, files, flavors, media, netguard, pipeline, uploads, waiting
from mv.apiutils import ApiError, api_endpoint, parse_json, serve_file
from mv.forms import (
    AudioDownloadForm,
    AudioTrimForm,
    AudioUploadForm,
    CharacterReferenceForm,
    CreateScenesForm,
    GenerateVideoForm,
    JsonForm,
    LipsyncForm,
    RetryForm,
    StitchForm,
)
from mv.models import AudioTrack, CharacterImage, Clip, JobStatus, Project, Scene, Stitch

IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def _valid(form_class: type[JsonForm], request: HttpRequest) -> JsonForm:
    form = form_class(parse_json(request))
    if not form.is_valid():
        raise ApiError(400, "validation_error", "Some fields are invalid.", form.errors_as_details())
    return form


def _owned(model: type[models.Model], request: HttpRequest, pk: Any, what: str):
    """Ownership and 404 in one place: another user's id is as unknown as a made-up one."""
    try:
        key = uuid.UUID(str(pk))
    except ValueError:
        raise ApiError(404, "not_found", f"No {what} with id {str(pk)[:64]!r}.") from None
    row = model.objects.visible_to(request.api_user).filter(pk=key).first()
    if row is None:
        raise ApiError(404, "not_found", f"No {what} with id {key}.")
    return row


def _flavor(name: str, project: Project | None = None) -> flavors.Flavor:
    """The flavor sent, else the project's own (work on an existing project never slips
    to ``default`` because the field was left out), else ``default``."""
    if not name and project is not None:
        name = project.config_flavor
    return flavors.resolve(name or flavors.DEFAULT)


def _clip_json(clip: Clip) -> dict[str, Any]:
    return {
        "video_id": str(clip.pk),
        "status": clip.status,
        "error": clip.error or None,
        "video_url": clip.video_url if clip.status == JobStatus.SUCCEEDED else None,
        "status_url": reverse("api_get_video_info", args=[clip.pk]),
        "config_flavor": clip.config_flavor,
        "metadata": {
            "kind": clip.kind,
            "provider": clip.provider,
            "model_used": clip.model,
            "prompt": clip.prompt,
            "parent_video_id": str(clip.parent_id) if clip.parent_id else None,
            "scene_id": str(clip.scene_id) if clip.scene_id else None,
            "duration_seconds": clip.duration,
            "progress": clip.progress,
            "predict_time": clip.predict_time,
            "audio_id": str(clip.audio_track_id) if clip.audio_track_id else None,
            "start_time": clip.audio_start,
            "end_time": clip.audio_end,
        },
    }


def _stitch_json(stitch: Stitch) -> dict[str, Any]:
    return {
        "video_id": str(stitch.pk),
        "status": stitch.status,
        "error": stitch.error or None,
        "video_url": stitch.video_url if stitch.status == JobStatus.SUCCEEDED else None,
        "status_url": reverse("api_get_video_info", args=[stitch.pk]),
        "metadata": {
            "num_videos_stitched": stitch.num_clips,
            "video_duration_seconds": stitch.duration,
            "audio_overlay_applied": stitch.audio_track_id is not None,
            "audio_overlay_id": str(stitch.audio_track_id) if stitch.audio_track_id else None,
            "audio_start": stitch.audio_start,
            "input_video_ids": [str(c.pk) for c in stitch.ordered_clips()],
            "reencoded_clips": stitch.reencoded_clips,
        },
    }


def _track_json(track: AudioTrack) -> dict[str, Any]:
    return {"audio_id": str(track.pk), "title": track.title, "duration": track.duration,
            "audio_url": reverse("api_audio_get", args=[track.pk]), "source": track.source,
            "parent_audio_id": str(track.parent_id) if track.parent_id else None}


@api_endpoint("GET")
def get_config_flavors(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"flavors": flavors.names(), "default": flavors.DEFAULT})


@api_endpoint("POST")
def create_scenes(request: HttpRequest) -> JsonResponse:
    form = _valid(CreateScenesForm, request)
    data = form.cleaned_data
    if data.get("project_id"):
        project = _owned(Project, request, data["project_id"], "project")
        flavor = _flavor(data["config_flavor"], project)
        project.video_description = data["idea"]
        project.character_description = data["character_description"] or project.character_description
        project.number_of_scenes = data.get("number_of_scenes") or project.number_of_scenes
        project.scene_parameters = (project.scene_parameters or {}) | form.scene_parameters()
        project.save(update_fields=["video_description", "character_description", "number_of_scenes",
                                    "scene_parameters", "updated_at"])
    else:
        flavor = _flavor(data["config_flavor"])
        project = pipeline.create_project(owner=request.api_user, video_description=data["idea"],
                                          character_description=data["character_description"], flavor=flavor,
                                          number_of_scenes=data.get("number_of_scenes"),
                                          scene_parameters=form.scene_parameters())
    params = pipeline.scene_request(project, flavor, used_in="mv.api.create_scenes")
    pipeline.request_scenes(project, flavor)

    def payload() -> dict[str, Any]:
        project.refresh_from_db()
        scenes = [] if project.scenes_status == Project.ScenesStatus.WRITING else list(project.scenes.all())
        return {
            "project_id": str(project.pk),
            "status": project.scenes_status,
            "error": project.scenes_error or None,
            "status_url": reverse("api_project", args=[project.pk]),
            "config_flavor": flavor.name,
            "scenes": [{"id": str(s.pk), "position": s.position, "description": s.description,
                        "negative_description": s.negative_description} for s in scenes],
            "metadata": {"number_of_scenes": params.number_of_scenes, "parameters_used": {
                "character_characteristics": params.character_characteristics, "video_type": params.video_type,
                "video_characteristics": params.video_characteristics, "camera_angle": params.camera_angle}},
        }

    done = waiting.wait_for([project], data.get("wait") or 0)
    return JsonResponse(payload(), status=200 if done else 202)


@api_endpoint("GET")
def project_detail(request: HttpRequest, project_id: str) -> JsonResponse:
    project = _owned(Project, request, project_id, "project")
    scenes = project.scenes.select_related("current_clip")
    latest = project.stitches.order_by("-created_at").first()
    return JsonResponse({
        "project_id": str(project.pk), "status": project.scenes_status, "error": project.scenes_error or None,
        "config_flavor": project.config_flavor,
        "audio_id": str(project.audio_track_id) if project.audio_track_id else None,
        "audio_start": project.audio_start,
        "scenes": [{"id": str(s.pk), "position": s.position, "description": s.description,
                    "negative_description": s.negative_description,
                    "current_video_id": str(s.current_clip_id) if s.current_clip_id else None,
                    "slice": pipeline.scene_slice(s) if project.audio_track_id else None} for s in scenes],
        "latest_stitch": _stitch_json(latest) if latest else None,
    })


@api_endpoint("POST")
def generate_video(request: HttpRequest) -> JsonResponse:
    data = _valid(GenerateVideoForm, request).cleaned_data
    scene = _owned_scene(request, data["scene_id"]) if data.get("scene_id") else None
    flavor = _flavor(data["config_flavor"], scene.project if scene else None)
    image = _owned(CharacterImage, request, data["character_reference_id"], "character image") \
        if data.get("character_reference_id") else None
    clip = pipeline.request_clip(owner=request.api_user, flavor=flavor, prompt=data["prompt"],
                                 negative_prompt=data["negative_prompt"], scene=scene,
                                 aspect_ratio=data.get("aspect_ratio") or None, duration=data.get("duration"),
                                 generate_audio=data.get("generate_audio"), seed=data.get("seed"),
                                 character_image=image)
    done = waiting.wait_for([clip], data.get("wait") or 0)
    return JsonResponse(_clip_json(clip), status=200 if done else 202)


def _owned_scene(request: HttpRequest, scene_id: Any) -> Scene:
    scene = Scene.objects.select_related("project", "current_clip").filter(
        pk=scene_id, project__in=Project.objects.visible_to(request.api_user)).first()
    if scene is None:
        raise ApiError(404, "not_found", f"No scene with id {scene_id}.")
    return scene


@api_endpoint("POST")
def lipsync(request: HttpRequest) -> JsonResponse:
    """Everything is checked before anything is kept: a video or song fetched by URL is
    registered only once the times have passed against the song's real length."""
    form = _valid(LipsyncForm, request)
    data = form.cleaned_data
    source = _owned(Clip, request, data["video_id"], "video") if data.get("video_id") else None
    track = _owned(AudioTrack, request, data["audio_id"], "audio track") if data.get("audio_id") else None
    if source is not None and source.status != JobStatus.SUCCEEDED:
        raise ApiError(400, "video_not_ready", f"Video {source.pk} is {source.status}; only a finished video can be lipsynced.")
    asked = (data.get("start_time"), data.get("end_time"))
    _lipsync_times(*asked, track.duration if track is not None else None)  # fails before any download
    with files.workdir() as workdir:
        video_path = _fetch_video(data["video_url"], workdir) if source is None else None
        if track is None:
            try:
                track = audio.import_url(request.api_user, data["audio_url"],
                                         check=lambda duration: _lipsync_times(*asked, duration))
            except audio.AudioImportError as exc:
                raise ApiError(400, "bad_audio_url", str(exc)) from None
        start, end = _lipsync_times(*asked, track.duration)
        if source is None:
            source = pipeline.import_clip(request.api_user, video_path, source_url=data["video_url"])
    flavor = _flavor(source.config_flavor)
    clip = pipeline.request_lipsync(owner=request.api_user, flavor=flavor, source=source, audio_track=track,
                                    start_time=start, end_time=end, options=form.options())
    done = waiting.wait_for([clip], data.get("wait") or 0)
    body = _clip_json(clip)
    body["stitch_id"] = str(clip.followup_stitch_id) if clip.followup_stitch_id else None
    body["replaces_current_clip"] = clip.promote_on_success
    return JsonResponse(body, status=200 if done else 202)


def _lipsync_times(start: float | None, end: float | None, duration: float | None) -> tuple[float, float | None]:
    """The slice [start, end) of a track of this length (None: not known yet, so only what
    can be checked without it). Every error names the track length when it is known."""
    start = 0.0 if start is None else start
    problem = ""
    if start < 0:
        problem = "start_time must not be negative"
    elif end is not None and end <= start:
        problem = "end_time must be greater than start_time"
    elif duration is not None and start >= duration:
        problem = "start_time must be before the end of the track"
    elif duration is not None and end is not None and end > duration + 1e-6:
        problem = "end_time must not be past the end of the track"
    if problem:
        details: dict[str, Any] = {"start_time": start, "end_time": end}
        if duration is None:
            raise ApiError(400, "invalid_times", f"{problem}.", details)
        raise ApiError(400, "invalid_times",
                       f"{problem}: 0 <= start_time < end_time <= {duration:.3f} (the track is {duration:.3f} s long).",
                       details | {"track_duration": duration})
    if end is None:
        end = duration  # the rest of the track
    return start, end


def _fetch_video(url: str, workdir: Path) -> Path:
    """The video at url, downloaded and checked, but not registered yet."""
    try:
        path = netguard.fetch_url(url, workdir / "video.mp4", limit_bytes=settings.MV_MAX_UPLOAD_MB * 1024 * 1024)
        media.require_video(path)
    except netguard.FetchError as exc:
        raise ApiError(400, "bad_video_url", f"Could not use video_url: {exc}.") from None
    except media.MediaError:
        raise ApiError(400, "bad_video_url", "video_url is not a usable video.") from None
    return path


@api_endpoint("POST")
def stitch_videos(request: HttpRequest) -> JsonResponse:
    data = _valid(StitchForm, request).cleaned_data
    clips_by_id = {str(c.pk): c for c in Clip.objects.visible_to(request.api_user).filter(pk__in=data["video_ids"])}
    missing = [v for v in data["video_ids"] if v not in clips_by_id]
    if missing:
        raise ApiError(404, "not_found", f"No video with id {missing[0]}.", {"missing_video_ids": missing})
    clips = [clips_by_id[v] for v in data["video_ids"]]
    unfinished = [str(c.pk) for c in clips if c.status != JobStatus.SUCCEEDED]
    if unfinished:
        raise ApiError(400, "video_not_ready", "Only finished videos can be stitched.", {"unfinished_video_ids": unfinished})
    track = _owned(AudioTrack, request, data["audio_overlay_id"], "audio track") if data.get("audio_overlay_id") else None
    audio_start = data.get("audio_start") or 0.0
    if track is not None and audio_start >= track.duration:
        raise ApiError(400, "invalid_times", f"audio_start must be below the track length ({track.duration:.3f} s).")
    suppress = data.get("suppress_video_audio")
    stitch = pipeline.request_stitch(owner=request.api_user, clips=clips, audio_track=track, audio_start=audio_start,
                                     suppress_video_audio=(track is not None) if suppress is None else suppress)
    done = waiting.wait_for([stitch], data.get("wait") or 0)
    return JsonResponse(_stitch_json(stitch), status=200 if done else 202)


@api_endpoint("POST")
def retry_video(request: HttpRequest) -> JsonResponse:
    """Run a failed clip again (a new clip with the same inputs); nothing else re-runs."""
    data = _valid(RetryForm, request).cleaned_data
    clip = _owned(Clip, request, data["video_id"], "video")
    try:
        again = pipeline.retry_clip(clip)
    except ValueError as exc:
        raise ApiError(400, "not_failed", str(exc)) from None
    done = waiting.wait_for([again], data.get("wait") or 0)
    return JsonResponse(_clip_json(again), status=200 if done else 202)


@api_endpoint("POST")
def cancel_video(request: HttpRequest) -> JsonResponse:
    """Stop a queued or rendering clip and its prediction; the scene keeps its clip."""
    data = _valid(RetryForm, request).cleaned_data
    clip = _owned(Clip, request, data["video_id"], "video")
    try:
        pipeline.cancel_clip(clip)
    except ValueError as exc:
        raise ApiError(400, "not_active", str(exc)) from None
    return JsonResponse(_clip_json(clip))


def _video(request: HttpRequest, video_id: str) -> Clip | Stitch:
    try:
        return _owned(Clip, request, video_id, "video")
    except ApiError:
        return _owned(Stitch, request, video_id, "video")


@api_endpoint("GET", "HEAD")
def get_video(request: HttpRequest, video_id: str) -> HttpResponse:
    video = _video(request, video_id)
    if not video.file:
        raise ApiError(404, "not_ready", f"Video {video.pk} has no file yet (status: {video.status}).")
    return serve_file(request, video.file, content_type="video/mp4", filename=f"{video.pk}.mp4")


@api_endpoint("GET")
def get_poster(request: HttpRequest, video_id: str) -> HttpResponse:
    clip = _owned(Clip, request, video_id, "video")
    if not clip.poster:
        raise ApiError(404, "not_found", f"Video {clip.pk} has no poster.")
    return serve_file(request, clip.poster, content_type="image/jpeg", filename=f"{clip.pk}.jpg")


@api_endpoint("GET")
def get_video_info(request: HttpRequest, video_id: str) -> JsonResponse:
    video = _video(request, video_id)
    if isinstance(video, Stitch):
        return JsonResponse(_stitch_json(video) | {"kind": "stitch"})
    body = _clip_json(video)
    body["stitch_id"] = str(video.followup_stitch_id) if video.followup_stitch_id else None
    return JsonResponse(body)


@api_endpoint("POST")
def audio_upload(request: HttpRequest) -> JsonResponse:
    form = AudioUploadForm(request.POST, request.FILES)
    if uploads.too_large(request):
        raise ApiError(413, "too_large", uploads.too_large(request))
    if not form.is_valid():
        raise ApiError(400, "validation_error", "Send the song as a multipart field named 'file'.",
                       {k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
    try:
        track = audio.import_upload(request.api_user, form.cleaned_data["file"])
    except audio.AudioTooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    except audio.AudioImportError as exc:
        raise ApiError(400, "not_audio", str(exc)) from None
    return JsonResponse(_track_json(track), status=201)


@api_endpoint("POST")
def audio_download(request: HttpRequest) -> JsonResponse:
    data = _valid(AudioDownloadForm, request).cleaned_data
    try:
        track = audio.import_url(request.api_user, data["url"])
    except audio.AudioTooLarge as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    except audio.AudioImportError as exc:
        raise ApiError(400, "download_failed", str(exc)) from None
    return JsonResponse(_track_json(track), status=201)


@api_endpoint("GET")
def audio_get(request: HttpRequest, audio_id: str) -> HttpResponse:
    track = _owned(AudioTrack, request, audio_id, "audio track")
    return serve_file(request, track.file or track.original, content_type="audio/mp4", filename=f"{track.pk}.m4a")


@api_endpoint("GET")
def audio_waveform(request: HttpRequest, audio_id: str) -> HttpResponse:
    track = _owned(AudioTrack, request, audio_id, "audio track")
    if not track.waveform:
        raise ApiError(404, "not_found", "This track has no waveform picture.")
    return serve_file(request, track.waveform, content_type="image/png", filename=f"{track.pk}.png")


@api_endpoint("POST")
def audio_trim(request: HttpRequest) -> JsonResponse:
    data = _valid(AudioTrimForm, request).cleaned_data
    track = _owned(AudioTrack, request, data["audio_id"], "audio track")
    try:
        trimmed = audio.trim(track, data["start_at"], data.get("end_at"))
    except audio.AudioImportError as exc:
        raise ApiError(400, "invalid_times", str(exc), {"track_duration": track.duration}) from None
    return JsonResponse(_track_json(trimmed) | {"original_audio_id": str(track.pk)}, status=201)


@api_endpoint("POST")
def generate_character_reference(request: HttpRequest) -> JsonResponse:
    data = _valid(CharacterReferenceForm, request).cleaned_data
    flavor = _flavor(data["config_flavor"])
    images = pipeline.request_character_images(owner=request.api_user, flavor=flavor,
                                               description=data["character_description"],
                                               num_images=data.get("num_images") or 4, seed=data.get("seed"))
    done = waiting.wait_for(images, data.get("wait") or 0)
    return JsonResponse({
        "config_flavor": flavor.name,
        "images": [{"id": str(i.pk), "status": i.status, "error": i.error or None,
                    "image_url": reverse("api_get_character_reference", args=[i.pk])} for i in images],
    }, status=200 if done else 202)


@api_endpoint("GET")
def get_character_reference(request: HttpRequest, image_id: str) -> HttpResponse:
    image = _owned(CharacterImage, request, image_id, "character image")
    if not image.file:
        raise ApiError(404, "not_ready", f"Image {image.pk} has no file yet (status: {image.status}).")
    kind = IMAGE_TYPES.get(image.file.name.rsplit(".", 1)[-1].lower(), "image/png")
    return serve_file(request, image.file, content_type=kind, filename=image.file.name.rsplit("/", 1)[-1])


@api_endpoint("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    raise ApiError(404, "not_found", "No such API endpoint or id.")


urlpatterns = [
    path("mv/get_config_flavors", get_config_flavors, name="api_get_config_flavors"),
    path("mv/create_scenes", create_scenes, name="api_create_scenes"),
    path("mv/projects/<str:project_id>", project_detail, name="api_project"),
    path("mv/generate_video", generate_video, name="api_generate_video"),
    path("mv/lipsync", lipsync, name="api_lipsync"),
    path("mv/retry_video", retry_video, name="api_retry_video"),
    path("mv/cancel_video", cancel_video, name="api_cancel_video"),
    path("mv/stitch-videos", stitch_videos, name="api_stitch_videos"),
    path("mv/get_video/<str:video_id>", get_video, name="api_get_video"),
    path("mv/get_video/<str:video_id>/info", get_video_info, name="api_get_video_info"),
    path("mv/get_video/<str:video_id>/poster", get_poster, name="api_get_poster"),
    path("mv/generate_character_reference", generate_character_reference, name="api_generate_character_reference"),
    path("mv/get_character_reference/<str:image_id>", get_character_reference, name="api_get_character_reference"),
    path("audio/upload", audio_upload, name="api_audio_upload"),
    path("audio/download", audio_download, name="api_audio_download"),
    path("audio/get/<str:audio_id>", audio_get, name="api_audio_get"),
    path("audio/waveform/<str:audio_id>", audio_waveform, name="api_audio_waveform"),
    path("audio/trim", audio_trim, name="api_audio_trim"),
    re_path(r"^(?P<rest>.*)$", not_found),
]
