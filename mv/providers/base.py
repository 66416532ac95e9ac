"""The provider interface: what MV Studio needs from a model host.

Two implementations: ``replicate`` (the real models) and ``local`` (an offline ffmpeg
renderer, honest about what it is). Jobs on a model (scene writing, character images,
clips, lipsync) are started and then polled, so a worker never sits waiting and a
restarted worker resumes from the stored prediction id instead of paying for a new
prediction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from mv import flavors
from mv.flavors import Flavor


class ProviderError(Exception):
    """One error type for every provider failure. ``permanent`` is True when asking again
    cannot help (a content-policy refusal, junk JSON from the LLM, a bad token) and False
    for passing trouble (a 429, a dropped connection), where a running job is polled again."""

    def __init__(self, message: str, *, permanent: bool = True, maybe_created: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        # A create that ended without an answer after it was sent: the provider may hold the
        # prediction, so the row is reconciled (found by its start key) instead of failed.
        self.maybe_created = maybe_created


# Told the key of a create just before it is sent (mv.jobs records it on the row; it may
# refuse, and then nothing is sent). Unset outside a start.
_on_sending: ContextVar[Callable[[str], None] | None] = ContextVar("mv_on_sending", default=None)


@contextlib.contextmanager
def sending_to(callback: Callable[[str], None]) -> Iterator[None]:
    """Inside, every create announces its key to ``callback`` before it is sent."""
    reset = _on_sending.set(callback)
    try:
        yield
    finally:
        _on_sending.reset(reset)


def announce(key: str) -> None:
    """Called by a provider right before it sends a create (raises to stop the create)."""
    callback = _on_sending.get()
    if callback is not None:
        callback(key)


def start_key(model: str, data: Any) -> str:
    """The key of a create: a digest of the model and its whole input, files by the SHA-256
    of their bytes. The provider keeps the input of every prediction and lists it, so the
    same digest of a listed prediction finds it again. Two creates with the same key asked
    for the same thing, so either one serves either row."""
    text = json.dumps({"model": model.partition(":")[0], "input": data}, sort_keys=True, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class WebhookRejected(Exception):
    """A webhook delivery that is not provably the provider's, fresh, and about one prediction."""


class WebhookUnreadable(WebhookRejected):
    """A delivery signed by the provider whose body is no prediction we can read (not JSON,
    nested past any sane depth, not the shape of a prediction): a 400, not a 401."""


@dataclass(frozen=True)
class SceneRequest:
    """Everything the scene-writing LLM is given (flavor defaults already applied)."""

    idea: str
    character_description: str
    character_characteristics: str
    number_of_scenes: int
    video_type: str
    video_characteristics: str
    camera_angle: str
    mode: str = "music_video"
    scene_plan: str = ""  # one line per scene (mv.planning.plan_text): times, section, energy, lyrics
    director_style: str = ""  # the project's director style as the writer reads it (mv.styles); "" for none

    def prompt(self, template: str) -> str:
        """The flavor's template filled in; a director style reaches the writer even through a
        template that has no ``{director_style}`` placeholder."""
        values = self.__dict__ | {"director_style": self.director_style or "none: follow the look and feel above"}
        text = template.format(**values)
        if self.director_style and "director_style" not in flavors.placeholders(template):
            text += f"\n\nDirector's style, for every scene:\n{self.director_style}"
        return text


@dataclass(frozen=True)
class SceneSpec:
    description: str
    negative_description: str = ""


@dataclass(frozen=True)
class ClipRequest:
    prompt: str  # the full prompt (rules template appended by the pipeline)
    negative_prompt: str = ""
    aspect_ratio: str = "16:9"
    duration: float = 8  # seconds (a whole number unless a timeline edit asked for a slot's exact length)
    generate_audio: bool = True
    seed: int | None = None
    reference_image: Path | None = None  # sent as reference_images (where takes_reference_image)
    start_image: Path | None = None  # the first frame (a start frame, or the previous shot's last frame)
    label: str = ""  # e.g. "Scene 3": shown by the local renderer
    footage: Path | None = None  # your own video, to fit (mv.providers.footage)
    footage_format: dict[str, Any] | None = None  # the project's clips' video facts, to match when fitting
    fit: bool = True  # cut or hold the footage to ``duration`` (False: keep its own length)


@dataclass(frozen=True)
class StartFrameRequest:
    """A scene's first frame made from the character's picture and the scene's prompt."""

    reference: Path
    prompt: str
    aspect_ratio: str


@dataclass(frozen=True)
class MusicRequest:
    """A song to make when the user has none (the flavor's ``music_model``)."""

    prompt: str  # style, mood, instruments
    duration: float  # seconds
    lyrics: str = ""  # the words, when given (a model that sings may use them)
    seed: int | None = None


@dataclass(frozen=True)
class LipsyncRequest:
    video: Path
    audio: Path  # the exact slice of the song, already cut (WAV)
    temperature: float | None = None
    occlusion_detection_enabled: bool | None = None
    active_speaker_detection: bool | None = None


_MODEL_KEYS = {"image": "model", "video": "video_model", "lipsync": "lipsync_model", "scenes": "scene_model",
               "lyrics": "lyrics_model", "start_frame": "start_frame_model", "stems": "stems_model",
               "analysis": "analysis_model", "music": "music_model"}
NO_START_FRAMES = "start frames: this provider has no image-editing model"
NO_STEMS = "vocals: this provider has no source-separation model"
NO_LYRICS = "lyrics: not available offline"
NO_STRUCTURE = "The song's structure is heard by a model only online; the local analysis is used."
NO_MUSIC = "This provider has no music model: upload a song or paste a URL instead."

JobState = Literal["running", "succeeded", "failed", "canceled"]


@dataclass
class JobUpdate:
    """Where a long job stands after ``start_*`` or ``poll``."""

    state: JobState
    prediction_id: str = ""
    model: str = ""
    input: dict[str, Any] = field(default_factory=dict)  # exactly what was sent
    output_path: Path | None = None  # a local file holding the result, once succeeded
    text: str | None = None  # a text job's whole output (the scene writer's), once succeeded
    output: Any = None  # a JSON job's output (a transcription's segments), once succeeded
    error: str = ""
    progress: int = 0
    predict_time: float | None = None
    # What the provider reports the job used, once finished (Replicate's ``metrics``:
    # predict_time, and token counts for language models): the ledger's evidence.
    metrics: dict[str, Any] = field(default_factory=dict)


class Provider(ABC):
    """What the pipeline may ask of a provider is said by these attributes, never by
    checking its name."""

    name: str = ""
    label: str = ""  # shown in the UI, e.g. "Local preview renderer (offline)"
    renders_locally: bool = False  # free work on this machine: labelled as a preview, restarted after a crash
    limits_concurrency: bool = False  # running predictions count toward MV_MAX_CONCURRENT_PREDICTIONS
    transcribes_lyrics: bool = False  # has a lyrics model (start_lyrics / poll_lyrics)
    analyses_structure: bool = False  # runs a song-structure model (start_structure / poll_structure)
    makes_music: bool = False  # has a music model (start_music)
    paid: bool = True  # whether its work is billed (priced by mv.costs from the flavor's pricing)
    pushes_updates: bool = False  # tells us when a prediction finishes (webhooks): polling is a slow fallback
    polls_per_second: float | None = None  # the polls all running predictions may share (None: no limit)
    # Can find a prediction by its start key (``find_started``): a start cut off mid-way is
    # then reconciled. A provider whose jobs live in the worker process (local) has none to find.
    lists_predictions: bool = False

    def find_started(self, key: str, since: datetime, taken: Container[str] = ()) -> str | None:
        """The id of a prediction created with ``key`` at or after ``since`` that is not in
        ``taken`` (ids other rows hold), or None when the provider shows none. Raises
        ProviderError (not permanent) when it cannot tell now."""
        return None

    def pushed(self, prediction_id: str, payload: dict) -> contextlib.AbstractContextManager[None]:
        """Inside, a poll of ``prediction_id`` reads ``payload`` (what the provider pushed to
        us) instead of asking the provider again."""
        return contextlib.nullcontext()

    def read_webhook(self, headers: dict[str, str], body: bytes) -> tuple[str, dict]:
        """(delivery id, prediction) of a webhook proven to be this provider's; else
        WebhookRejected."""
        raise WebhookRejected("this provider sends no webhooks")

    def takes_reference_image(self, aspect_ratio: str, duration: float, flavor: Flavor | None = None) -> bool:
        """Whether a clip of this shape (by the flavor's video model, where given) can be
        steered by a character reference image."""
        return True

    def takes_start_frame(self, flavor: Flavor) -> bool:
        """Whether the flavor's video model takes a first frame (``image``)."""
        return False

    def makes_start_frames(self, flavor: Flavor) -> bool:
        """Whether start frames can be made (an image-editing model: ``start_frame_model``)."""
        return False

    def separates_stems(self, flavor: Flavor) -> bool:
        """Whether a song can be separated into stems (``stems_model``) for lipsync's vocals."""
        return False

    def start_start_frame(self, flavor: Flavor, request: StartFrameRequest, *, workdir: Path) -> JobUpdate:
        """Start making a scene's first frame (only where ``makes_start_frames``)."""
        raise ProviderError(NO_START_FRAMES)

    def start_stems(self, flavor: Flavor, audio: Path, *, workdir: Path) -> JobUpdate:
        """Start separating a song (only where ``separates_stems``)."""
        raise ProviderError(NO_STEMS)

    def poll_stems(self, prediction_id: str, *, workdir: Path, stem: str = "vocals") -> JobUpdate:
        """Check a separation; on success ``output_path`` is the ``stem`` (as the model names it)."""
        raise ProviderError(NO_STEMS)

    def model_for(self, flavor: Flavor, job: str) -> str:
        """The model name recorded on a row before it starts (``job``: image, video, lipsync)."""
        return flavor.get("image_params", _MODEL_KEYS[job], used_in=f"mv.providers.base.Provider.model_for: {job} model")

    @abstractmethod
    def start_scenes(self, flavor: Flavor, request: SceneRequest) -> JobUpdate:
        """Start the scene writer (a finished one, with its ``text``, when written at once)."""

    @abstractmethod
    def poll_text(self, prediction_id: str) -> JobUpdate:
        """Check a started text job; on success ``text`` holds its whole output."""

    @abstractmethod
    def start_image(self, flavor: Flavor, prompt: str, *, seed: int | None, workdir: Path,
                    aspect_ratio: str | None = None) -> JobUpdate:
        """Start one character reference image (a finished one when rendered at once), in the
        project's format when given, else the flavor's image ``aspect_ratio``."""

    @abstractmethod
    def start_clip(self, flavor: Flavor, request: ClipRequest, *, workdir: Path) -> JobUpdate: ...

    @abstractmethod
    def start_lipsync(self, flavor: Flavor, request: LipsyncRequest, *, workdir: Path) -> JobUpdate: ...

    @abstractmethod
    def poll(self, prediction_id: str, *, workdir: Path) -> JobUpdate:
        """Check a started job; on success the output is already copied to ``workdir``."""

    @abstractmethod
    def cancel(self, prediction_id: str) -> dict[str, Any]:
        """Stop a started job; returns what the provider reports it used ({} when it says nothing)."""

    def start_music(self, flavor: Flavor, request: MusicRequest, *, workdir: Path) -> JobUpdate:
        """Start making a song (a finished one, with its ``output_path``, when made at once);
        its output is polled like a clip's (``poll``)."""
        raise ProviderError(NO_MUSIC)

    def start_lyrics(self, flavor: Flavor, audio: Path, *, workdir: Path) -> JobUpdate:
        """Start transcribing a song's lyrics (only where ``transcribes_lyrics``)."""
        raise ProviderError(NO_LYRICS)

    def poll_lyrics(self, prediction_id: str) -> JobUpdate:
        """Check a transcription; on success ``output`` holds the model's JSON output."""
        raise ProviderError(NO_LYRICS)

    def start_structure(self, flavor: Flavor, audio: Path, *, workdir: Path) -> JobUpdate:
        """Start the flavor's structure model on a song (only where ``analyses_structure``)."""
        raise ProviderError(NO_STRUCTURE)

    def poll_structure(self, prediction_id: str, *, workdir: Path) -> JobUpdate:
        """Check a structure analysis; on success ``output`` holds the model's JSON (All-In-One's)."""
        raise ProviderError(NO_STRUCTURE)


FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


def parse_scenes(text: str, expected: int) -> list[SceneSpec]:
    """Strict: the JSON object we asked for, with exactly the scenes we asked for."""
    cleaned = FENCE.sub("", text.strip()).strip()
    try:
        data = json.loads(cleaned)
    except ValueError:
        raise ProviderError(f"The scene writer returned something that is not JSON: {cleaned[:120]!r}") from None
    scenes = data.get("scenes") if isinstance(data, dict) else None
    if not isinstance(scenes, list) or not all(isinstance(s, dict) for s in scenes):
        raise ProviderError('The scene writer\'s JSON has no "scenes" list of objects.')
    specs = []
    for index, scene in enumerate(scenes, 1):
        description = scene.get("description")
        negative = scene.get("negative_description", "")
        if not isinstance(description, str) or not description.strip() or not isinstance(negative, str):
            raise ProviderError(f"Scene {index} from the scene writer has no usable description.")
        specs.append(SceneSpec(description=description.strip(), negative_description=negative.strip()))
    if len(specs) != expected:
        raise ProviderError(f"The scene writer returned {len(specs)} scenes; {expected} were asked for.")
    return specs
