"""The JSON API's URLs under /api/: mv.api's endpoints and its timeline edits (mv.timeline_api),
in one list, so that the pattern answering every other path is last by construction."""

from __future__ import annotations

from django.urls import path, re_path

from mv.api import (
    audio_analysis,
    audio_download,
    audio_get,
    audio_lyrics,
    audio_trim,
    audio_upload,
    audio_waveform,
    cancel_video,
    create_scenes,
    generate_character_reference,
    generate_video,
    get_character_reference,
    get_config_flavors,
    get_director_styles,
    get_poster,
    get_video,
    get_video_info,
    lipsync,
    not_found,
    project_detail,
    project_restitch,
    project_stop,
    retry_video,
    stitch_videos,
)
from mv.export_api import export_edl, export_fcpxml, export_otio, export_zip
from mv.footage_api import upload_clip
from mv.song_api import audio_generate, audio_generation
from mv.timeline_api import (
    bring_up_to_date,
    delete_scene,
    duplicate_scene,
    move_boundary,
    move_scene,
    split_scene,
)

urlpatterns = [
    path("mv/get_config_flavors", get_config_flavors, name="api_get_config_flavors"),
    path("mv/get_director_styles", get_director_styles, name="api_get_director_styles"),
    path("mv/create_scenes", create_scenes, name="api_create_scenes"),
    path("mv/projects/<uuid:project_id>", project_detail, name="api_project"),
    path("mv/projects/<uuid:project_id>/stop", project_stop, name="api_project_stop"),
    path("mv/projects/<uuid:project_id>/restitch", project_restitch, name="api_project_restitch"),
    path("mv/projects/<uuid:project_id>/export.otio", export_otio, name="api_export_otio"),
    path("mv/projects/<uuid:project_id>/export.fcpxml", export_fcpxml, name="api_export_fcpxml"),
    path("mv/projects/<uuid:project_id>/export.edl", export_edl, name="api_export_edl"),
    path("mv/projects/<uuid:project_id>/export.zip", export_zip, name="api_export_zip"),
    path("mv/generate_video", generate_video, name="api_generate_video"),
    path("mv/lipsync", lipsync, name="api_lipsync"),
    path("mv/retry_video", retry_video, name="api_retry_video"),
    path("mv/cancel_video", cancel_video, name="api_cancel_video"),
    path("mv/stitch-videos", stitch_videos, name="api_stitch_videos"),
    path("mv/get_video/<uuid:video_id>", get_video, name="api_get_video"),
    path("mv/get_video/<uuid:video_id>/info", get_video_info, name="api_get_video_info"),
    path("mv/get_video/<uuid:video_id>/poster", get_poster, name="api_get_poster"),
    path("mv/generate_character_reference", generate_character_reference, name="api_generate_character_reference"),
    path("mv/get_character_reference/<uuid:image_id>", get_character_reference, name="api_get_character_reference"),
    path("audio/upload", audio_upload, name="api_audio_upload"),
    path("audio/download", audio_download, name="api_audio_download"),
    path("audio/generate", audio_generate, name="api_audio_generate"),
    path("audio/generate/<uuid:song_id>", audio_generation, name="api_audio_generation"),
    path("audio/get/<uuid:audio_id>", audio_get, name="api_audio_get"),
    path("audio/waveform/<uuid:audio_id>", audio_waveform, name="api_audio_waveform"),
    path("audio/trim", audio_trim, name="api_audio_trim"),
    path("audio/<uuid:audio_id>/analysis", audio_analysis, name="api_audio_analysis"),
    path("audio/<uuid:audio_id>/lyrics", audio_lyrics, name="api_audio_lyrics"),
    # the timeline edits (mv.timeline_api)
    path("mv/scenes/<uuid:scene_id>/split", split_scene, name="api_scene_split"),
    path("mv/scenes/<uuid:scene_id>/duplicate", duplicate_scene, name="api_scene_duplicate"),
    path("mv/scenes/<uuid:scene_id>/delete", delete_scene, name="api_scene_delete"),
    path("mv/scenes/<uuid:scene_id>/move", move_scene, name="api_scene_move"),
    path("mv/scenes/<uuid:scene_id>/boundary", move_boundary, name="api_scene_boundary"),
    path("mv/scenes/<uuid:scene_id>/upload_clip", upload_clip, name="api_scene_upload_clip"),
    path("mv/projects/<uuid:project_id>/bring_up_to_date", bring_up_to_date,
         name="api_project_bring_up_to_date"),
    # last: every other path under /api/ answers a JSON 404
    re_path(r"^(?P<rest>.*)$", not_found),
]
