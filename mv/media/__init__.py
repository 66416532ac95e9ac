"""Every ffmpeg call MV Studio makes, one module per concern; callers use ``media.<name>``.

- ``errors``: ``MediaError`` and the plain sentences it carries for people.
- ``ffmpeg``: finding and running ffmpeg; ``atomic_output`` so no reader sees a half-written file.
- ``containers``: the demuxer allow-list (never format auto-detection).
- ``probing``: streams and lengths (PyAV and mutagen, never ffprobe); is it really audio, video, an image.
- ``audio``: the song's AAC copy, sample-accurate slices and trims.
- ``pictures``: a clip's poster frame, a song's waveform, an uploaded picture's check.
- ``frames``: start frames: a picture fitted to a format, the local one, a clip's last frame.
- ``previews``: the local preview renderer's labelled clips, images and lipsync.
- ``stitching``: joining clips under the song, by stream copy where they allow it, verified.
- ``subtitles``: burning captions in with libass.
"""

from __future__ import annotations

from mv.media.audio import cut_audio, transcode_song, trim_audio
from mv.media.containers import container_format, input_args
from mv.media.errors import (
    EMPTY_AUDIO,
    NOT_AUDIO,
    NOT_IMAGE,
    NOT_VIDEO,
    PROCESSING_FAILED,
    PROCESSING_TIMEOUT,
    STITCH_FAILED,
    UNREADABLE,
    MediaError,
)
from mv.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from mv.media.frames import fit_picture, last_frame
from mv.media.pictures import check_picture, poster, waveform_png
from mv.media.previews import lipsync_preview, render_preview_clip, render_preview_image, start_frame_preview
from mv.media.probing import (
    AudioStream,
    MediaInfo,
    VideoStream,
    audio_duration,
    probe,
    require_audio,
    require_image,
    require_video,
)
from mv.media.stitching import STITCHABLE, StitchResult, frame_counts, normalise_clip, stitch
from mv.media.subtitles import burn_captions

__all__ = [
    "EMPTY_AUDIO", "NOT_AUDIO", "NOT_IMAGE", "NOT_VIDEO", "PROCESSING_FAILED", "PROCESSING_TIMEOUT", "STITCHABLE",
    "STITCH_FAILED", "UNREADABLE", "AudioStream", "MediaError", "MediaInfo", "StitchResult", "VideoStream",
    "audio_duration", "burn_captions", "check_picture", "container_format", "cut_audio", "ffmpeg_exe", "fit_picture", "last_frame", "frame_counts", "input_args",
    "lipsync_preview", "normalise_clip", "poster", "probe", "render_preview_clip", "render_preview_image",
    "require_audio", "require_image", "require_video", "run_ffmpeg", "start_frame_preview", "stitch", "transcode_song", "trim_audio",
    "waveform_png",
]
