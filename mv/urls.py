"""Page and HTMX partial URLs, each to its page's views module (the JSON API lives in mv.api)."""

from django.urls import path

from mv import cost_views, create_views, poll_views, project_views, song_views, timeline_views, views

urlpatterns = [
    path("", project_views.project_list, name="project_list"),
    path("create/", create_views.create, name="create"),
    path("create/submit/", create_views.create_submit, name="create_submit"),
    path("create/audio/upload/", create_views.create_audio_upload, name="create_audio_upload"),
    path("create/audio/url/", create_views.create_audio_url, name="create_audio_url"),
    path("create/audio/generate/", create_views.create_audio_generate, name="create_audio_generate"),
    path("create/audio/", create_views.create_music_source, name="create_music_source"),
    path("songs/<uuid:pk>/status/", song_views.song_status, name="song_status"),
    path("songs/<uuid:pk>/lyrics/", song_views.song_lyrics, name="song_lyrics"),
    path("create/characters/", create_views.create_character_images, name="create_character_images"),
    path("create/characters/status/", create_views.character_images, name="character_images"),
    path("create/estimate/", cost_views.create_estimate, name="create_estimate"),
    path("quick-gen/<uuid:pk>/", views.quick_gen, name="quick_gen"),
    path("quick-gen/<uuid:pk>/flavor/", views.change_flavor, name="change_flavor"),
    path("quick-gen/<uuid:pk>/style/", views.change_style, name="change_style"),
    path("quick-gen/<uuid:pk>/restitch/", views.restitch, name="restitch"),
    path("quick-gen/<uuid:pk>/stop/", cost_views.project_stop, name="project_stop"),
    path("quick-gen/<uuid:pk>/rename/", project_views.project_rename, name="project_rename"),
    path("quick-gen/<uuid:pk>/duplicate/", project_views.project_duplicate, name="project_duplicate"),
    path("quick-gen/<uuid:pk>/delete/", project_views.project_delete, name="project_delete"),
    path("quick-gen/<uuid:pk>/bring-up-to-date/", timeline_views.project_refresh, name="project_refresh"),
    path("scenes/<uuid:pk>/split/", timeline_views.scene_split, name="scene_split"),
    path("scenes/<uuid:pk>/duplicate/", timeline_views.scene_duplicate, name="scene_duplicate"),
    path("scenes/<uuid:pk>/delete/", timeline_views.scene_delete, name="scene_delete"),
    path("scenes/<uuid:pk>/move/", timeline_views.scene_move, name="scene_move"),
    path("scenes/<uuid:pk>/boundary/", timeline_views.scene_boundary, name="scene_boundary"),
    path("scenes/<uuid:pk>/prompt/", views.scene_prompt, name="scene_prompt"),
    path("scenes/<uuid:pk>/prompt/status/", views.scene_prompt_status, name="scene_prompt_status"),
    path("scenes/<uuid:pk>/rewrite/", views.scene_rewrite, name="scene_rewrite"),
    path("scenes/<uuid:pk>/regenerate/", views.scene_regenerate, name="scene_regenerate"),
    path("scenes/<uuid:pk>/upload-clip/", views.scene_upload_clip, name="scene_upload_clip"),
    path("scenes/<uuid:pk>/clip/status/", poll_views.clip_status, name="clip_status"),
    path("clips/<uuid:pk>/retry/", views.clip_retry, name="clip_retry"),
    path("clips/<uuid:pk>/cancel/", views.clip_cancel, name="clip_cancel"),
    path("clips/<uuid:pk>/make-current/", views.clip_make_current, name="clip_make_current"),
]
