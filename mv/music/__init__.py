"""Music-aware scenes: song analysis (analysis.py), lyrics (lyrics.py) and the scene plan (plan.py)."""

from __future__ import annotations

from mv.music.analysis import ANALYSIS_VERSION, Analysis, AnalysisError, Section, analyze, analyze_samples

__all__ = ["ANALYSIS_VERSION", "Analysis", "AnalysisError", "Section", "analyze", "analyze_samples"]
