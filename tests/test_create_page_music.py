"""The create page's song: its sections as bands over the waveform once analysed, and the live
estimate priced on the plan of the chosen part of the song (or its refusal, in plain words)."""

from __future__ import annotations

import re
from html import unescape as html_unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, music
from mv.models import AudioTrack

ANALYSIS = music.Analysis(
    duration=40.0, tempo=120.0,
    beats=tuple(i * 0.5 for i in range(80)), downbeats=tuple(i * 2.0 for i in range(20)),
    sections=(music.Section(0.0, 16.0, "intro", 0.4), music.Section(16.0, 40.0, "chorus", 1.0)),
    envelope=())


@pytest.fixture
def track(user, song_mp3) -> AudioTrack:
    """The 40 s song, as its upload leaves it, analysis still under way."""
    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes()))
    track.analysis, track.analysis_status = {}, AudioTrack.AnalysisStatus.ANALYZING
    track.save(update_fields=["analysis", "analysis_status"])
    return track


def _analysed(track: AudioTrack) -> AudioTrack:
    track.record_analysis(ANALYSIS)
    return track


def _create_page_with(client, track: AudioTrack) -> str:
    """The create page showing the track (a refused submit renders it again with the song)."""
    response = client.post("/create/submit/", {"mode": "music_video", "config_flavor": "default",
                                               "audio_track_id": str(track.pk), "video_description": ""})
    assert response.status_code == 200
    return response.content.decode()


def _bands(html: str) -> list[tuple[float, float, str]]:
    """(left %, width %, label) of each section band."""
    return [(float(left), float(width), label) for left, width, label in re.findall(r'<rect class="tl-band tl-band-[ab]" x="([\d.]+)%" width="([\d.]+)%"[^>]*></rect>'
                      r'<text class="tl-label"[^>]*>([^<]+)</text>', html)]


def test_an_analysed_songs_sections_are_bands_over_its_waveform(alice_client, track):
    page = _create_page_with(alice_client, _analysed(track))
    overlay = page[page.index('class="waveform-pick-box"'):]
    assert _bands(overlay) == [(0.0, 40.0, "intro"), (40.0, 60.0, "chorus")]
    assert 'class="song-range-mark"' in overlay


def test_no_bands_while_the_song_is_being_analysed(alice_client, track):
    page = _create_page_with(alice_client, track)
    assert 'id="song-bands-' in page and _bands(page) == []
    status = alice_client.get(f"/songs/{track.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert "analyzing…" in status and _bands(status) == []


def test_the_bands_arrive_with_the_status_line_once_the_analysis_is_ready(alice_client, track):
    _analysed(track)
    status = alice_client.get(f"/songs/{track.pk}/status/", HTTP_HX_REQUEST="true").content.decode()
    assert f'id="song-bands-{track.pk}"' in status and 'hx-swap-oob="true"' in status
    assert [label for *_, label in _bands(status)] == ["intro", "chorus"]
    assert "2 sections" in status


def _estimate(client, track: AudioTrack | None, **choices) -> str:
    query = {"config_flavor": "default", **choices}
    if track is not None:
        query["audio_track_id"] = str(track.pk)
    response = client.get("/create/estimate/", query, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def _price(html: str) -> float:
    return float(re.search(r"≈ \$([\d.]+)", html).group(1))


def test_the_estimate_follows_the_song_range_and_its_plan(alice_client, track, settings):
    settings.MV_PROVIDER = "replicate"
    _analysed(track)
    short = _estimate(alice_client, track, audio_start="8", song_end="24", number_of_scenes="2")
    long = _estimate(alice_client, track, audio_start="0", song_end="40", number_of_scenes="5")
    assert "2 clips × 8 s" in short and "5 clips × 8 s" in long
    assert _price(short) < _price(long)
    assert _price(short) == pytest.approx(6.4, abs=0.1) and _price(long) == pytest.approx(16.0, abs=0.1)


def test_without_a_song_the_estimate_counts_the_scenes(alice_client, settings):
    settings.MV_PROVIDER = "replicate"
    assert "3 clips × 8 s" in _estimate(alice_client, None, number_of_scenes="3", audio_start="0", song_end="10")


def test_a_plan_that_does_not_fit_shows_its_message_instead_of_a_price(alice_client, track, settings):
    settings.MV_PROVIDER = "replicate"
    html = _estimate(alice_client, _analysed(track), audio_start="0", song_end="10", number_of_scenes="5")
    assert "≈ $" not in html
    message = re.search(r'<strong id="create-estimate-value">(.*?)</strong>', html, re.DOTALL).group(1).strip()
    assert message == ("5 scenes of at least 4 s need 20 s; the chosen part of the song is 10 s. "
                       "Choose at most 2 scenes or a longer part.")  # no scene under 4 s, the last included


def test_an_end_past_the_song_says_so_in_words_in_the_estimate(alice_client, track, settings):
    settings.MV_PROVIDER = "replicate"
    html = _estimate(alice_client, _analysed(track), audio_start="0", song_end="90")
    message = re.search(r'<strong id="create-estimate-value">(.*?)</strong>', html, re.DOTALL).group(1).strip()
    assert html_unescape(message) == f"The end must be after the start and at most the song's length ({track.duration:.2f} s)."
    assert "song_end" not in message and "<=" not in message


def test_another_users_song_is_not_planned(client, other_user, track, settings):
    settings.MV_PROVIDER = "replicate"
    client.force_login(other_user)
    html = _estimate(client, _analysed(track), audio_start="0", song_end="10", number_of_scenes="3")
    assert "3 clips × 8 s" in html


def test_the_estimate_asks_again_when_the_range_fields_change(alice_client, track):
    page = _create_page_with(alice_client, track)
    box = re.search(r'<p class="estimate" id="create-estimate"[^>]*>', page).group(0)
    assert "from:#id_audio_start" in box and "from:#id_song_end" in box
    assert 'hx-trigger="load, ' in box  # the page's own estimate is counted without the song: ask again
    assert "#id_audio_start" in re.search(r'hx-include="([^"]*)"', box).group(1)


def test_the_estimate_says_what_share_of_the_paid_clip_seconds_is_trimmed_when_above_2_percent(
        alice_client, track, settings):
    settings.MV_PROVIDER = "replicate"
    _analysed(track)
    exact = _estimate(alice_client, track, audio_start="0", song_end="16", number_of_scenes="2")
    assert "2 clips × 8 s" in exact and "cut away" not in exact  # 8 + 8 s: nothing thrown away
    wasteful = _estimate(alice_client, track, audio_start="0", song_end="9", number_of_scenes="2")
    # 9 s in two scenes of at least 4 s: 10 clip seconds at best (4 + 6), 1 s of them trimmed
    assert "10.0 % of the clip seconds (1.0 of 10 s) are cut away at the stitch" in wasteful
