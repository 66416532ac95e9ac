"""Songs arriving: uploads, downloads by URL (yt-dlp), trims.

A file is accepted only if it decodes as audio (never by its extension). It is
transcoded to AAC once, here, so every later stitch can stream-copy it; the original is
kept as the source for sample-accurate lipsync slices. Rows are written only once every
file is complete, so an interrupted upload never registers a half track. Each new track's
music analysis is queued when its row commits (mv.pipeline.songs).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from mv import files, media, netguard, tasks
from mv.models import AudioTrack

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


def _register(owner, source: Path, *, title: str, kind: str, url: str = "", parent: AudioTrack | None = None,
              trim: tuple[float, float | None] = (0.0, None),
              check: Callable[[float], None] | None = None) -> AudioTrack:
    """Store the song and its row. ``check(duration)`` runs before anything is stored: if
    it raises, the error propagates and no file or row is left behind."""
    try:
        info = media.require_audio(source)
    except media.MediaError as exc:
        logger.info("song refused: %s", exc.detail)
        raise AudioImportError(exc.message) from None
    longest = settings.MV_MAX_SONG_SECONDS
    if info.duration > longest:
        raise AudioTooLarge(_too_long())
    with files.workdir() as workdir:
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
        track = AudioTrack(owner=owner, title=title[:300], source=kind, source_url=url[:2000], parent=parent,
                           trim_start=trim[0], trim_end=trim[1], duration=duration or info.duration,
                           container=media.container_format(source))
        with transaction.atomic():
            files.store(track.original, source, f"{track.pk}{source.suffix.lower() or '.bin'}")
            files.store(track.file, aac, f"{track.pk}.m4a")
            files.store(track.waveform, picture, f"{track.pk}.png")
            track.save()
            tasks.analyze_later(track.pk)
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


def import_upload(owner, uploaded: UploadedFile) -> AudioTrack:
    if uploaded.size is not None and uploaded.size > _limit_bytes():
        raise AudioTooLarge(f"The file is {uploaded.size / 1e6:.1f} MB; the limit is {settings.MV_MAX_UPLOAD_MB} MB.")
    name = Path(uploaded.name or "upload").name
    suffix = Path(name).suffix.lower()
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ".bin"
    with files.workdir() as workdir:
        local = workdir / f"upload{suffix}"
        with open(local, "wb") as fh:
            for chunk in uploaded.chunks():
                fh.write(chunk)
        return _register(owner, local, title=_title_from_tags(local, Path(name).stem), kind=AudioTrack.Source.UPLOAD)


def import_url(owner, url: str, *, check: Callable[[float], None] | None = None) -> AudioTrack:
    """Any URL yt-dlp supports, including a direct link to an audio file. Every request yt-dlp
    makes passes the network guard and counts against the size limit (see mv.netguard).
    ``check`` sees the song's length before it is registered (see ``_register``)."""
    import yt_dlp

    try:
        netguard.check_url(url)
    except netguard.FetchError as exc:
        raise _download_failed(exc) from None
    with files.workdir() as workdir:
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
        return _register(owner, path, title=str(title), kind=AudioTrack.Source.URL, url=url, check=check)


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

