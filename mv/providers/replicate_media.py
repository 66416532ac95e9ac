"""Replicate's image-editing and source-separation calls: a scene's start frame from the
character's picture (the flavor's ``start_frame_model``) and a song's vocal stem (its
``stems_model``), with the capability flags that say where each applies. Mixed into
``ReplicateProvider``, whose ``_create``, ``_download`` and ``_poll`` they use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mv.flavors import Flavor
from mv.providers.base import JobUpdate, ProviderError, StartFrameRequest

# The inputs each video model takes besides its prompt and format (from its published schema),
# so nothing is sent that a model ignores: Veo 3.1 takes a first frame (image), an end frame
# and, for 16:9 clips of 8 s, reference_images; Veo 3.1 Fast no reference images.
VIDEO_INPUTS: dict[str, frozenset[str]] = {
    "google/veo-3.1": frozenset({"image", "last_frame", "reference_images"}),
    "google/veo-3.1-fast": frozenset({"image", "last_frame"}),
}


class StartFramesAndStems:
    @staticmethod
    def _model_setting(flavor: Flavor, key: str) -> str:
        return str(flavor.get("image_params", key, default="", used_in=f"mv.providers.replicate: {key}") or "")

    def video_inputs(self, flavor: Flavor) -> frozenset[str]:
        """What the flavor's video model takes besides its prompt (unknown models: nothing)."""
        return VIDEO_INPUTS.get(self._model_setting(flavor, "video_model").partition(":")[0], frozenset())

    def takes_start_frame(self, flavor: Flavor) -> bool:
        return "image" in self.video_inputs(flavor)

    def makes_start_frames(self, flavor: Flavor) -> bool:
        return bool(self._model_setting(flavor, "start_frame_model"))

    def separates_stems(self, flavor: Flavor) -> bool:
        return bool(self._model_setting(flavor, "stems_model"))

    def start_start_frame(self, flavor: Flavor, request: StartFrameRequest, *, workdir: Path) -> JobUpdate:
        where = "mv.providers.replicate.start_start_frame"
        model = flavor.get("image_params", "start_frame_model", used_in=f"{where}: model")
        template = flavor.get("image_params", "start_frame_prompt", default="{prompt}", used_in=f"{where}: prompt")
        with open(request.reference, "rb") as picture:
            data: dict[str, Any] = {"prompt": template.format(prompt=request.prompt).strip(), "image_input": [picture],
                                    "aspect_ratio": request.aspect_ratio, "output_format": "png"}
            prediction = self._create(model, data)
        sent = {**data, "image_input": [Path(request.reference).name]}
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=sent)

    def start_stems(self, flavor: Flavor, audio: Path, *, workdir: Path) -> JobUpdate:
        where = "mv.providers.replicate.start_stems"
        model = flavor.get("image_params", "stems_model", used_in=f"{where}: model")
        params = flavor.get("image_params", "stems_params", default={}, used_in=f"{where}: inputs")
        with open(audio, "rb") as song:
            data: dict[str, Any] = {**params, "audio": song}
            prediction = self._create(model, data)
            sent = self._sent(data)
        return JobUpdate(state="running", prediction_id=prediction.id, model=model, input=sent)

    def poll_stems(self, prediction_id: str, *, workdir: Path, stem: str = "vocals") -> JobUpdate:
        def vocals(prediction: Any) -> dict[str, Any]:
            output = prediction.output
            if not isinstance(output, dict) or not output.get(stem):
                raise ProviderError(f"The separation model returned no {stem} stem.")
            return {"output_path": self._download(output[stem], workdir / stem)}

        return self._poll(prediction_id, vocals, job="separation", worker="separation model")

