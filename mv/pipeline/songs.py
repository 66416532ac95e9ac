"""A song's lyrics: transcribed after its first analysis (where the provider can), or pasted
by the user, which always wins.

The analysis itself is ``AudioTrack.analyze``, run once per track in the background
(mv.tasks.analyze_track, queued when a track is registered and by a starting worker for the
tracks left analysing or analysed by an older ``ANALYSIS_VERSION``); never on a request.
"""

from __future__ import annotations

from mv import flavors, jobs, music, tasks
from mv.errors import Refused
from mv.models import ACTIVE_STATUSES, AudioTrack, LyricsTranscription, StructureAnalysis
from mv.pipeline import spending
from mv.providers import get_provider

MAX_LYRICS_CHARS = 20000


def request_transcription(track: AudioTrack) -> LyricsTranscription | None:
    """Start transcribing the track's lyrics, when the provider can, no lyrics were pasted
    and none is already under way (then that one is returned)."""
    provider = get_provider()
    if not provider.transcribes_lyrics or track.lyrics_source == AudioTrack.LyricsSource.PASTED:
        return None
    running = track.transcriptions.filter(status__in=ACTIVE_STATUSES).first()
    if running is not None:
        return running
    flavor = flavors.resolve(flavors.DEFAULT)
    row = LyricsTranscription.objects.create(track=track, provider=provider.name, config_flavor=flavor.name,
                                             model=provider.model_for(flavor, "lyrics"))
    tasks.follow(row)
    return row


def request_structure(track: AudioTrack) -> StructureAnalysis | None:
    """Ask the flavor's structure model to hear the track, once per track, where the provider
    runs one and the flavor names one (else, or over today's budget, the local analysis stays)."""
    provider = get_provider()
    flavor = flavors.resolve(flavors.DEFAULT)
    model = flavor.get("image_params", "analysis_model", default="", used_in="mv.pipeline.songs: structure model")
    if not provider.analyses_structure or not model or track.structure_analyses.exists():
        return None
    estimate = spending.structure_estimate(flavor, track.duration, provider)
    try:
        with spending.budgeted(track.owner, estimate):
            row = StructureAnalysis.objects.create(track=track, provider=provider.name, config_flavor=flavor.name,
                                                   model=model, estimated_cost_usd=estimate.exact_usd)
    except Refused:
        return None  # over today's budget: the local analysis is what the plan uses
    tasks.follow(row)
    return row


def paste_lyrics(track: AudioTrack, text: str) -> list[music.LyricLine]:
    """Keep the user's lyrics (plain lines, or LRC with times): they win over any
    transcription, and one still running is cancelled."""
    text = (text or "").strip()
    if not text:
        raise Refused("no_lyrics", "Paste the song's lyrics: one line per sung line, or an LRC file's text.")
    if len(text) > MAX_LYRICS_CHARS:
        raise Refused("lyrics_too_long", f"The lyrics are longer than {MAX_LYRICS_CHARS} characters.")
    lines = music.parse_lyrics(text, duration=track.duration)
    if not lines:
        raise Refused("no_lyrics", f"No lyric lines found inside the song's {track.duration:.1f} s "
                                   "(check the LRC times).")
    track.store_lyrics(lines, AudioTrack.LyricsSource.PASTED)
    for running in track.transcriptions.filter(status__in=ACTIVE_STATUSES):
        jobs.cancel(running, "Lyrics were pasted; the transcription was stopped.")
    return lines
