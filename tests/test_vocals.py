"""Lipsync on the vocals: the song is separated once, the first time a lipsync needs it; every
lipsync is sent its slice of the vocal stem; the stitch keeps the full mix; without a
separation model the mix is used and the card says so."""

from __future__ import annotations

import json
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, flavors
from mv.models import Clip, JobStatus, VocalStem
from mv.pipeline import rendering
from tests import factories
from .conftest import dominant_hz


def _samples(wav: bytes):
    import io
    import wave

    import numpy as np

    with wave.open(io.BytesIO(wav)) as reader:
        data = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").reshape(-1, reader.getnchannels())
    return data[:, 0].astype(float)


def _correlation(a: bytes, b: bytes) -> float:
    """+1: the same sound; -1: the fake's vocals (the song inverted) against the mix."""
    import numpy as np

    x, y = _samples(a), _samples(b)
    n = min(len(x), len(y))
    return float(np.corrcoef(x[:n], y[:n])[0, 1])


def _mix_slice(track, start: float, end: float, tmp_path) -> bytes:
    from mv import files, media

    out = tmp_path / f"mix-{start}.wav"
    with files.local_path(track.original) as song:
        media.cut_audio(song, start, end, out)
    return out.read_bytes()


def _track(user, song_mp3):
    return audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))


def _lipsync(user, source, track, start, end) -> Clip:
    clip = rendering.request_lipsync(owner=user, flavor=flavors.resolve("default"), source=source, audio_track=track,
                                     start_time=start, end_time=end)
    clip.refresh_from_db()
    return clip


def test_two_lipsyncs_on_one_song_make_one_separation_and_both_are_cut_from_the_vocals(fake_replicate, user,
                                                                                      song_mp3, clip_mp4, tmp_path):
    track = _track(user, song_mp3)
    project = factories.written_project(user, scenes=2, audio_track=track, seconds=8.0)
    first, second = (factories.finished_clip(s, clip_mp4) for s in project.scenes.order_by("position"))
    one = _lipsync(user, first, track, 0.0, 8.0)
    two = _lipsync(user, second, track, 8.0, 16.0)
    assert one.status == two.status == JobStatus.SUCCEEDED, (one.error, two.error)
    assert fake_replicate.creates("cjwbw/demucs") == 1 and VocalStem.objects.count() == 1
    stem = VocalStem.objects.get()
    assert one.input["vocals"] == two.input["vocals"] == str(stem.pk)
    assert one.input["audio_source"] == two.input["audio_source"] == "vocals"
    for clip, (start, end) in ((one, (0.0, 8.0)), (two, (8.0, 16.0))):
        sent = clip.audio_slice.read()
        assert _correlation(sent, _mix_slice(track, start, end, tmp_path)) < -0.95  # the vocals' slice, not the mix's
        assert abs(dominant_hz(sent) - 220 * (1 + int(start // 8))) < 3  # and exactly that part of the song
        lipsync = next(p for p in fake_replicate.predictions.values()
                       if p.model == "sync/lipsync-2-pro" and p.id == clip.prediction_id)
        assert fake_replicate.uploaded(lipsync.input["audio"]) == sent  # what the model got
    sent_song = next(p for p in fake_replicate.predictions.values() if p.model == "cjwbw/demucs")
    assert sent_song.input["stem"] == "vocals"
    assert stem.cost_usd is not None and stem.billed_units["kind"] == "stems"


def test_the_stitch_after_a_vocal_lipsync_keeps_the_full_mix(fake_replicate, user, song_mp3, clip_mp4, tmp_path):
    import subprocess

    from mv import media

    track = _track(user, song_mp3)
    project = factories.written_project(user, scenes=1, audio_track=track, seconds=8.0)
    source = Clip.objects.get(pk=factories.finished_clip(project.scenes.get(), clip_mp4).pk)  # its scene read again
    clip = _lipsync(user, source, track, 0.0, 8.0)
    stitch = clip.followup_stitch
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    wav = tmp_path / "mix.wav"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", stitch.file.path, "-vn", "-ac", "1", "-ar", "44100",
                    "-c:a", "pcm_s16le", str(wav)], check=True)
    song = tmp_path / "song.wav"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", track.file.path, "-t", "8", "-ac", "1", "-ar", "44100",
                    "-c:a", "pcm_s16le", str(song)], check=True)
    assert _correlation(wav.read_bytes(), song.read_bytes()) > 0.95  # the song's own mix (the vocals would be -1)


def test_offline_lipsync_uses_the_mix_and_the_card_says_so(alice_client, user, song_mp3, clip_mp4, tmp_path):
    track = _track(user, song_mp3)
    project = factories.written_project(user, scenes=1, audio_track=track, seconds=8.0)
    source = Clip.objects.get(pk=factories.finished_clip(project.scenes.get(), clip_mp4).pk)  # its scene read again
    clip = _lipsync(user, source, track, 0.0, 8.0)
    assert clip.status == JobStatus.SUCCEEDED and clip.input["audio_source"] == "mix"
    assert not VocalStem.objects.exists()
    assert _correlation(clip.audio_slice.read(), _mix_slice(track, 0.0, 8.0, tmp_path)) > 0.95
    page = alice_client.get(f"/quick-gen/{project.pk}/").content.decode()
    assert "Lipsync on the full mix" in page


def test_a_failed_separation_falls_back_to_the_mix_and_says_so(fake_replicate, user, song_mp3, clip_mp4, tmp_path):
    track = _track(user, song_mp3)
    project = factories.written_project(user, scenes=1, audio_track=track, seconds=8.0)
    source = factories.finished_clip(project.scenes.get(), clip_mp4)
    fake_replicate.fail_next("cjwbw/demucs", "CUDA out of memory")
    clip = _lipsync(user, source, track, 0.0, 8.0)
    assert clip.status == JobStatus.SUCCEEDED, clip.error
    assert clip.input["audio_source"] == "mix" and "could not be separated" in clip.input["audio_note"]
    assert _correlation(clip.audio_slice.read(), _mix_slice(track, 0.0, 8.0, tmp_path)) > 0.95


def test_the_separation_is_in_the_lipsyncs_budget_check(fake_replicate, user, song_mp3, clip_mp4, settings):
    from mv.errors import Refused

    track = _track(user, song_mp3)
    project = factories.written_project(user, scenes=1, audio_track=track, seconds=8.0)
    source = factories.finished_clip(project.scenes.get(), clip_mp4)
    settings.MV_USER_DAILY_BUDGET_USD = Decimal("0.665")  # 8 s of lipsync-2-pro ($0.664), not the separation too
    try:
        _lipsync(user, source, track, 0.0, 8.0)
    except Refused as exc:
        assert exc.status == 402
    else:
        raise AssertionError("the separation's price was not counted")
    assert not VocalStem.objects.exists() and not Clip.objects.filter(kind="lipsync").exists()


def test_the_api_answers_where_the_lipsyncs_voice_came_from(alice_client, fake_replicate, user, song_mp3, clip_mp4):
    track = _track(user, song_mp3)
    source = factories.finished_clip(factories.written_project(user, scenes=1).scenes.get(), clip_mp4)
    response = alice_client.post("/api/mv/lipsync", json.dumps({"video_id": str(source.pk), "audio_id": str(track.pk),
                                                                "start_time": 0, "end_time": 4, "wait": 60}),
                                 content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["metadata"]["audio_source"] == "vocals"


def test_a_transcription_hears_the_vocals_when_the_song_was_separated_already(fake_replicate, user, song_mp3,
                                                                              clip_mp4):
    from mv.models import LyricsTranscription
    from mv.pipeline import songs

    track = _track(user, song_mp3)
    LyricsTranscription.objects.filter(track=track).delete()
    first = songs.request_transcription(track)
    first.refresh_from_db()
    assert first.input["heard"] == "mix"  # never separated just to transcribe
    assert fake_replicate.creates("cjwbw/demucs") == 0
    source = factories.finished_clip(factories.written_project(user, scenes=1).scenes.get(), clip_mp4)
    _lipsync(user, source, track, 0.0, 4.0)  # separates the song
    stem = VocalStem.objects.get()
    again = songs.request_transcription(track)
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED and again.input["heard"] == "vocals"
    whisper = next(p for p in fake_replicate.predictions.values() if p.id == again.prediction_id)
    assert fake_replicate.uploaded(whisper.input["audio"]) == stem.file.read()
