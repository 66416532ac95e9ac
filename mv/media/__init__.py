"""Every ffmpeg call MV Studio makes, one module per concern; callers use ``media.<name>``.

- ``errors``: ``MediaError`` and the plain sentences it carries for people.
- ``ffmpeg``: finding and running ffmpeg; ``atomic_output`` so no reader sees a half-written file.
- ``containers``: the demuxer allow-list (never format auto-detection).
- ``probing``: streams and lengths (PyAV and mutagen, never ffprobe); is it really audio, video, an image.
- ``audio``: the song's AAC copy, sample-accurate slices and trims.
- ``pictures``: a clip's poster frame, a song's waveform.
- ``previews``: the local preview renderer's labelled clips, images and lipsync.
- ``encoding``: re-encoding a clip to the stitch's format with our encoder's headers.
- ``parts``: a clip made ready for its slot (trimmed, in the stitch's format), by copy as far as its stream allows.
- ``stitching``: joining clips under the song, by stream copy where they allow it, verified.
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
from mv.media.pictures import poster, waveform_png
from mv.media.previews import lipsync_preview, render_preview_clip, render_preview_image, render_preview_song
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
from mv.media.parts import Made, Store, Stored, format_key, make_part
from mv.media.stitching import STITCHABLE, StitchResult, frame_counts, normalise_clip, plan, stitch

__all__ = [
    "EMPTY_AUDIO", "NOT_AUDIO", "NOT_IMAGE", "NOT_VIDEO", "PROCESSING_FAILED", "PROCESSING_TIMEOUT", "STITCHABLE",
    "STITCH_FAILED", "UNREADABLE", "AudioStream", "MediaError", "MediaInfo", "StitchResult", "VideoStream",
    "audio_duration", "container_format", "cut_audio", "ffmpeg_exe", "frame_counts", "input_args",
    "lipsync_preview", "Made", "Store", "Stored", "format_key", "make_part", "normalise_clip", "plan", "poster", "probe", "render_preview_clip", "render_preview_image", "render_preview_song",
    "require_audio", "require_image", "require_video", "run_ffmpeg", "stitch", "transcode_song", "trim_audio",
    "waveform_png",
]
