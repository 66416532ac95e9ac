"""Music-aware scenes: song analysis (analysis.py; its sections: sections.py), lyrics (lyrics.py)
and the scene plan (plan.py)."""

from __future__ import annotations

from mv.music.analysis import (
    ANALYSIS_VERSION,
    Analysis,
    AnalysisError,
    analyze,
    analyze_samples,
    warm_up,
)
from mv.music.lyrics import (
    LyricLine,
    from_transcription,
    is_lrc,
    lyrics_in,
    parse_lyrics,
)
from mv.music.plan import (
    PlanError,
    Slot,
    check_count,
    check_cuttable,
    clip_duration_for,
    count_range,
    paid_seconds,
    part_end,
    planned_length,
    retimed,
    retimed_scenes,
    section_name,
    plan_scenes,
    scene_plan_text,
)
from mv.music.sections import Section
from mv.music.structure import StructureError, from_allinone

__all__ = [
    "ANALYSIS_VERSION", "Analysis", "AnalysisError", "LyricLine", "PlanError", "Section", "Slot", "StructureError", "analyze",
    "analyze_samples", "check_count", "check_cuttable", "clip_duration_for", "count_range", "from_allinone", "from_transcription",
    "is_lrc", "lyrics_in", "paid_seconds", "parse_lyrics", "part_end", "planned_length", "plan_scenes", "retimed", "retimed_scenes", "scene_plan_text", "section_name", "warm_up",
]
