"""Songs arriving: uploads, downloads by URL (yt-dlp), trims.

A file is accepted only if it decodes as audio (never by its extension). It is
transcoded to AAC once so every later stitch can stream-copy it; the original is kept as
the source for sample-accurate lipsync slices. A track whose files are in sends ``arrived``
in the transaction that stores them; its music analysis is queued on commit
(mv.pipeline.followups).

A request never does that slow work: ``receive_upload`` stores the bytes and ``request_url``
checks the URL, each writes an ``importing`` row and answers; ``finish_import`` (the worker's
``import_track`` task) downloads, checks, transcodes and draws the waveform, then leaves the
row ``analyzing``, or ``failed`` with a plain message and no stored bytes. ``import_upload``
and ``import_url`` do the same in the calling process (make_video, the lipsync API's
``audio_url``, the bench's baseline): their rows are written only once every file is
complete, so an interrupted import never registers a half track.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from mv import files, media, netguard
from mv.models import AudioTrack
from mv.models.audio import arrived

logger = logging.getLogger("mv.audio")


class AudioImportError(Exception):
    """A clear message for the user about why a song was not accepted (what went wrong
    technically is logged, never put in the message)."""


class AudioTooLarge(AudioImportError):
    pass


CONVERT_FAILED = "This song could not be prepared for the video; save it as MP3 or WAV and try again."
DOWNLOAD_FAILED = "Could not download audio from that URL"
MIN_TRIM_SECONDS = 1.0  # a shorter cut is no song to make a video of (and encodes to nothing)


def _limit_bytes() -> int:
    return settings.MV_MAX_UPLOAD_MB * 1024 * 1024


def _too_long() -> str:
    return f"The song is longer than {settings.MV_MAX_SONG_SECONDS / 60:g} minutes, the longest accepted."


@dataclass
class Prepared:
    """A song checked and made ready in a work folder: its AAC copy, waveform and length."""

    aac: Path
    picture: Path
    duration: float
    container: str  # the demuxer its first bytes name: the analysis decodes with it, never auto-detected


def _prepare(source: Path, workdir: Path, check: Callable[[float], None] | None = None) -> Prepared:
    """Check the song (audio, length, decoded size), transcode it and draw its waveform.
    ``check(duration)`` runs before anything is kept: if it raises, the error propagates."""
    try:
        info = media.require_audio(source)
    except media.MediaError as exc:
        logger.info("song refused: %s", exc.detail)
        raise AudioImportError(exc.message) from None
    longest = settings.MV_MAX_SONG_SECONDS
    if info.duration > longest:
        raise AudioTooLarge(_too_long())
    aac = workdir / "song.m4a"
    try:
        duration = media.transcode_song(source, aac, max_seconds=longest)
    except media.MediaError as exc:
        logger.warning("song could not be converted: %s", exc.detail)
        raise AudioImportError(CONVERT_FAILED) from None
    if duration > longest:  # the header understated it: the decoded length is what counts
        raise AudioTooLarge(_too_long())
    if aac.stat().st_size > _limit_bytes():
        raise AudioTooLarge(f"The song is larger than {settings.MV_MAX_UPLOAD_MB} MB once decoded.")
    if check is not None:
        check(duration or info.duration)
    picture = workdir / "waveform.png"
    try:
        media.waveform_png(aac, picture, duration=duration)
    except media.MediaError as exc:
        logger.warning("song waveform failed: %s", exc.detail)
        raise AudioImportError(CONVERT_FAILED) from None
    return Prepared(aac, picture, duration or info.duration, media.container_format(source))


def _register(owner, source: Path, *, title: str, kind: str, url: str = "", parent: AudioTrack | None = None,
              trim: tuple[float, float | None] = (0.0, None),
              check: Callable[[float], None] | None = None) -> AudioTrack:
    """Check, transcode and store the song and its row, here and now (see ``_prepare``): on
    any error no file or row is left behind."""
    with files.workdir() as workdir:
        ready = _prepare(source, workdir, check)
        track = AudioTrack(owner=owner, title=title[:300], source=kind, source_url=url[:2000], parent=parent,
                           trim_start=trim[0], trim_end=trim[1], duration=ready.duration,
                           container=ready.container)
        with transaction.atomic():
            files.store(track.original, source, f"{track.pk}{source.suffix.lower() or '.bin'}")
            files.store(track.file, ready.aac, f"{track.pk}.m4a")
            files.store(track.waveform, ready.picture, f"{track.pk}.png")
            track.analysis_status = AudioTrack.AnalysisStatus.ANALYZING
            track.save()
            arrived.send(sender=AudioTrack, track=track)
    return track


def _title_from_tags(path: Path, fallback: str) -> str:
    try:
        import mutagen

        tags = mutagen.File(str(path), easy=True)
        if tags and tags.get("title"):
            return str(tags["title"][0])
    except Exception:  # tags are a nicety; any parser error just means "no title"
        pass
    return fallback


def _upload_name(uploaded: UploadedFile) -> tuple[str, str]:
    """(the file's name, a safe suffix for storing it)."""
    name = Path(uploaded.name or "upload").name
    suffix = Path(name).suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ".bin"
    return name, suffix


def _check_size(uploaded: UploadedFile) -> None:
    if uploaded.size is not None and uploaded.size > _limit_bytes():
        raise AudioTooLarge(f"The file is {uploaded.size / 1e6:.1f} MB; the limit is {settings.MV_MAX_UPLOAD_MB} MB.")


def import_upload(owner, uploaded: UploadedFile) -> AudioTrack:
    """The upload checked, transcoded and registered here and now (make_video, the bench's baseline)."""
    _check_size(uploaded)
    name, suffix = _upload_name(uploaded)
    with files.workdir() as workdir:
        local = workdir / f"upload{suffix}"
        with open(local, "wb") as fh:
            for chunk in uploaded.chunks():
                fh.write(chunk)
        return _register(owner, local, title=_title_from_tags(local, Path(name).stem), kind=AudioTrack.Source.UPLOAD)


def receive_upload(owner, uploaded: UploadedFile) -> AudioTrack:
    """Store the uploaded bytes as an ``importing`` track (its size was limited while it
    arrived: mv.uploads); nothing is decoded here. The caller queues ``finish_import``
    (mv.pipeline.songs.receive_upload)."""
    _check_size(uploaded)
    name, suffix = _upload_name(uploaded)
    track = AudioTrack(owner=owner, title=Path(name).stem[:300], source=AudioTrack.Source.UPLOAD,
                       analysis_status=AudioTrack.AnalysisStatus.IMPORTING)
    track.original.save(f"{track.pk}{suffix}", uploaded, save=False)
    try:
        track.save(force_insert=True)
    except BaseException:
        track.original.delete(save=False)  # no row: no bytes either
        raise
    return track


def request_url(owner, url: str) -> AudioTrack:
    """An ``importing`` track for a song at ``url``: the URL is checked against the network
    guard now; the download runs in ``finish_import``, through the guard and the size limit."""
    _check_url(url)
    return AudioTrack.objects.create(owner=owner, title=(Path(url.split("?")[0]).stem or "Downloaded audio")[:300],
                                     source=AudioTrack.Source.URL, source_url=url[:2000],
                                     analysis_status=AudioTrack.AnalysisStatus.IMPORTING)


def finish_import(track: AudioTrack) -> None:
    """The worker's part of an import (``mv.tasks.import_track``): download a URL, check,
    transcode, draw the waveform, then mark the track ``analyzing`` (``arrived`` queues its
    analysis). A song that is refused leaves the track ``failed`` with the plain message and
    no bytes."""
    try:
        with files.workdir() as workdir:
            if track.source == AudioTrack.Source.URL:
                source, title = _download(track.source_url, workdir)
                ready = _prepare(source, workdir)
                _land(track, ready, source, title)
            else:
                with files.local_path(track.original) as source:
                    ready = _prepare(source, workdir)
                    _land(track, ready, None, _title_from_tags(source, track.title))
    except AudioImportError as exc:
        fail_import(track, str(exc))


def _land(track: AudioTrack, ready: Prepared, downloaded: Path | None, title: str) -> None:
    """Store the import's files and move the track on to ``analyzing``, once (a track deleted
    or imported meanwhile keeps what it has; the files stored here then go again)."""
    if downloaded is not None:
        files.store(track.original, downloaded, f"{track.pk}{downloaded.suffix.lower() or '.bin'}")
    files.store(track.file, ready.aac, f"{track.pk}.m4a")
    files.store(track.waveform, ready.picture, f"{track.pk}.png")
    track.title, track.duration, track.container = title[:300], ready.duration, ready.container
    track.analysis_status = AudioTrack.AnalysisStatus.ANALYZING
    fields = ["original", "file", "waveform", "title", "duration", "container", "analysis_status"]
    with transaction.atomic():
        if AudioTrack.objects.select_for_update().filter(pk=track.pk, analysis_status=AudioTrack.AnalysisStatus.IMPORTING) \
                .update(**{name: getattr(track, name) for name in fields}):
            arrived.send(sender=AudioTrack, track=track)
            return
    names = [track.file.name, track.waveform.name] + ([track.original.name] if downloaded is not None else [])
    for name in names:
        track.file.storage.delete(name)


def fail_import(track: AudioTrack, message: str) -> None:
    """The track failed with ``message`` and without its stored bytes; the scene plans waiting
    for it hear so in the same transaction (``AudioTrack.analysis_failed``)."""
    stored = track.original.name
    with transaction.atomic():
        if not AudioTrack.objects.filter(pk=track.pk, analysis_status=AudioTrack.AnalysisStatus.IMPORTING) \
                .update(original=""):
            return
        track.original.name = ""
        track.analysis_failed(message)
        if stored:
            storage = track.original.storage
            transaction.on_commit(lambda: storage.delete(stored))


def import_url(owner, url: str, *, check: Callable[[float], None] | None = None) -> AudioTrack:
    """Any URL yt-dlp supports, including a direct link to an audio file, imported here and
    now. ``check`` sees the song's length before it is registered (see ``_prepare``)."""
    _check_url(url)
    with files.workdir() as workdir:
        path, title = _download(url, workdir)
        return _register(owner, path, title=title, kind=AudioTrack.Source.URL, url=url, check=check)


def _check_url(url: str) -> None:
    try:
        netguard.check_url(url)
    except netguard.FetchError as exc:
        raise _download_failed(exc) from None


def _download(url: str, workdir: Path) -> tuple[Path, str]:
    """The song at ``url`` in ``workdir``, and its title. Every request yt-dlp makes passes the
    network guard and counts against the size limit (see mv.netguard)."""
    import yt_dlp

    options = {
        "format": "bestaudio/best",
        "outtmpl": str(workdir / "download.%(ext)s"),
        "quiet": True,
        "no_warnings": True,
        "noplaylist": True,
        "socket_timeout": 30,
        "retries": 1,
        "fragment_retries": 1,
        "logger": logging.getLogger("mv.audio.yt_dlp"),
        "ffmpeg_location": media.ffmpeg_exe(),  # for its container fix-ups, where no ffmpeg is on PATH
    }
    ydl = netguard.youtube_dl(options, limit_bytes=_limit_bytes())
    try:
        with ydl:
            info = ydl.extract_info(url, download=True)
    except (yt_dlp.utils.YoutubeDLError, netguard.FetchError):  # yt-dlp's message may tell open ports from closed
        if isinstance(ydl.guard.failure, netguard.TooLarge):
            raise AudioTooLarge(f"The download is larger than {settings.MV_MAX_UPLOAD_MB} MB.") from None
        raise _download_failed(ydl.guard.failure) from None
    downloaded = [p for p in workdir.iterdir() if p.name.startswith("download.") and not p.name.endswith(".part")]
    if not downloaded:
        raise AudioImportError(f"{DOWNLOAD_FAILED} (nothing was saved; is it over the "
                               f"{settings.MV_MAX_UPLOAD_MB} MB limit?).")
    path = downloaded[0]
    if path.stat().st_size > _limit_bytes():
        raise AudioTooLarge(f"The download is larger than {settings.MV_MAX_UPLOAD_MB} MB.")
    title = (info or {}).get("title") or Path(url.split("?")[0]).stem or "Downloaded audio"
    return path, str(title)


def _download_failed(failure: netguard.FetchError | None) -> AudioImportError:
    """One plain message, with the guard's reason when it is more than "it failed"."""
    if failure is None or str(failure) == netguard.COULD_NOT_DOWNLOAD:
        return AudioImportError("Could not download audio from that URL.")
    return AudioImportError(f"Could not download audio from that URL: {failure}.")


def trim(track: AudioTrack, start_at: float, end_at: float | None = None) -> AudioTrack:
    """A new track cut from this one (the original is kept)."""
    start_at, end_at = track.check_range(start_at, end_at, names=("start_at", "end_at"))
    if end_at is not None and end_at - start_at < MIN_TRIM_SECONDS:
        raise AudioImportError(f"The part to keep is {max(0.0, end_at - start_at):.2f} s long; "
                               f"keep at least {MIN_TRIM_SECONDS:g} s of the song.")
    with files.workdir() as workdir, files.local_path(track.original or track.file) as source:
        out = workdir / "trim.m4a"
        try:
            media.trim_audio(source, start_at, end_at, out)
        except media.MediaError as exc:
            logger.warning("trim of track %s failed: %s", track.pk, exc.detail)
            raise AudioImportError("The song could not be cut at those times; please try again.") from None
        copy = workdir / "trimmed.m4a"
        shutil.copyfile(out, copy)
        title = f"{track.title} (from {start_at:g} s)" if track.title else f"Trim from {start_at:g} s"
        return _register(track.owner, copy, title=title, kind=AudioTrack.Source.TRIM, parent=track,
                         trim=(start_at, end_at))

