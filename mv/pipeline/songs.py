"""A song's analysis and lyrics: analysed once in the background when it arrives, its
lyrics transcribed after that (where the provider can) or pasted by the user.

Analysis never runs on a request: ``analyze_later`` queues it (mv.tasks.analyze_track)
when a track is registered, and a starting worker queues the tracks left analysing or
analysed by an older ``ANALYSIS_VERSION``. Whatever the song, the track stays usable:
an odd song (silence, noise, a jingle) is ready with a note and an even beat grid; one
that cannot be read is failed with a plain message.
"""

from __future__ import annotations

import logging

from django.db.models import Q

from mv import files, flavors, jobs, music, tasks
from mv.errors import Refused
from mv.models import ACTIVE_STATUSES, AudioTrack, LyricsTranscription
from mv.providers import get_provider

logger = logging.getLogger("mv.pipeline.songs")

UNREADABLE = "The song could not be analysed; scenes use an even grid."
MAX_LYRICS_CHARS = 20000


def analyze_later(track: AudioTrack) -> None:
    """Queue the track's analysis once the current transaction commits."""
    tasks.analyze_later(track.pk)


def analyze_track(track_id: str) -> AudioTrack | None:
    """Analyse the stored original and keep the result (a track already analysed by this
    version is left alone); on success, start transcribing its lyrics (a trim takes its
    part of the lyrics of the song it was cut from instead)."""
    track = AudioTrack.objects.filter(pk=track_id).first()
    if track is None or track.analysis_is_current:
        return track
    inherit_lyrics(track)
    try:
        with files.local_path(track.original or track.file) as path:
            result = music.analyze(path)
    except music.AnalysisError as exc:
        logger.info("track %s: analysis failed: %s", track.pk, exc)
        track.analysis_failed(f"{exc} Scenes use an even grid.")
        return track
    except Exception:
        logger.exception("track %s: analysis failed unexpectedly", track.pk)
        track.analysis_failed(UNREADABLE)
        return track
    track.record_analysis(result)
    # Once per track, never again on a re-analysis (it would pay twice); a silent song has
    # nothing to transcribe.
    if max(result.envelope, default=0.0) > 0 and not track.lyrics_source and not track.transcriptions.exists():
        request_transcription(track)
    return track


def inherit_lyrics(track: AudioTrack) -> None:
    """A trim keeps the lines of its part of the song it was cut from (pasted or heard), moved
    to its own times, instead of paying to hear them again."""
    parent = track.parent
    if track.lyrics_source or parent is None or not parent.lyrics_source:
        return
    start, end = track.trim_start, track.trim_start + track.duration
    part = music.LyricLine(start, end, "")
    lines = [music.LyricLine(max(line.start, start) - start, min(line.end, end) - start, line.text)
             for line in music.lyrics_in(part, parent.lyric_lines())]
    track.store_lyrics(lines, parent.lyrics_source)


def tracks_to_analyze() -> list[str]:
    """Tracks a worker should analyse at start: still analysing (cut off, or never queued)
    or analysed by an older version."""
    stale = Q(analysis_status=AudioTrack.AnalysisStatus.READY) & ~Q(analysis__version=music.ANALYSIS_VERSION)
    found = AudioTrack.objects.filter(Q(analysis_status=AudioTrack.AnalysisStatus.ANALYZING) | stale)
    return [str(pk) for pk in found.values_list("pk", flat=True)]


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
