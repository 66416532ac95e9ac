"""The admin: inspect projects, scenes and clips (player, poster, lineage, errors)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from mv import costs
from mv.models import (
    ApiKey,
    AudioTrack,
    CharacterImage,
    Clip,
    LyricsTranscription,
    Project,
    Scene,
    SceneWriting,
    SongGeneration,
    Stitch,
    StitchItem,
)
from mv.pipeline import spending

admin.site.site_header = admin.site.site_title = "MV Studio admin"


def _video(obj) -> str:
    if not obj.file:
        return "—"
    return format_html('<video controls preload="metadata" width="360" src="{}"></video>',
                       reverse("api_get_video", args=[obj.pk]))


def _link(obj) -> str:
    if obj is None:
        return "—"
    url = reverse(f"admin:mv_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, obj)


class SceneInline(admin.TabularInline):
    model = Scene
    extra = 0
    fields = ("position", "description", "start", "end", "current_clip")
    readonly_fields = ("current_clip",)
    show_change_link = True


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "config_flavor", "scenes_status", "spent", "created_at")
    list_filter = ("config_flavor", "mode")
    search_fields = ("video_description", "character_description", "id")
    readonly_fields = ("id", "created_at", "updated_at", "autorun_started", "auto_stitch_done")
    inlines = [SceneInline]
    change_list_template = "admin/mv/project/change_list.html"  # links to the spend per user per day

    def get_queryset(self, request):
        return super().get_queryset(request).with_spend()

    @admin.display(description="Spent", ordering="spend")
    def spent(self, obj: Project) -> str:
        return costs.format_usd(obj.spend_usd)

    def get_urls(self):
        spend = path("spend/", self.admin_site.admin_view(self.spend_view), name="mv_spend_by_user_and_day")
        return [spend, *super().get_urls()]

    def spend_view(self, request: HttpRequest) -> HttpResponse:
        """Spend per user per UTC day (every kind of prediction), for the operators."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "title": "Spend per user per day (UTC)",
                   "rows": spending.spend_by_user_and_day(), "opts": self.model._meta}
        return TemplateResponse(request, "admin/mv/spend.html", context)


@admin.register(Scene)
class SceneAdmin(admin.ModelAdmin):
    list_display = ("__str__", "project", "position", "start", "end", "current_clip")
    readonly_fields = ("id", "current_clip")


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    # Narrow enough for a laptop: provider and flavor are filters on the right.
    list_display = ("thumbnail", "short_id", "project_title", "scene_number", "kind", "status", "seconds",
                    "created_at")
    list_display_links = ("thumbnail", "short_id")
    list_select_related = ("scene__project",)
    list_filter = ("status", "kind", "provider", "config_flavor")
    search_fields = ("id", "prediction_id", "prompt", "error")
    readonly_fields = ("id", "player", "poster_image", "lineage", "input_pretty", "owner", "scene", "kind", "provider",
                       "model", "prompt", "negative_prompt", "config_flavor", "parent", "audio_track", "audio_start",
                       "audio_end", "status", "error", "prediction_id", "deadline_at", "progress", "file", "poster",
                       "audio_slice", "duration", "predict_time", "created_at", "started_at", "finished_at",
                       "followup_stitch", "promote_on_success")
    exclude = ("input",)

    def has_add_permission(self, request) -> bool:
        """Clips come from the models (or an import through the API), never from a blank form."""
        return False

    @admin.display(description="")
    def thumbnail(self, obj: Clip) -> str:
        if not obj.poster:
            return format_html('<span class="mv-thumb-empty">{}</span>', obj.get_status_display())
        return format_html('<img class="mv-thumb" src="{}" width="96" height="54" loading="lazy" alt="">',
                           reverse("api_get_poster", args=[obj.pk]))  # a portrait poster shown whole (mv/admin.css)

    @admin.display(description="Length", ordering="duration")
    def seconds(self, obj: Clip) -> str:
        return "—" if obj.duration is None else f"{obj.duration:.2f} s"

    @admin.display(description="Id", ordering="id")
    def short_id(self, obj: Clip) -> str:
        return format_html('<code title="{}">{}</code>', obj.pk, str(obj.pk)[:8])

    @admin.display(description="Project", ordering="scene__project__video_description")
    def project_title(self, obj: Clip) -> str:
        return obj.scene.project.title if obj.scene else "—"

    @admin.display(description="Scene", ordering="scene__position")
    def scene_number(self, obj: Clip) -> str:
        return str(obj.scene.number) if obj.scene else "—"

    @admin.display(description="Video")
    def player(self, obj: Clip) -> str:
        return _video(obj)

    @admin.display(description="Poster")
    def poster_image(self, obj: Clip) -> str:
        if not obj.poster:
            return "—"
        return format_html('<img src="{}" width="240" alt="poster">', reverse("api_get_poster", args=[obj.pk]))

    @admin.display(description="Lineage")
    def lineage(self, obj: Clip) -> str:
        children = format_html_join(", ", "{}", ((_link(c),) for c in obj.children.all()))
        return format_html("parent: {}<br>children: {}", _link(obj.parent), children or "—")

    @admin.display(description="Input sent")
    def input_pretty(self, obj: Clip) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.input, indent=2, sort_keys=True))


class StitchItemInline(admin.TabularInline):
    model = StitchItem
    extra = 0
    readonly_fields = ("clip", "position")
    can_delete = False


@admin.register(Stitch)
class StitchAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "status", "num_clips", "duration", "created_at")
    list_filter = ("status",)
    readonly_fields = ("id", "player", "owner", "project", "audio_track", "audio_start", "suppress_video_audio", "status",
                       "error", "file", "duration", "num_clips", "reencoded_clips", "created_at", "started_at",
                       "finished_at")
    inlines = [StitchItemInline]

    @admin.display(description="Video")
    def player(self, obj: Stitch) -> str:
        return _video(obj)


@admin.register(AudioTrack)
class AudioTrackAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "source", "duration", "analysis_status", "lyrics_source", "created_at")
    list_filter = ("source", "analysis_status", "lyrics_source")
    readonly_fields = ("id", "player", "original", "file", "waveform", "duration", "parent", "created_at",
                       "analysis_status", "analysis_error", "analysis")

    @admin.display(description="Listen")
    def player(self, obj: AudioTrack) -> str:
        return format_html('<audio controls src="{}"></audio>', reverse("api_audio_get", args=[obj.pk]))


@admin.register(CharacterImage)
class CharacterImageAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "status", "config_flavor", "created_at")
    list_filter = ("status", "provider", "config_flavor")
    readonly_fields = ("id", "picture", "prompt", "input", "status", "error", "file", "prediction_id")

    @admin.display(description="Image")
    def picture(self, obj: CharacterImage) -> str:
        if not obj.file:
            return "—"
        return format_html('<img src="{}" width="200" alt="">', reverse("api_get_character_reference", args=[obj.pk]))


@admin.register(SceneWriting)
class SceneWritingAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "provider", "config_flavor", "created_at")
    list_filter = ("status", "provider", "config_flavor")
    readonly_fields = ("id", "project", "scene", "provider", "model", "input", "prediction_id", "status", "error",
                       "text", "number_of_scenes", "created_at", "started_at", "finished_at", "deadline_at")


@admin.register(LyricsTranscription)
class LyricsTranscriptionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "provider", "created_at")
    list_filter = ("status", "provider")
    readonly_fields = ("id", "track", "provider", "model", "input", "prediction_id", "status", "error", "text",
                       "created_at", "started_at", "finished_at", "deadline_at")


@admin.register(SongGeneration)
class SongGenerationAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "provider", "duration", "created_at")
    list_filter = ("status", "provider")
    readonly_fields = ("id", "track", "prompt", "lyrics", "duration", "provider", "model", "input", "prediction_id",
                       "status", "error", "estimated_cost_usd", "cost_usd", "created_at", "started_at", "finished_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made with `manage.py mv_api_key create` (the only time a key is shown); here
    they are seen and revoked."""

    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            key.revoke()
        self.message_user(request, f"Revoked {queryset.count()} key(s).")
