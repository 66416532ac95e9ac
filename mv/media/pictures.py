"""Still pictures made from media: a clip's poster frame and a song's waveform."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av

from mv.media.containers import input_args, open_container
from mv.media.errors import PROCESSING_FAILED, MediaError
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import audio_duration


def poster(src: Path | str, dst: Path, *, at: float = 0.5) -> None:
    """One frame of a video as a JPEG, for its card and thumbnail: the first frame at or after
    ``at`` seconds (else the last one), made in this process: an ffmpeg process for one frame
    cost 5x the CPU of decoding it here, once per clip."""
    frame = None
    try:
        with open_container(src) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            container.seek(int(at * av.time_base))  # the keyframe before it
            for frame in container.decode(stream):
                if frame.time is None or frame.time >= at:
                    break
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(PROCESSING_FAILED, f"no poster frame in {src}: {exc!r}") from None
    if frame is None:
        raise MediaError(PROCESSING_FAILED, f"no poster frame in {src}: nothing decoded")
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.qmin = encoder.qmax = 4  # a fixed quantiser, as ffmpeg's -q:v 4
    packets = encoder.encode(frame.reformat(format="yuvj420p")) + encoder.encode(None)
    with atomic_output(dst) as tmp:
        tmp.write_bytes(b"".join(bytes(p) for p in packets))


def waveform_png(src: Path | str, dst: Path, *, marks: Sequence[float] = (), duration: float | None = None,
                 width: int = 1200, height: int = 160) -> None:
    """A picture of the song with a line at each clip boundary."""
    duration = duration or audio_duration(src)
    chain = [f"showwavespic=s={width}x{height}:split_channels=0:colors=0x7c6cff"]
    for mark in marks:
        if 0 < mark < duration:
            x = int(round(mark / duration * (width - 2)))
            chain.append(f"drawbox=x={x}:y=0:w=2:h={height}:color=0xffb020@0.9:t=fill")
    with atomic_output(dst) as tmp:
        run_ffmpeg([*input_args(src), "-i", src, "-filter_complex", ",".join(chain), "-frames:v", "1", "-f", "image2",
                    tmp])


PICTURE_DEMUXERS = {"png": "png_pipe", "jpg": "jpeg_pipe", "webp": "webp_pipe"}
MAX_PICTURE_PIXELS = 40_000_000


def check_picture(path: Path | str) -> tuple[str, int, int]:
    """An uploaded picture that really is one: PNG, JPEG or WebP by its first bytes, and one
    frame of it decodes (a renamed file or a truncated one does not). Returns (its format,
    width, height)."""
    from mv.media.errors import NOT_IMAGE
    from mv.media.probing import require_image

    kind = require_image(path)
    try:
        with av.open(str(path), format=PICTURE_DEMUXERS[kind], options={"protocol_whitelist": "file"}) as container:
            stream = container.streams.video[0]
            if stream.codec_context.width * stream.codec_context.height > MAX_PICTURE_PIXELS:
                raise MediaError(NOT_IMAGE, f"{path}: {stream.codec_context.width}x{stream.codec_context.height} is too large")
            frame = next(container.decode(stream))
    except (av.FFmpegError, OSError, ValueError, IndexError, StopIteration) as exc:
        raise MediaError(NOT_IMAGE, f"{path}: does not decode: {exc}") from None
    return kind, frame.width, frame.height
