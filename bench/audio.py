"""Lipsync slices and duration probes, against the cheap-but-wrong alternatives."""

from __future__ import annotations

import subprocess

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
    probe = timed(lambda: media.audio_duration(song), repeat=20)
    spawn = timed(lambda: subprocess.run([media.ffmpeg_exe(), "-i", str(song)], capture_output=True), repeat=5)
    rows.append(Row("audio", "duration probe (mutagen)", f"{probe * 1000:.2f} ms", f"ffmpeg -i {spawn * 1000:.0f} ms",
                    f"{spawn / probe:.0f}x faster", "<= 5 ms", probe <= 0.005))
    return rows
