"""The one error type of mv.media and the plain sentences it carries for people."""

from __future__ import annotations

NOT_AUDIO = "This file isn't audio we can read — MP3, WAV, M4A, OGG or FLAC work."
NOT_VIDEO = "This file isn't a video we can read — MP4, MOV or WebM work."
NOT_IMAGE = "This file isn't an image we can read — PNG, JPEG or WebP work."
UNREADABLE = "This file can't be read: it may be damaged, or in a format we don't support."
EMPTY_AUDIO = "This song is empty (no sound to use); pick another file."
PROCESSING_FAILED = "Processing the media failed on our side; please try again."
PROCESSING_TIMEOUT = "Processing the media took too long and was stopped; please try again."
STITCH_FAILED = "The clips could not be joined into one video; stitching again usually fixes it."


class MediaError(Exception):
    """ffmpeg failed, or a file is not the media it claims to be.

    ``str(error)`` / ``message`` is a plain sentence for people (pages, the API, commands);
    ``detail`` holds what ffmpeg or PyAV said, with file names, for the log only."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message
