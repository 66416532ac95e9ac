"""The offline provider: real videos rendered on this machine with ffmpeg.

It writes scene prompts deterministically from the flavor's parameters, renders clearly
labelled "local preview" clips, and its lipsync lays the song slice over the clip with a
visible waveform. It never pretends to be a video model.
"""

from __future__ import annotations

import json
import uuid
import zlib
from pathlib import Path
from typing import Any

from django.conf import settings

from mv import media
from mv.flavors import Flavor
from mv.providers.base import (
    ClipRequest,
    JobUpdate,
    LipsyncRequest,
    MusicRequest,
    Provider,
    SceneRequest,
)

SHOTS = ("Wide establishing shot", "Medium shot", "Close-up", "Tracking shot", "Low-angle shot", "Over-the-shoulder shot")
MOVES = ("slow push in", "gentle orbit", "handheld follow", "crane up", "dolly out", "static hold")
BEATS = ("opens on", "builds as", "turns when", "peaks as", "resolves as")


def _seed(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


class LocalProvider(Provider):
    name = "local"
    label = "Local preview renderer (offline)"
    renders_locally = True
    transcribes_lyrics = False  # no transcription model offline: lyrics can only be pasted
    makes_music = True  # a plain instrumental made here (render_preview_song)
    paid = False

    def model_for(self, flavor: Flavor, job: str) -> str:
        return {"lipsync": "local/lipsync-preview", "scenes": "local/scene-writer",
                "music": "local/song-preview"}.get(job, "local/preview")

    def start_scenes(self, flavor: Flavor, request: SceneRequest) -> JobUpdate:
        """Written at once: the finished JSON answer, in the shape asked of the LLM."""
        template = flavor.get("scene_prompts", "scene_generation_prompt",
                              used_in="mv.providers.local.start_scenes: prompt template")
        prompt = request.prompt(template)
        who = request.character_description or "the main character"
        plan = request.scene_plan.splitlines()
        if len(plan) != request.number_of_scenes or not plan[0].startswith("Scene "):
            plan = []  # no song: the plan is one line for all scenes
        scenes = []
        for i in range(request.number_of_scenes):
            music = f" Music: {plan[i].partition(': ')[2]}." if plan else ""
            shot = SHOTS[i % len(SHOTS)]
            scenes.append({
                "description": (
                    f"{shot}, {request.camera_angle}, {MOVES[i % len(MOVES)]}: the {request.video_type} "
                    f"{BEATS[min(i, len(BEATS) - 1)]} {who} ({request.character_characteristics}) — "
                    f"{_sentence(request.idea)} Part {i + 1} of {request.number_of_scenes}. "
                    f"Look: {_sentence(request.video_characteristics)}{music}"
                ),
                "negative_description": "blurry, distorted faces, on-screen text, watermarks, inconsistent outfit",
            })
        return JobUpdate(state="succeeded", prediction_id=f"local-{uuid.uuid4().hex[:12]}", model="local/scene-writer",
                         input={"prompt": prompt}, text=json.dumps({"scenes": scenes}), progress=100)

    def start_image(self, flavor: Flavor, prompt: str, *, seed: int | None, workdir: Path,
                    aspect_ratio: str | None = None) -> JobUpdate:
        out = workdir / "image.png"
        value = seed if seed is not None else _seed(prompt)
        size = frame_size("512x512", aspect_ratio) if aspect_ratio else "512x512"
        media.render_preview_image(out, label="character", text=prompt, seed=value, size=size)
        return JobUpdate(state="succeeded", prediction_id=f"local-{uuid.uuid4().hex[:12]}", model="local/preview",
                         input={"prompt": prompt, "seed": value, "renderer": "local"}, output_path=out, progress=100)

    def start_clip(self, flavor: Flavor, request: ClipRequest, *, workdir: Path) -> JobUpdate:
        out = workdir / "clip.mp4"
        seed = request.seed if request.seed is not None else _seed(request.prompt)
        media.render_preview_clip(
            out,
            label=request.label or "clip",
            text=request.prompt,
            duration=float(request.duration),
            size=frame_size(settings.MV_LOCAL_RENDER_SIZE, request.aspect_ratio),
            seed=seed,
            with_audio=request.generate_audio,
        )
        sent = {"prompt": request.prompt, "negative_prompt": request.negative_prompt, "duration": request.duration,
                "aspect_ratio": request.aspect_ratio, "seed": seed, "renderer": "local ffmpeg preview"}
        return JobUpdate(state="succeeded", prediction_id=f"local-{uuid.uuid4().hex[:12]}", model="local/preview",
                         input=sent, output_path=out, progress=100)

    def start_lipsync(self, flavor: Flavor, request: LipsyncRequest, *, workdir: Path) -> JobUpdate:
        out = workdir / "lipsync.mp4"
        media.lipsync_preview(request.video, request.audio, out)
        return JobUpdate(state="succeeded", prediction_id=f"local-{uuid.uuid4().hex[:12]}", model="local/lipsync-preview",
                         input={"video": request.video.name, "audio": request.audio.name, "renderer": "local ffmpeg preview"},
                         output_path=out, progress=100)

    def start_music(self, flavor: Flavor, request: MusicRequest, *, workdir: Path) -> JobUpdate:
        """A plain instrumental made here (chords, kick, hat), clearly not a model's song."""
        out = workdir / "song.wav"
        seed = request.seed if request.seed is not None else _seed(request.prompt)
        bpm = media.render_preview_song(out, seconds=request.duration, seed=seed)
        return JobUpdate(state="succeeded", prediction_id=f"local-{uuid.uuid4().hex[:12]}", model="local/song-preview",
                         input={"prompt": request.prompt, "duration": request.duration, "seed": seed, "bpm": bpm,
                                "renderer": "local ffmpeg preview (instrumental)"}, output_path=out, progress=100)

    def poll(self, prediction_id: str, *, workdir: Path) -> JobUpdate:
        # Local jobs finish inside start_*; a poll means the worker died before storing it.
        return JobUpdate(state="failed", prediction_id=prediction_id, error="the local render was interrupted; retry it")

    def poll_text(self, prediction_id: str) -> JobUpdate:
        return JobUpdate(state="failed", prediction_id=prediction_id,
                         error="the local scene writer was interrupted; retry it")

    def cancel(self, prediction_id: str) -> dict[str, Any]:
        return {}


def frame_size(landscape: str, aspect_ratio: str) -> str:
    """The local renderer's frame for an aspect ratio, as large as the landscape setting's
    long side allows (even sides, as x264 needs): 640x360 -> 360x640 for 9:16."""
    long_side = max(int(n) for n in landscape.split("x"))
    w, _, h = aspect_ratio.partition(":")
    ratio = float(w) / float(h) if h else 16 / 9
    width, height = (long_side, long_side / ratio) if ratio >= 1 else (long_side * ratio, long_side)
    return f"{int(width) // 2 * 2}x{int(height) // 2 * 2}"


def _sentence(text: str) -> str:
    """The text ending with one full stop (an idea typed with its own stays as typed)."""
    text = text.strip()
    return text if not text or text[-1] in ".!?…" else text + "."
