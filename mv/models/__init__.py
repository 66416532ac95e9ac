"""The rows that carry a music video from song to final mp4 (one module per concern).

Every box in the pipeline is a row with a stable UUID; every paid job is a row of one
abstract model, ``Prediction``. Progress lives here, never in the task queue, so pages
and the API read rows.
"""

from mv.models.apikeys import ApiKey
from mv.models.audio import AudioTrack, LyricsTranscription, StructureAnalysis, check_range
from mv.models.base import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    GeneratedName,
    Job,
    JobStatus,
    OwnedQuerySet,
    Prediction,
)
from mv.models.clips import CharacterImage, Clip, Stitch, StitchItem, VideoMixin
from mv.models.projects import Project, ProjectQuerySet
from mv.models.scenes import Scene, SceneWriting
from mv.models.webhooks import WebhookDelivery

__all__ = [
    "ACTIVE_STATUSES",
    "ApiKey",
    "FINISHED_STATUSES",
    "AudioTrack",
    "CharacterImage",
    "Clip",
    "GeneratedName",
    "Job",
    "JobStatus",
    "LyricsTranscription",
    "StructureAnalysis",
    "OwnedQuerySet",
    "Prediction",
    "Project",
    "ProjectQuerySet",
    "Scene",
    "SceneWriting",
    "Stitch",
    "StitchItem",
    "VideoMixin",
    "WebhookDelivery",
    "check_range",
]
