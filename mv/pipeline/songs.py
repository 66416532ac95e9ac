"""A song arriving from a request, and its lyrics.

An upload or a URL becomes an ``importing`` track at once; its import (mv.audio.finish_import:
download, checks, transcode, waveform) runs in the worker (mv.tasks.import_track, queued on
commit, and by a starting worker for tracks left importing). The analysis is
``AudioTrack.analyze``, run once per track in the background (mv.tasks.analyze_track, queued
when a track's files are in and by a starting worker for the tracks left analysing or analysed
by an older ``ANALYSIS_VERSION``); never on a request.

After its first analysis the flavor's structure model hears it (where the provider runs one:
its beats and named sections replace the local analysis), and its lyrics are transcribed
(where the provider can), or pasted by the user, which always wins.
"""

from __future__ import annotations

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from mv import audio, flavors, jobs, music, tasks
from mv.errors import Refused
from mv.models import ACTIVE_STATUSES, AudioTrack, LyricsTranscription, SongGeneration, StructureAnalysis
from mv.providers import get_provider

MAX_LYRICS_CHARS = 20000


def receive_upload(owner, uploaded: UploadedFile) -> AudioTrack:
    """The uploaded song stored as an ``importing`` track; its import runs in the worker.
    Raises mv.audio.AudioTooLarge for a file over the limit."""
    with transaction.atomic():
        track = audio.receive_upload(owner, uploaded)
        tasks.import_later(track.pk)
    return track


def request_url(owner, url: str) -> AudioTrack:
    """An ``importing`` track for the song at ``url`` (checked against the network guard
    now); the download and import run in the worker. Raises mv.audio.AudioImportError."""
    with transaction.atomic():
        track = audio.request_url(owner, url)
        tasks.import_later(track.pk)
    return track


def request_song(owner, flavor: flavors.Flavor, *, prompt: str, duration: float, lyrics: str = "") -> SongGeneration:
    """A song made by the flavor's music model: at once an ``importing`` track (usable by a
    project, which waits for it), and its generation, paid work like any other (over today's
    budget nothing is kept). The song is imported like an upload once it arrives."""
    provider = get_provider()
    if not provider.makes_music:
        raise Refused("no_music_model", "There is no music model here: upload a song or paste a URL instead.")
    longest = int(flavor.get("image_params", "music_max_seconds", used_in="mv.pipeline.songs.request_song: longest"))
    prompt, lyrics = prompt.strip(), (lyrics or "").strip()
    if not prompt:
        raise Refused("no_prompt", "Describe the song to make: its style, mood and instruments.")
    if not 5 <= duration <= longest:
        raise Refused("bad_duration", f"A song can last 5 to {longest} seconds with this flavor's music model.",
                      {"longest": longest})
    if len(lyrics) > MAX_LYRICS_CHARS:
        raise Refused("lyrics_too_long", f"The lyrics are longer than {MAX_LYRICS_CHARS} characters.")
    with transaction.atomic():
        track = AudioTrack.objects.create(owner=owner, title=prompt[:80], source=AudioTrack.Source.GENERATED,
                                          analysis_status=AudioTrack.AnalysisStatus.IMPORTING)
        row = SongGeneration(track=track, provider=provider.name, config_flavor=flavor.name,
                             model=provider.model_for(flavor, "music"), prompt=prompt, lyrics=lyrics,
                             duration=float(duration))
        SongGeneration.admit([row], owner=owner)  # the money gate: over budget, neither row is kept
        tasks.follow(row)
    return row


def request_transcription(track: AudioTrack) -> LyricsTranscription | None:
    """Start transcribing the track's lyrics, when the provider can, no lyrics were pasted
    and none is already under way (then that one is returned). Paid work like any other: over
    the owner's budget for today nothing starts, and the song card says why (None)."""
    provider = get_provider()
    if not provider.transcribes_lyrics or track.lyrics_source == AudioTrack.LyricsSource.PASTED:
        return None
    running = track.transcriptions.filter(status__in=ACTIVE_STATUSES).first()
    if running is not None:
        return running
    flavor = flavors.resolve(flavors.DEFAULT)
    row = LyricsTranscription(track=track, provider=provider.name, config_flavor=flavor.name,
                              model=provider.model_for(flavor, "lyrics"))
    try:
        LyricsTranscription.admit([row], owner=track.owner)
    except Refused as exc:
        why = exc.message.rstrip(".")
        track.lyrics_refused(f"over today's budget ({why[:1].lower()}{why[1:]})." if exc.code == "budget_exceeded"
                             else exc.message)
        return None
    tasks.follow(row)
    return row


def request_structure(track: AudioTrack) -> StructureAnalysis | None:
    """Ask the flavor's structure model to hear the track, once per track, where the provider
    runs one and the flavor names one. Paid work like any other: over the owner's budget for
    today nothing starts, the local analysis stays and the song card says why (None)."""
    provider = get_provider()
    flavor = flavors.resolve(flavors.DEFAULT)
    model = flavor.get("image_params", "analysis_model", default="", used_in="mv.pipeline.songs: structure model")
    if not provider.analyses_structure or not model or track.structure_analyses.exists():
        return None
    row = StructureAnalysis(track=track, provider=provider.name, config_flavor=flavor.name, model=model)
    try:
        StructureAnalysis.admit([row], owner=track.owner)
    except Refused as exc:
        why = exc.message.rstrip(".")
        track.structure_refused(f"over today's budget ({why[:1].lower()}{why[1:]})." if exc.code == "budget_exceeded"
                                else exc.message)
        return None
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
