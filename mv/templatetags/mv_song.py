"""The create page's song picture: its sections as bands over the waveform (the same
percentages as the studio timeline's, from mv.status.marks)."""

from __future__ import annotations

from typing import Any

from django import template

from mv import status
from mv.models import AudioTrack

register = template.Library()


@register.simple_tag
def song_bands(track: AudioTrack) -> list[dict[str, Any]]:
    """The track's sections as percentages of its length; none until its analysis is ready."""
    analysis = track.music_analysis()
    if analysis is None or not track.duration:
        return []
    return status.marks(analysis.to_dict(), (0.0, float(track.duration)))["sections"]
