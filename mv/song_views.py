"""The song card's partials on the create page: its analysis and lyrics line (polled while
either is under way) and pasting lyrics. Kept beside mv.views, in the same style."""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from mv import create_views
from mv.errors import message_for_form
from mv.forms.pages import LyricsForm
from mv.models import AudioTrack, get_owned
from mv.pipeline import songs
from mv.views import HtmxHttpRequest, _back_to_page, _stop_polling_if

SONG = "mv/_song.html"


def _get_track_for_user(request: HtmxHttpRequest, pk: uuid.UUID) -> AudioTrack:
    return get_owned(AudioTrack, request.user, pk)


@require_GET
@login_required
def song_status(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The status line; polled by a card that showed the song importing, once the import is
    over, the whole song picker (its length, waveform and player, or the failure's message)."""
    track = _get_track_for_user(request, pk)
    if request.GET.get("importing") and not track.is_importing:
        response = create_views.render_music_source(request, track, "")
        response["HX-Retarget"], response["HX-Reswap"] = "#music-source", "outerHTML"
        return response
    response = render(request, f"{SONG}#song-status", {"track": track, "bands_oob": bool(track.waveform)})
    busy = track.analysis_status in (AudioTrack.AnalysisStatus.IMPORTING, AudioTrack.AnalysisStatus.ANALYZING) \
        or track.lyrics_state()[0] == "transcribing" or "listening" in track.structure_state()
    return _stop_polling_if(response, not busy)


@require_POST
@login_required
def song_lyrics(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The card again, with the error next to the box if the lyrics were refused."""
    track = _get_track_for_user(request, pk)
    error = message_for_form(LyricsForm(request.POST), lambda data: songs.paste_lyrics(track, data["lyrics"]))
    if not request.htmx:
        return _back_to_page(request, error, "create")
    return render(request, f"{SONG}#song-card", {"track": track, "lyrics_error": error,
                                                 "lyrics_text": request.POST.get("lyrics", "") if error else ""})
