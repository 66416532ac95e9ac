"""The real provider: models on Replicate through the official client (replicate 1.0.7).

Every job, the scene writer's included, is created with ``predictions.create`` and polled
by the pipeline, so the prediction id is on our row before anything waits and a restarted
worker resumes it.
Our files go up as open files (the client uploads them), so no public URL or bucket is
needed. Outputs are copied into our storage as soon as a prediction succeeds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Container, Iterator
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import replicate
from django.conf import settings
from django.urls import reverse
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import encode_json
from replicate.prediction import Prediction as ReplicatePrediction
from replicate.webhook import WebhookSigningSecret, WebhookValidationError

from mv.flavors import Flavor
from mv.providers import outputs
from mv.providers.replicate_errors import describe, error, maybe_created, retry_after
from mv.providers import replicate_listing as listing
from mv.providers.base import (
    ClipRequest,
    JobUpdate,
    LipsyncRequest,
    MusicRequest,
    Provider,
    ProviderError,
    SceneRequest,
    WebhookRejected,
    WebhookUnreadable,
    announce,
    start_key,
)
from mv.providers.replicate_media import StartFramesAndStems

logger = logging.getLogger("mv.providers.replicate")

PROGRESS = re.compile(r"(\d{1,3})%\|")


# What a webhook pushed, by prediction id: read by a poll instead of asking again (see pushed()).
_pushed: ContextVar[dict[str, dict[str, Any]] | None] = ContextVar("mv_replicate_pushed", default=None)


class ReplicateProvider(StartFramesAndStems, Provider):
    name = "replicate"
    label = "Replicate"
    limits_concurrency = True
    transcribes_lyrics = True
    analyses_structure = True
    makes_music = True
    lists_predictions = True  # GET /v1/predictions, with each one's model and input (replicate_listing)
    # Replicate allows 3000 requests a minute besides creates (50/s; docs/topics/predictions/
    # rate-limits): polls keep to 80 % of that, leaving the rest to downloads and cancels.
    polls_per_second = 40.0

    def __init__(self) -> None:
        self.client = replicate.Client(api_token=settings.REPLICATE_API_TOKEN, base_url=settings.REPLICATE_BASE_URL or None)
        self.client.poll_interval = settings.MV_POLL_INTERVAL
        self._webhook_secret = settings.REPLICATE_WEBHOOK_SECRET

    @property
    def pushes_updates(self) -> bool:
        """Webhooks need an address Replicate can reach: only with MV_PUBLIC_URL."""
        return bool(settings.MV_PUBLIC_URL)

    @contextlib.contextmanager
    def pushed(self, prediction_id: str, payload: dict[str, Any]) -> Iterator[None]:
        reset = _pushed.set((_pushed.get() or {}) | {prediction_id: payload})
        try:
            yield
        finally:
            _pushed.reset(reset)

    def webhook_secret(self) -> str:
        """The signing secret: the setting, else Replicate's (asked once per process)."""
        if not self._webhook_secret:
            try:
                self._webhook_secret = self.client.webhooks.default.secret().key
            except (ReplicateError, httpx.HTTPError) as exc:
                raise ProviderError(describe(exc)[0], permanent=False) from None
        return self._webhook_secret

    def read_webhook(self, headers: dict[str, str], body: bytes) -> tuple[str, dict[str, Any]]:
        """(webhook id, prediction) of a delivery signed with our secret within
        MV_WEBHOOK_TOLERANCE seconds of now; else WebhookRejected. Replays are the caller's
        to refuse (the id is unique per delivery and signed)."""
        try:
            text = body.decode("utf-8")
            replicate.webhooks.validate(headers=headers, body=text, tolerance=settings.MV_WEBHOOK_TOLERANCE,
                                        secret=WebhookSigningSecret(key=self.webhook_secret()))
        except (UnicodeDecodeError, ValueError, WebhookValidationError) as exc:
            raise WebhookRejected(exc.__class__.__name__) from None
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested thousands of levels deep
            raise WebhookUnreadable("not JSON") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise WebhookUnreadable("no prediction id")
        try:
            ReplicatePrediction(**payload)  # what a poll will read it as
            json.dumps(payload)  # and what a task carries it as
        except (TypeError, ValueError, RecursionError):  # pydantic's ValidationError is a ValueError
            raise WebhookUnreadable("not a prediction") from None
        return {k.lower(): v for k, v in headers.items()}["webhook-id"], payload

    # --- helpers ---------------------------------------------------------------------------

    def _create(self, model: str, data: dict[str, Any]):
        """Create a prediction, retrying only answers that prove nothing was created (429,
        503) or connection failures before the request went out, so a retry never pays twice.
        Files go up first, then the create's key is announced (mv.jobs records it) and the
        create sent: a start cut off from then on, or a 500/502 or dropped answer (which may
        have created one: not retried), is found again by that key. A community model is
        named with its version (``owner/name:<version id>``) and created by it."""
        attempts = max(1, settings.MV_CREATE_RETRIES)
        version = model.partition(":")[2]
        target = {"version": version} if version else {"model": model}
        key = start_key(model, listing.digests(data))
        try:
            sent = encode_json(data, self.client)  # uploads the files (nothing is created yet)
        except (ReplicateError, httpx.HTTPError) as exc:
            raise error(exc) from None
        announce(key)
        for attempt in range(1, attempts + 1):
            try:
                return self.client.predictions.create(**target, input=sent, **self._webhook())
            except ReplicateError as exc:
                if exc.status in (429, 503) and attempt < attempts:
                    time.sleep(min(10.0, retry_after(exc) or 0.2 * 2 ** (attempt - 1)))
                    continue
                if (exc.status or 0) >= 500 and exc.status != 503:
                    raise maybe_created(f"answered with a server error ({exc.status})") from None
                raise error(exc) from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent
                if attempt < attempts:
                    time.sleep(0.2 * 2 ** (attempt - 1))
                    continue
                raise error(exc) from None
            except httpx.TransportError:
                raise maybe_created("did not answer (the connection dropped)") from None
            except ModelError as exc:
                raise error(exc) from None
        raise ProviderError("could not create the prediction")

    def find_started(self, key: str, since: datetime, taken: Container[str] = ()) -> str | None:
        try:
            return listing.find_started(self.client, key, since, taken, pages=settings.MV_RECONCILE_PAGES)
        except (ReplicateError, httpx.HTTPError) as exc:
            raise ProviderError(describe(exc)[0], permanent=False) from None

    def _webhook(self) -> dict[str, Any]:
        """Ask to be told when the prediction completes (only with a public address)."""
        if not self.pushes_updates:
            return {}
        return {"webhook": f"{settings.MV_PUBLIC_URL}{reverse('replicate_webhook')}", "webhook_events_filter": ["completed"]}

    def _download(self, output: Any, dest: Path) -> Path:
        """Copy an output to dest at once (Replicate deletes outputs after an hour), from
        Replicate's delivery hosts only (mv.providers.outputs)."""
        return outputs.download(output, dest)

    @staticmethod
    def _sent(data: dict[str, Any]) -> dict[str, Any]:
        return {k: (Path(v.name).name if hasattr(v, "read") else v) for k, v in data.items()}

    # --- the interface -----------------------------------------------------------------------

    def start_scenes(self, flavor: Flavor, request: SceneRequest) -> JobUpdate:
        where = "mv.providers.replicate.start_scenes"
        model = flavor.get("image_params", "scene_model", used_in=f"{where}: model")
        template = flavor.get("scene_prompts", "scene_generation_prompt", used_in=f"{where}: prompt template")
        data = {"prompt": request.prompt(template),
                "temperature": flavor.get("image_params", "scene_temperature", default=0.7,
                                          used_in=f"{where}: temperature"),
                "max_completion_tokens": flavor.get("image_params", "scene_max_tokens", default=4096,
                                                    used_in=f"{where}: max_completion_tokens")}
        prediction = self._create(model, data)
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=data)

    def start_image(self, flavor: Flavor, prompt: str, *, seed: int | None, workdir: Path,
                    aspect_ratio: str | None = None) -> JobUpdate:
        where = "mv.providers.replicate.start_image"
        model = flavor.get("image_params", "model", used_in=f"{where}: model")
        data: dict[str, Any] = {
            "prompt": prompt,
            "aspect_ratio": aspect_ratio or flavor.get("image_params", "aspect_ratio", used_in=f"{where}: aspect_ratio"),
            "safety_filter_level": flavor.get("image_params", "safety_filter_level", used_in=f"{where}: safety_filter_level"),
            "output_format": flavor.get("image_params", "output_format", used_in=f"{where}: output_format"),
        }  # imagen-4 has no seed input (a seed steers only the local renderer), so none is sent
        prediction = self._create(model, data)
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=data)

    def takes_reference_image(self, aspect_ratio: str, duration: float, flavor: Flavor | None = None) -> bool:
        """Veo takes reference images only for 16:9 clips of 8 seconds (and Veo 3.1 Fast none)."""
        if flavor is not None and "reference_images" not in self.video_inputs(flavor):
            return False
        return aspect_ratio == "16:9" and duration == 8

    def start_clip(self, flavor: Flavor, request: ClipRequest, *, workdir: Path) -> JobUpdate:
        where = "mv.providers.replicate.start_clip"
        model = flavor.get("image_params", "video_model", used_in=f"{where}: model")
        data: dict[str, Any] = {"prompt": request.prompt, "aspect_ratio": request.aspect_ratio,
                                "duration": _veo_seconds(request.duration), "generate_audio": request.generate_audio}
        resolution = flavor.get("image_params", "video_resolution", default=None, used_in=f"{where}: resolution")
        if resolution:
            data["resolution"] = resolution
        if request.negative_prompt:
            data["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            data["seed"] = request.seed
        handles = []
        try:
            if request.reference_image is not None and self.takes_reference_image(request.aspect_ratio, request.duration,
                                                                                        flavor):
                handles.append(open(request.reference_image, "rb"))  # noqa: SIM115  (closed below)
                data["reference_images"] = list(handles)
            elif request.start_image is not None and self.takes_start_frame(flavor):
                handles.append(open(request.start_image, "rb"))  # noqa: SIM115  (closed below)
                data["image"] = handles[0]
            prediction = self._create(model, data)
        finally:
            for handle in handles:
                handle.close()
        sent = self._sent({k: v for k, v in data.items() if k != "reference_images"})
        if "reference_images" in data:
            sent["reference_images"] = [Path(request.reference_image).name]  # type: ignore[arg-type]
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=sent)

    def start_lipsync(self, flavor: Flavor, request: LipsyncRequest, *, workdir: Path) -> JobUpdate:
        where = "mv.providers.replicate.start_lipsync"
        model = flavor.get("image_params", "lipsync_model", used_in=f"{where}: model")
        temperature = request.temperature if request.temperature is not None else flavor.get(
            "image_params", "lipsync_temperature", default=None, used_in=f"{where}: temperature")
        speaker = request.active_speaker_detection if request.active_speaker_detection is not None else flavor.get(
            "image_params", "lipsync_active_speaker", default=None, used_in=f"{where}: active_speaker")
        if request.occlusion_detection_enabled:
            # sync/lipsync-2 and -2-pro on Replicate have no occlusion detection input (the API
            # refuses the option); a request stored before that is failed, not run without it.
            raise ProviderError(f"{model} has no occlusion detection; lipsync again without it.")
        sync_mode = flavor.get("image_params", "lipsync_sync_mode", default=None, used_in=f"{where}: sync_mode")
        with open(request.video, "rb") as video, open(request.audio, "rb") as audio:
            data: dict[str, Any] = {"video": video, "audio": audio}
            if temperature is not None:
                data["temperature"] = temperature
            if speaker is not None:
                data["active_speaker"] = speaker
            if sync_mode:
                data["sync_mode"] = sync_mode
            prediction = self._create(model, data)
            sent = self._sent(data)
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=sent)

    def start_music(self, flavor: Flavor, request: MusicRequest, *, workdir: Path) -> JobUpdate:
        where = "mv.providers.replicate.start_music"
        model = flavor.get("image_params", "music_model", used_in=f"{where}: model")
        params = flavor.get("image_params", "music_params", default={}, used_in=f"{where}: inputs")
        data: dict[str, Any] = {**params, "prompt": request.prompt, "duration": max(1, round(request.duration))}
        prediction = self._create(model, data)
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=data)

    def start_lyrics(self, flavor: Flavor, audio: Path, *, workdir: Path) -> JobUpdate:
        return self._start_on_song(flavor, "lyrics", audio, "audio")

    def start_structure(self, flavor: Flavor, audio: Path, *, workdir: Path) -> JobUpdate:
        return self._start_on_song(flavor, "analysis", audio, "music_input")

    def _start_on_song(self, flavor: Flavor, job: str, audio: Path, field: str) -> JobUpdate:
        """A model that listens to a song: the flavor's ``<job>_model`` with its ``<job>_params``."""
        model = flavor.get("image_params", f"{job}_model", used_in=f"mv.providers.replicate: {job} model")
        params = flavor.get("image_params", f"{job}_params", default={}, used_in=f"mv.providers.replicate: {job} inputs")
        with open(audio, "rb") as song:
            data: dict[str, Any] = {**params, field: song}
            prediction = self._create(model, data)
            sent = self._sent(data)
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=sent)

    def poll_structure(self, prediction_id: str, *, workdir: Path) -> JobUpdate:
        """All-In-One answers with files, its analysis JSON first: read at once (outputs expire)."""
        def answer(prediction: Any) -> dict[str, Any]:
            try:
                return {"output": json.loads(self._download(prediction.output, workdir / "structure.json").read_bytes())}
            except ValueError:  # UnicodeDecodeError too
                raise ProviderError("The structure model's answer is not JSON.") from None

        return self._poll(prediction_id, answer, job="structure analysis", worker="structure model")

    def _get(self, prediction_id: str):
        payload = (_pushed.get() or {}).get(prediction_id)
        if payload is not None:
            return ReplicatePrediction(**payload)
        try:
            return self.client.predictions.get(prediction_id)
        except (ReplicateError, httpx.HTTPError) as exc:
            message, permanent = describe(exc)
            raise ProviderError(message, permanent=permanent) from None

    def poll(self, prediction_id: str, *, workdir: Path) -> JobUpdate:
        return self._poll(prediction_id, lambda p: {"output_path": self._download(p.output, workdir / "output")},
                          job="prediction", worker="model", logs_progress=True)

    def poll_text(self, prediction_id: str) -> JobUpdate:
        def answer(prediction: Any) -> dict[str, Any]:
            output = prediction.output  # a language model streams its answer as a list of chunks
            text = output if isinstance(output, str) else "".join(str(part) for part in (output or []))
            return {"text": text, "model": prediction.model or ""}

        return self._poll(prediction_id, answer, job="scene writer", worker="scene writer")

    def poll_lyrics(self, prediction_id: str) -> JobUpdate:
        return self._poll(prediction_id, lambda p: {"output": p.output}, job="transcription", worker="transcription")

    def _poll(self, prediction_id: str, kept: Callable[[Any], dict[str, Any]], *, job: str, worker: str,
              logs_progress: bool = False) -> JobUpdate:
        """Where a prediction of any kind stands: running (with the progress its logs show, for
        models that log one), cancelled, failed with the model's reason, or succeeded with what
        ``kept`` takes from it (a file, text, raw output) and the metrics it is billed on."""
        prediction = self._get(prediction_id)
        if prediction.status in ("starting", "processing"):
            found = PROGRESS.findall(prediction.logs or "") if logs_progress else []
            return JobUpdate(state="running", prediction_id=prediction_id,
                             progress=min(99, int(found[-1])) if found else 0)
        metrics = prediction.metrics or {}
        if prediction.status == "canceled":
            return JobUpdate(state="canceled", prediction_id=prediction_id, error=f"the {job} was cancelled",
                             metrics=metrics)
        if prediction.status != "succeeded":
            return JobUpdate(state="failed", prediction_id=prediction_id, metrics=metrics,
                             error=f"The {worker} failed: {prediction.error or 'no reason given'}")
        return JobUpdate(state="succeeded", prediction_id=prediction_id, progress=100, metrics=metrics,
                         predict_time=metrics.get("predict_time"), **kept(prediction))

    def cancel(self, prediction_id: str) -> dict[str, Any]:
        try:
            return self.client.predictions.cancel(prediction_id).metrics or {}
        except (ReplicateError, httpx.HTTPError) as exc:
            logger.warning("cancelling prediction %s failed: %s", prediction_id, describe(exc)[0])
            return {}


def _veo_seconds(duration: float) -> int:
    """Veo renders 4, 6 or 8 seconds: the shortest that covers the asked length (the stitch
    trims the rest)."""
    return min(8, max(4, math.ceil(duration / 2) * 2))
