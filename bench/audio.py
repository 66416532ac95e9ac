"""Lipsync slices and duration probes, against the cheap-but-wrong alternatives."""

from __future__ import annotations

import subprocess
from typing import Any

from bench.common import SCRATCH, Row, timed
from mv import media


def run(args) -> list[Row]:
    folder = SCRATCH / "audio"
    folder.mkdir(exist_ok=True)
    song = folder / "song4min.mp3"
    if not song.exists():
        media.run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=330:duration=240", "-ac", "2", "-c:a", "libmp3lame", song])
    wav = folder / "slice.wav"
    ours = timed(lambda: media.cut_audio(song, 93.3, 101.3, wav), repeat=5)
    length = media.probe(wav).duration
    copy = folder / "copy.mp3"
    stream_copy = timed(lambda: media.run_ffmpeg(["-ss", "93.3", "-i", song, "-t", "8", "-c:a", "copy", copy]), repeat=5)
    copy_len = media.audio_duration(copy)
    rows = [
        Row("audio", "8 s slice of a 4 min mp3 (WAV, sample-accurate)", f"{ours * 1000:.0f} ms, len err {abs(length - 8) * 1000:.2f} ms",
            f"stream copy {stream_copy * 1000:.0f} ms, len err {abs(copy_len - 8) * 1000:.1f} ms",
            f"{ours / stream_copy:.1f}x the copy's time", "<= 0.5 s, err <= 1 ms", ours <= 0.5 and abs(length - 8) <= 0.001),
    ]
    rows.append(_start_point(folder))
    probe = timed(lambda: media.audio_duration(song), repeat=20)
    spawn = timed(lambda: subprocess.run([media.ffmpeg_exe(), "-i", str(song)], capture_output=True), repeat=5)
    rows.append(Row("audio", "duration probe (mutagen)", f"{probe * 1000:.2f} ms", f"ffmpeg -i {spawn * 1000:.0f} ms",
                    f"{spawn / probe:.0f}x faster", "<= 5 ms", probe <= 0.005))
    return rows


def _pcm(args: list) -> Any:
    """ffmpeg's decode of the input as mono 16-bit samples at 44.1 kHz."""
    import numpy as np

    done = subprocess.run([media.ffmpeg_exe(), "-v", "error", *map(str, args), "-ac", "1", "-ar", "44100", "-f", "s16le",
                           "-"], capture_output=True, check=True)
    return np.frombuffer(done.stdout, dtype="<i2").astype(np.float64)


def _start_point(folder) -> Row:
    """The slice must start where asked: on white noise (no period to hide an offset, unlike
    a sine) the slice's samples are found in a full decode of the song, and the offset of the
    best match is the error. A slice cut 10 ms late is the control: the check must see it."""
    import numpy as np

    rate, start, seconds = 44100, 93.3, 8.0
    noise = folder / "noise4min.mp3"
    if not noise.exists():
        media.run_ffmpeg(["-f", "lavfi", "-i", "anoisesrc=color=white:duration=240:seed=7", "-ac", "2",
                          "-c:a", "libmp3lame", noise])
    full = _pcm(["-i", noise])

    def offset_ms(begin: float) -> float:
        wav = folder / f"noise-slice-{begin:.3f}.wav"
        media.cut_audio(noise, begin, begin + seconds, wav)
        part = _pcm(["-i", wav])[: rate]  # its first second
        lo = int(start * rate) - rate // 20  # search +-50 ms around the asked start
        window = full[lo: lo + rate + rate // 10]
        scores = np.correlate(window, part, mode="valid")
        return (lo + int(np.argmax(scores)) - start * rate) / rate * 1000

    ours, late = offset_ms(start), offset_ms(start + 0.010)
    seen = abs(late - 10) <= 0.1  # the control's 10 ms shows as 10 ms
    return Row("audio", "slice start vs a full decode (white noise mp3)", f"{ours:+.3f} ms",
               f"control cut 10 ms late: {late:+.3f} ms", "-", "abs err <= 0.1 ms, control seen",
               abs(ours) <= 0.1 and seen)
