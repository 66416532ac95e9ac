"""The rows that carry a music video from song to final mp4.

Every box in the pipeline is a row with a stable UUID. Nothing generated is ever
overwritten: a regeneration or a lipsync makes a new Clip whose ``parent`` is the old
one, and a scene's ``current_clip`` moves only once the new clip has succeeded.
Progress lives here, never in the task queue, so pages and the API read rows.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.deconstruct import deconstructible


@deconstructible
class GeneratedName:
    """Stored names are generated (uuid + a short extension), never the client's name."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, instance: models.Model, filename: str) -> str:
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
        if not ext.isalnum() or len(ext) > 5:
            ext = "bin"
        return f"{self.prefix}/{uuid.uuid4().hex}.{ext}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeneratedName) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)


audio_original_name = GeneratedName("audio/original")
audio_name = GeneratedName("audio")
waveform_name = GeneratedName("audio/waveforms")
clip_name = GeneratedName("clips")
poster_name = GeneratedName("posters")
stitch_name = GeneratedName("stitches")
image_name = GeneratedName("images")


class OwnedQuerySet(models.QuerySet):
    """Users see only their own rows; superusers see all."""

    owner_path = "owner"

    def visible_to(self, user) -> OwnedQuerySet:
        if not user.is_authenticated:
            return self.none()
        if user.is_superuser:  # staff see only their own rows outside the admin
            return self
        return self.filter(**{self.owner_path: user})


class ProjectQuerySet(OwnedQuerySet):
    def with_summary(self) -> ProjectQuerySet:
        """What the project list shows, in one query: scene and ready-clip counts, the first
        scene's clip as a cover, and the latest finished stitch's length."""
        first_scene = Scene.objects.filter(project=models.OuterRef("pk"), position=0).exclude(current_clip__poster="")
        stitched = Stitch.objects.filter(project=models.OuterRef("pk"), status=JobStatus.SUCCEEDED).order_by("-created_at")
        return self.annotate(
            scene_count=models.Count("scenes", distinct=True),
            ready_count=models.Count("scenes", filter=models.Q(scenes__current_clip__isnull=False), distinct=True),
            cover_clip_id=models.Subquery(first_scene.values("current_clip")[:1], output_field=models.UUIDField()),
            stitch_duration=models.Subquery(stitched.values("duration")[:1]),
        )


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELED = "canceled", "Canceled"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


class JobMixin(models.Model):
    """Status bookkeeping shared by clips, stitches and character images."""

    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    def mark_running(self) -> None:
        self.status = JobStatus.RUNNING
        self.started_at = self.started_at or timezone.now()
        self.save(update_fields=["status", "started_at"])

    def mark_failed(self, error: str) -> None:
        self.status = JobStatus.FAILED
        self.error = error[:2000]
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])

    def mark_canceled(self, error: str = "canceled") -> None:
        self.status = JobStatus.CANCELED
        self.error = error[:2000]
        self.finished_at = timezone.now()
        self.save(update_fields=["status", "error", "finished_at"])


class AudioTrack(models.Model):
    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded file"
        URL = "url", "Downloaded from a URL"
        TRIM = "trim", "Trimmed from another track"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audio_tracks")
    title = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.UPLOAD)
    source_url = models.URLField(max_length=2000, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="trims")
    trim_start = models.FloatField(default=0.0)
    trim_end = models.FloatField(null=True, blank=True)
    # The file as received (lossless source for lipsync slices) and an AAC copy made
    # once on arrival, so every stitch can stream-copy the song instead of re-encoding.
    original = models.FileField(upload_to=audio_original_name, max_length=300)
    file = models.FileField(upload_to=audio_name, max_length=300, blank=True)
    waveform = models.FileField(upload_to=waveform_name, max_length=300, blank=True)
    duration = models.FloatField(default=0.0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or str(self.id)

    @property
    def audio_id(self) -> str:
        return str(self.id)

    def accepts_start(self, seconds: float) -> bool:
        """Whether a video can start this far into the song (some of it must be left)."""
        return 0 <= seconds < max(self.duration, 0.001)

    def get_absolute_url(self) -> str:
        return reverse("api_audio_get", args=[self.id])


class CharacterImage(JobMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="character_images")
    description = models.TextField()
    prompt = models.TextField(blank=True)
    input = models.JSONField(default=dict, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    model = models.CharField(max_length=200, blank=True)
    config_flavor = models.CharField(max_length=64, default="default")
    prediction_id = models.CharField(max_length=100, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    poll_token = models.UUIDField(null=True, blank=True, editable=False)  # which poll chain advances it (as clips)
    file = models.FileField(upload_to=image_name, max_length=300, blank=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Character image {self.id}"

    def get_absolute_url(self) -> str:
        return reverse("api_get_character_reference", args=[self.id])


class Project(models.Model):
    class Mode(models.TextChoices):
        MUSIC_VIDEO = "music_video", "Music Video"
        AD_CREATIVE = "ad_creative", "Ad Creative"

    class ScenesStatus(models.TextChoices):
        NEW = "new", "Not started"
        WRITING = "writing", "Writing scenes"
        READY = "ready", "Scenes ready"
        FAILED = "failed", "Scene writing failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.MUSIC_VIDEO)
    video_description = models.TextField()
    character_description = models.TextField(blank=True)
    character_image = models.ForeignKey(
        CharacterImage, null=True, blank=True, on_delete=models.SET_NULL, related_name="projects"
    )
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.PROTECT, related_name="projects")
    audio_start = models.FloatField(default=0.0)
    config_flavor = models.CharField(max_length=64, default="default")
    # Scene-writing overrides (blank = the flavor's value).
    number_of_scenes = models.PositiveSmallIntegerField(null=True, blank=True)
    scene_parameters = models.JSONField(default=dict, blank=True)
    scenes_status = models.CharField(max_length=16, choices=ScenesStatus.choices, default=ScenesStatus.NEW)
    scenes_error = models.TextField(blank=True)
    # The scene writer's prediction while the scenes are written (started, then polled like
    # a clip's; see pipeline.PREDICTION_FIELDS), and which poll chain may advance it.
    scenes_started_at = models.DateTimeField(null=True, blank=True)
    scenes_prediction_id = models.CharField(max_length=100, blank=True)
    scenes_deadline_at = models.DateTimeField(null=True, blank=True)
    scenes_poll_token = models.UUIDField(null=True, blank=True, editable=False)
    # True once the automatic "all clips, then stitch" run has been started, so a
    # reload never starts paid work again.
    autorun_started = models.BooleanField(default=False)
    auto_stitch_done = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        text = " ".join(self.video_description.split())
        return text[:60] + ("…" if len(text) > 60 else "")

    def get_absolute_url(self) -> str:
        return reverse("quick_gen", args=[self.id])

    @property
    def is_finished(self) -> bool:
        """Scene writing is done (either way): what the API's `wait` waits for."""
        return self.scenes_status != self.ScenesStatus.WRITING


class Scene(models.Model):
    class PromptStatus(models.TextChoices):
        READY = "ready", "Ready"
        WRITING = "writing", "Rewriting"
        FAILED = "failed", "Rewrite failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="scenes")
    position = models.PositiveSmallIntegerField()
    description = models.TextField()
    negative_description = models.TextField(blank=True)
    prompt_status = models.CharField(max_length=16, choices=PromptStatus.choices, default=PromptStatus.READY)
    prompt_error = models.TextField(blank=True)
    # The scene writer's prediction while this one prompt is rewritten (as the project's).
    prompt_started_at = models.DateTimeField(null=True, blank=True)
    prompt_prediction_id = models.CharField(max_length=100, blank=True)
    prompt_deadline_at = models.DateTimeField(null=True, blank=True)
    prompt_poll_token = models.UUIDField(null=True, blank=True, editable=False)
    current_clip = models.ForeignKey(
        "Clip", null=True, blank=True, on_delete=models.SET_NULL, related_name="current_for"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "position"]
        constraints = [models.UniqueConstraint(fields=["project", "position"], name="scene_unique_position")]

    def __str__(self) -> str:
        return f"Scene {self.position + 1} of {self.project_id}"

    @property
    def number(self) -> int:
        return self.position + 1


class VideoMixin:
    """Clips and stitches are both "videos" to the API: one id space, one media URL."""

    id: uuid.UUID

    @property
    def video_id(self) -> str:
        return str(self.id)

    @property
    def video_url(self) -> str:
        return reverse("api_get_video", args=[self.id])

    def get_absolute_url(self) -> str:
        return self.video_url


class ClipQuerySet(OwnedQuerySet):
    def stuck(self) -> ClipQuerySet:
        return self.filter(status__in=ACTIVE_STATUSES)


class Clip(VideoMixin, JobMixin):
    class Kind(models.TextChoices):
        GENERATED = "generated", "Generated"
        LIPSYNC = "lipsync", "Lipsync"
        UPLOADED = "uploaded", "Uploaded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the API's video_id
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    scene = models.ForeignKey(Scene, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.GENERATED, db_index=True)
    provider = models.CharField(max_length=32, blank=True, db_index=True)
    model = models.CharField(max_length=200, blank=True)
    prompt = models.TextField(blank=True)
    negative_prompt = models.TextField(blank=True)
    input = models.JSONField(default=dict, blank=True)  # exactly what was sent to the model
    config_flavor = models.CharField(max_length=64, default="default", db_index=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    audio_start = models.FloatField(null=True, blank=True)
    audio_end = models.FloatField(null=True, blank=True)
    prediction_id = models.CharField(max_length=100, blank=True, db_index=True)
    # Whether this clip becomes its scene's current clip when it succeeds (a lipsync of
    # an old clip from the history does not replace the current one).
    promote_on_success = models.BooleanField(default=True)
    audio_slice = models.FileField(upload_to=GeneratedName("slices"), max_length=300, blank=True)  # what lipsync was sent
    followup_stitch = models.ForeignKey(
        "Stitch", null=True, blank=True, on_delete=models.SET_NULL, related_name="triggered_by"
    )  # the re-stitch a successful lipsync started
    deadline_at = models.DateTimeField(null=True, blank=True)
    # Which poll chain may advance this clip: recovery starts a new chain with a new token,
    # and any older chain still queued ends at its next step, so a clip is polled by one.
    poll_token = models.UUIDField(null=True, blank=True, editable=False)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, from the provider's logs
    file = models.FileField(upload_to=clip_name, max_length=300, blank=True)
    poster = models.FileField(upload_to=poster_name, max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True)
    predict_time = models.FloatField(null=True, blank=True)

    objects = ClipQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} clip {self.id}"



class Stitch(VideoMixin, JobMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # the API's video_id
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stitches")
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="stitches")
    clips = models.ManyToManyField(Clip, through="StitchItem", related_name="stitches")
    audio_track = models.ForeignKey(AudioTrack, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    audio_start = models.FloatField(default=0.0)
    suppress_video_audio = models.BooleanField(default=True)
    file = models.FileField(upload_to=stitch_name, max_length=300, blank=True)
    duration = models.FloatField(null=True, blank=True)
    num_clips = models.PositiveIntegerField(default=0)
    reencoded_clips = models.PositiveIntegerField(default=0)  # clips normalised before the copy concat

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "stitches"

    def __str__(self) -> str:
        return f"Stitch {self.id}"


    def ordered_clips(self) -> list[Clip]:
        return [item.clip for item in self.items.select_related("clip").order_by("position")]


class StitchItem(models.Model):
    stitch = models.ForeignKey(Stitch, on_delete=models.CASCADE, related_name="items")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="stitch_items")
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["stitch", "position"]
        constraints = [models.UniqueConstraint(fields=["stitch", "position"], name="stitch_item_unique_position")]


class ApiKey(models.Model):
    """A user's key for the X-API-Key header. Only its hash is kept: the key itself is shown
    once, when ``manage.py mv_api_key create`` makes it. The prefix finds the row."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


__all__ = [
    "ACTIVE_STATUSES",
    "ApiKey",
    "FINISHED_STATUSES",
    "AudioTrack",
    "CharacterImage",
    "Clip",
    "JobStatus",
    "Project",
    "Scene",
    "Stitch",
    "StitchItem",
]
