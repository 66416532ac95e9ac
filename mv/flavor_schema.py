"""What a flavor's YAML may hold: each file's keys and their types, the prices every flavor
must set, and the placeholders each prompt template may use (with who fills them). Read by
mv.flavors when it loads the flavors and by mv.checks, which reports what breaks it."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# file stem -> key -> expected type(s). Keys outside this schema are allowed and kept.
# A mapping's own keys are checked where it is used (e.g. ``pricing`` in mv.checks).
SCHEMA: Mapping[str, Mapping[str, tuple[type, ...]]] = MappingProxyType(
    {
        "parameters": MappingProxyType(
            {
                "character_characteristics": (str,),
                "video_type": (str,),
                "video_characteristics": (str,),
                "camera_angle": (str,),
                "number_of_scenes": (int,),
            }
        ),
        "scene_prompts": MappingProxyType({"scene_generation_prompt": (str,), "scene_system_prompt": (str,)}),
        "image_prompts": MappingProxyType({"character_reference_prompt": (str,)}),
        "image_params": MappingProxyType(
            {
                "model": (str,),
                "aspect_ratio": (str,),
                "safety_filter_level": (str,),
                "output_format": (str,),
                "scene_model": (str,),
                "scene_temperature": (int, float),
                "scene_max_tokens": (int,),
                "video_model": (str,),
                "video_aspect_ratio": (str,),
                "video_aspect_ratios": (list, tuple),
                "video_duration": (int,),
                "video_durations": (tuple, list),
                "max_speedup": (int, float),
                "video_resolution": (str,),
                "video_generate_audio": (bool,),
                "video_rules_template": (str,),
                "lipsync_model": (str,),
                "lipsync_sync_mode": (str,),
                "lipsync_temperature": (int, float),
                "lipsync_active_speaker": (bool,),
                "lipsync_min_billed_seconds": (int, float),
                "lyrics_model": (str,),
                "lyrics_params": (Mapping,),
                "analysis_model": (str,),
                "analysis_params": (Mapping,),
                "music_model": (str,),
                "music_params": (Mapping,),
                "music_max_seconds": (int,),
                "lipsync_scenes_with_lyrics": (bool,),
                "pricing": (Mapping,),
            }
        ),
    }
)
FILES: tuple[str, ...] = tuple(SCHEMA)

# (file, key) -> (least, most, what it is): numbers that only make sense in a range.
BOUNDS: Mapping[tuple[str, str], tuple[float, float, str]] = MappingProxyType(
    {
        # Faster than 1.5x looks like fast motion, not a fitted clip; below 1.0 would be slow motion.
        ("image_params", "max_speedup"): (1.0, 1.5, "how much faster a clip may play to fill its scene (1.0: never)"),
    }
)


def out_of_bounds(file: str, key: str, value: object) -> str:
    """What is wrong with a bounded number, in words ("" when it is in its range or not bounded)."""
    if (file, key) not in BOUNDS or isinstance(value, bool) or not isinstance(value, int | float):
        return ""  # unbounded, or the wrong type (mv.E003 says so)
    least, most, what = BOUNDS[(file, key)]
    if least <= value <= most:
        return ""
    return f"{file}.yaml {key} is {value!r}; it is {what} and must be between {least:g} and {most:g}"

# image_params.yaml ``pricing``: US dollars per unit, every key required (after inheritance).
PRICING_KEYS: tuple[str, ...] = (
    "video_usd_per_second",
    "video_with_audio_usd_per_second",
    "lipsync_usd_per_second",
    "image_usd_each",
    "scene_writer_usd_per_million_input_tokens",
    "scene_writer_usd_per_million_output_tokens",
    "lyrics_usd_per_gpu_second",
    "lyrics_usd_per_minute",
    "start_frame_usd_each",
    "stems_usd_per_gpu_second",
    "stems_usd_per_minute",
    "analysis_usd_per_gpu_second",
    "analysis_usd_per_minute",
    "music_usd_per_gpu_second",
    "music_usd_per_second",
)

# Placeholders each template may use, and who fills them.
SCENE_PLACEHOLDERS = frozenset(
    {
        "idea",
        "character_description",
        "character_characteristics",
        "number_of_scenes",
        "camera_angle",
        "video_type",
        "video_characteristics",
        "scene_plan",
        "director_style",
    }
)
# What each placeholder is filled with (shown by `mv_flavors show`).
PLACEHOLDER_HELP: Mapping[str, str] = MappingProxyType(
    {
        "idea": "the video description",
        "character_description": "the main character, as described",
        "character_characteristics": "parameters.yaml character_characteristics (or the request's)",
        "number_of_scenes": "how many scenes to write (the scene plan's count when there is a song)",
        "camera_angle": "parameters.yaml camera_angle (or the request's)",
        "video_type": "parameters.yaml video_type (or the request's)",
        "video_characteristics": "parameters.yaml video_characteristics (or the request's)",
        "scene_plan": "one line per scene: its time in the song, section, energy 0-1 and the lyrics sung in it",
        "director_style": "the project's director style (configs/styles/<name>.yaml): camera, shot sizes, movement, cutting, lens and colour",
        "aspect_ratio": "the clip's aspect ratio, e.g. 16:9",
    }
)
TEMPLATE_PLACEHOLDERS: Mapping[tuple[str, str], frozenset[str]] = MappingProxyType(
    {
        ("scene_prompts", "scene_generation_prompt"): SCENE_PLACEHOLDERS,
        ("scene_prompts", "scene_system_prompt"): SCENE_PLACEHOLDERS,
        ("image_prompts", "character_reference_prompt"): frozenset({"character_description"}),
        ("image_params", "video_rules_template"): frozenset({"aspect_ratio"}),
    }
)
