"""Work the suite would otherwise repeat with the same input, done once per test session.

Many tests upload the same tiny song: each upload transcodes it to AAC (~0.6 s of ffmpeg) and
analyses it with librosa. Both are pure functions of the file's bytes, so the first call in a
session runs the real code and later calls with the same bytes get a copy of that result.
The cache lives in the session's temporary folder: nothing carries over from one run to the
next, so a change to the code is always run for real. A call that raises is not remembered.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mv import media, music


def _digest(path: Path | str) -> str | None:
    """The file's hash; None when it cannot be read (the real call then says why)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class SessionMedia:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.analyses: dict[str, music.Analysis] = {}
        self.songs: dict[tuple[str, float | None], tuple[Path, float]] = {}
        self.lock = threading.Lock()  # the browser tests' worker thread uploads too

    def analyzer(self, real: Callable[..., music.Analysis]) -> Callable[..., music.Analysis]:
        def analyze(path: Path, container: str | None = None) -> music.Analysis:
            digest = _digest(path)
            if digest is None:
                return real(path, container=container)
            key = f"{digest}:{container or ''}"  # the same bytes read as another demuxer are another input
            if key not in self.analyses:
                self.analyses[key] = real(path, container=container)  # frozen dataclass: safe to hand out again
            return self.analyses[key]

        return analyze

    def transcoder(self, real: Callable[..., float]) -> Callable[..., float]:
        def transcode_song(src: Path | str, dst: Path, *, max_seconds: float | None = None) -> float:
            key = (_digest(src), max_seconds)
            if key[0] is None:
                return real(src, dst, max_seconds=max_seconds)
            with self.lock:
                known = self.songs.get(key)
            if known is None:
                duration = real(src, dst, max_seconds=max_seconds)
                kept = self.folder / f"{uuid.uuid4().hex}.m4a"
                shutil.copyfile(dst, kept)
                with self.lock:
                    self.songs[key] = (kept, duration)
                return duration
            kept, duration = known
            part = Path(dst).with_name(f".{uuid.uuid4().hex[:8]}.part")
            shutil.copyfile(kept, part)
            os.replace(part, dst)  # as the real one does: no reader sees half a file
            return duration

        return transcode_song


@contextmanager
def same_input_same_output(folder: Path) -> Iterator[SessionMedia]:
    """Route ``music.analyze`` and ``media.transcode_song`` (the names the app calls) through
    the session's cache; a test may still monkeypatch either on top."""
    cache = SessionMedia(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(music, "analyze", cache.analyzer(music.analyze))
        patch.setattr(media, "transcode_song", cache.transcoder(media.transcode_song))
        yield cache
