"""With media in S3 (moto's server), a stitch fetches the clips and the song it lacks at
once, in parallel, and keeps them in this machine's file cache: a re-stitch downloads
nothing. The cache stays under its size limit and is safe to share between processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mv import audio, media
from mv.filecache import FileCache
from mv.models import Clip, JobStatus
from mv.pipeline import stitching
from tests.factories import finished_clip, written_project
from tests.test_scaleout import s3_endpoint, s3_storage  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


@pytest.fixture
def downloads(s3_storage, monkeypatch):  # noqa: F811
    """Every file opened for reading from S3, by name; ``downloads.together(n)`` makes each
    download wait until n are in flight at once (it fails after 20 s if they never are)."""
    from storages.backends.s3 import S3Storage

    class Downloads(list):
        barrier: threading.Barrier | None = None

        def together(self, parties: int) -> None:
            self.barrier = threading.Barrier(parties, timeout=20)

    seen = Downloads()
    real = S3Storage._open

    def counting(storage, name, mode="rb"):
        seen.append(name)
        if seen.barrier is not None:
            seen.barrier.wait()
        return real(storage, name, mode)

    monkeypatch.setattr(S3Storage, "_open", counting)
    return seen


def s3_project(user, clip_mp4, song_mp3, scenes: int = 3):
    track = audio.import_upload(user, SimpleUploadedFile("song.mp3", song_mp3.read_bytes(), "audio/mpeg"))
    project = written_project(user, scenes=scenes, audio_track=track, seconds=2.0)
    for scene in project.scenes.all():
        clip = finished_clip(scene, clip_mp4, duration=2.0)
        Clip.objects.filter(pk=clip.pk).update(media=media.probe(clip_mp4).to_dict())
    return project


def test_a_restitch_on_s3_downloads_nothing_it_already_has(user, clip_mp4, song_mp3, downloads, tmp_path):
    project = s3_project(user, clip_mp4, song_mp3)
    downloads.clear()
    first = stitching.restitch_project(project)
    first.refresh_from_db()
    assert first.status == JobStatus.SUCCEEDED, first.error
    clip_names = {s.current_clip.file.name for s in project.scenes.select_related("current_clip")}
    assert sorted(downloads) == sorted([*clip_names, project.audio_track.file.name])  # each once
    downloads.clear()
    again = stitching.restitch_project(project)
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert downloads == []
    out = tmp_path / "again.mp4"
    with again.file.open("rb") as fh:
        out.write_bytes(fh.read())
    assert media.probe(out).video.duration == pytest.approx(6.0, abs=0.05)


def test_a_stitch_fetches_its_clips_and_song_from_s3_in_parallel(user, clip_mp4, song_mp3, downloads):
    project = s3_project(user, clip_mp4, song_mp3, scenes=3)
    downloads.clear()
    downloads.together(4)  # three clips and the song: each waits until all four are downloading
    stitch = stitching.restitch_project(project)
    stitch.refresh_from_db()
    assert stitch.status == JobStatus.SUCCEEDED, stitch.error
    assert len(downloads) == 4 and not downloads.barrier.broken


def test_the_cache_stays_under_its_limit_evicting_the_least_recently_used(tmp_path):
    cache = FileCache(tmp_path / "cache", limit=250_000)
    for name in "abc":
        source = tmp_path / f"{name}.bin"
        source.write_bytes(name.encode() * 100_000)
        cache.keep(name, source)
        if name == "b":
            assert cache.take("a", tmp_path / "a-used.bin")  # "a" used again after "b" arrived
    entries = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert sum(p.stat().st_size for p in entries) <= 250_000
    assert cache.take("a", tmp_path / "a2.bin") and cache.take("c", tmp_path / "c2.bin")
    assert not cache.take("b", tmp_path / "b2.bin")  # the least recently used went
    assert (tmp_path / "a2.bin").read_bytes() == b"a" * 100_000
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 300_000)
    cache.keep("big", big)
    assert not cache.take("big", tmp_path / "big2.bin")  # larger than the whole cache: not kept


def test_a_file_taken_from_the_cache_outlives_its_eviction(tmp_path):
    cache = FileCache(tmp_path / "cache", limit=150_000)
    for name in "ab":
        (tmp_path / name).write_bytes(name.encode() * 100_000)
    cache.keep("a", tmp_path / "a")
    assert cache.take("a", tmp_path / "mine.bin")
    cache.keep("b", tmp_path / "b")  # evicts "a"
    assert not cache.take("a", tmp_path / "other.bin")
    assert (tmp_path / "mine.bin").read_bytes() == b"a" * 100_000


WRITER = """
import os, sys
from pathlib import Path
from mv.filecache import FileCache
folder, body = Path(sys.argv[1]), bytes(range(256)) * 8192
cache = FileCache(folder, limit=3 * len(body) // 2)  # room for one entry: every keep evicts
for turn in range(30):
    for key in ("song", f"clip-{os.getpid()}"):
        fetched = folder.parent / f"fetched-{os.getpid()}-{turn}-{key}"
        with open(fetched, "wb") as fh:  # as a download arrives, piece by piece
            for at in range(0, len(body), 65536):
                fh.write(body[at:at + 65536])
        cache.keep(key, fetched)
        fetched.unlink()
"""


def test_processes_sharing_the_cache_never_see_half_a_file(tmp_path):
    body = bytes(range(256)) * 8192  # 2 MB, as the writers make it
    folder = tmp_path / "cache"
    root = Path(__file__).resolve().parents[1]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder)], cwd=root, stderr=subprocess.PIPE)
               for _ in range(2)]
    cache, seen = FileCache(folder, limit=3 * len(body) // 2), 0
    while any(w.poll() is None for w in writers):
        target = tmp_path / f"read-{seen}.bin"
        if cache.take("song", target):
            assert target.read_bytes() == body
            target.unlink()
            seen += 1
    assert [w.returncode for w in writers] == [0, 0], [w.stderr.read()[-2000:] for w in writers]
    assert seen > 0 and not [p for p in folder.iterdir() if p.name.startswith(".part-")]
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert sum(p.stat().st_size for p in entries) <= 3 * len(body) // 2
