"""The rows that carry a music video from song to final mp4 (one module per concern).

Every box in the pipeline is a row with a stable UUID; every paid job is a row of one
abstract model, ``Prediction``. Progress lives here, never in the task queue, so pages
and the API read rows.
"""

from mv.models.apikeys import ApiKey
from mv.models.audio import AudioTrack, check_range
from mv.models.base import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    GeneratedName,
    Job,
    JobStatus,
    OwnedQuerySet,
    Prediction,
    get_owned,
)
from mv.models.characters import Character, CharacterImage
from mv.models.clips import Clip, Stitch, StitchItem, VideoMixin
from mv.models.frames import StartFrame
from mv.models.listening import LyricsTranscription, StructureAnalysis
from mv.models.parts import ClipPart
from mv.models.projects import Project, ProjectQuerySet
from mv.models.scenes import Scene, SceneWriting
from mv.models.stems import VocalStem
from mv.models.songs import SongGeneration
from mv.models.webhooks import WebhookDelivery

__all__ = [
    "ACTIVE_STATUSES",
    "ApiKey",
    "FINISHED_STATUSES",
    "AudioTrack",
    "Character",
    "CharacterImage",
    "Clip",
    "ClipPart",
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
    "StartFrame",
    "SongGeneration",
    "Stitch",
    "StitchItem",
    "VideoMixin",
    "VocalStem",
    "WebhookDelivery",
    "check_range",
    "get_owned",
]
