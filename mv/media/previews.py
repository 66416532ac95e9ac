"""The local preview renderer's media: clearly labelled clips, images and "lipsync" made on
this machine with ffmpeg when no model is used (never passed off as a model's output)."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

from mv.media.containers import input_args
from mv.media.ffmpeg import atomic_output, run_ffmpeg
from mv.media.probing import require_video
from mv.media.stitching import STITCHABLE


def _font() -> str:
    for candidate in ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        if Path(candidate).is_file():
            return f"fontfile={candidate}:"
    return ""


def _text_file(workdir: Path, text: str, width: int) -> Path:
    """drawtext reads its text from a file (with expansion=none), so no user text is ever parsed as
    filter syntax or expanded as %{...}."""
    path = workdir / f"text-{uuid.uuid4().hex[:8]}.txt"
    path.write_text("\n".join(textwrap.wrap(" ".join(text.split()), width=width)[:4]), encoding="utf-8")
    return path


def _palette(seed: int) -> tuple[str, str, str]:
    hues = ["0x2b1055", "0x7597de", "0xff6b6b", "0x1dd1a1", "0xfeca57", "0x5f27cd", "0x00d2d3", "0xee5253"]
    return hues[seed % 8], hues[(seed // 8 + 3) % 8], hues[(seed // 64 + 5) % 8]


def render_preview_clip(dst: Path, *, label: str, text: str, duration: float = 8.0, size: str = "640x360",
                        seed: int = 0, with_audio: bool = True) -> None:
    """The offline renderer: an animated, clearly labelled H.264/AAC clip (not a model's output)."""
    dst = Path(dst)
    width, height = (int(n) for n in size.split("x"))
    # Text sized by the short side and wrapped to the width, so a portrait frame fits it too.
    title_size, caption_size = min(min(width, height) // 12, width // 14), min(width, height) // 22
    c0, c1, c2 = _palette(seed)
    caption = _text_file(dst.parent, text, width=max(20, int(width / caption_size / 0.85)))
    title = _text_file(dst.parent, f"LOCAL PREVIEW  {label}", width=200)
    labels = _title_and_caption(title, caption, sizes=(str(title_size), str(caption_size)), rows=("h/10", "h*0.62"), title_box=0.55)
    video = f"[0:v]{labels},drawbox=x='(w-60)*t/{duration:.3f}':y=h-14:w=60:h=8:color=white@0.8:t=fill[v]"
    args: list[str | Path] = [
        "-f", "lavfi", "-i", f"gradients=s={size}:r=24:d={duration:.3f}:c0={c0}:c1={c1}:c2={c2}:speed=0.03:seed={seed % 100000}",
    ]
    if with_audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency={180 + seed % 400}:duration={duration:.3f}:sample_rate=44100"]
    args += ["-filter_complex", video, "-map", "[v]"]
    if with_audio:
        args += ["-map", "1:a", "-c:a", "aac", "-b:a", "96k", "-ac", "2"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", *STITCHABLE, "-pix_fmt", "yuv420p", "-r", "24",
             "-t", f"{duration:.3f}", "-movflags", "+faststart", "-f", "mp4"]
    try:
        with atomic_output(dst) as tmp:
            run_ffmpeg([*args, tmp])
    finally:
        caption.unlink(missing_ok=True)
        title.unlink(missing_ok=True)


def _title_and_caption(title: Path, caption: Path, *, sizes: tuple[str, str], rows: tuple[str, str],
                       title_box: float) -> str:
    """Two centred drawtext filters, each reading its text literally from a file."""
    font = _font()
    return (
        f"drawtext={font}expansion=none:textfile='{title}':fontsize={sizes[0]}:fontcolor=white:box=1:"
        f"boxcolor=black@{title_box}:boxborderw=8:x=(w-tw)/2:y={rows[0]},"
        f"drawtext={font}expansion=none:textfile='{caption}':fontsize={sizes[1]}:line_spacing=6:fontcolor=white:box=1:"
        f"boxcolor=black@0.4:boxborderw=8:x=(w-tw)/2:y={rows[1]}"
    )


def render_preview_image(dst: Path, *, label: str, text: str, size: str = "512x512", seed: int = 0) -> None:
    dst = Path(dst)
    c0, c1, c2 = _palette(seed)
    caption = _text_file(dst.parent, text, width=30)
    title = _text_file(dst.parent, f"LOCAL PREVIEW  {label}", width=200)
    chain = _title_and_caption(title, caption, sizes=("h/16", "h/26"), rows=("h/12", "h*0.6"), title_box=0.5)
    try:
        with atomic_output(dst) as tmp:
            run_ffmpeg(["-f", "lavfi", "-i", f"gradients=s={size}:c0={c0}:c1={c1}:c2={c2}:seed={seed % 100000}",
                        "-vf", chain, "-frames:v", "1", "-f", "image2", "-c:v", "png", tmp])
    finally:
        caption.unlink(missing_ok=True)
        title.unlink(missing_ok=True)


def lipsync_preview(video: Path | str, audio_wav: Path | str, dst: Path) -> None:
    """The offline "lipsync": the song slice replaces the clip's sound, with a visible
    audio-reactive waveform so one can see the slice is the right one."""
    dst = Path(dst)
    info = require_video(video)
    assert info.video is not None
    w, h = info.video.width, info.video.height
    title = _text_file(dst.parent, "LOCAL LIPSYNC PREVIEW", width=200)
    graph = (
        f"[1:a]apad,asplit[a1][a2];[a2]showwaves=s={w}x{max(16, h // 4)}:mode=cline:rate=24:colors=0xffffff[wv];"
        f"[0:v][wv]overlay=0:H-h:shortest=0,drawtext={_font()}expansion=none:textfile='{title}':fontsize=h/16:fontcolor=white:"
        f"box=1:boxcolor=0xd6336c@0.8:boxborderw=8:x=w-tw-16:y=16[v]"
    )
    try:
        with atomic_output(dst) as tmp:
            run_ffmpeg([*input_args(video), "-i", video, *input_args(audio_wav), "-i", audio_wav,
                        "-filter_complex", graph, "-map", "[v]", "-map", "[a1]",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "24", *STITCHABLE, "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-b:a", "128k", "-t", f"{info.video.duration or info.duration:.3f}",
                        "-movflags", "+faststart", "-f", "mp4", tmp])
    finally:
        title.unlink(missing_ok=True)



# A four-chord progression (C, G, Am, F as root and third ratio), one chord a bar.
_CHORDS = ((261.63, 1.2599), (196.00, 1.2599), (220.00, 1.1892), (174.61, 1.2599))


def render_preview_song(dst: Path, *, seconds: float, seed: int = 0) -> float:
    """The offline renderer's song: a real, plain instrumental made here with ffmpeg (a chord a
    bar, a kick on every beat, a hat between), at a tempo picked from ``seed`` (96-135 BPM), as
    a 44.1 kHz stereo WAV of exactly ``seconds``. Never a model's music. Returns the tempo."""
    bpm = 96 + seed % 40
    beat = 60.0 / bpm
    bar = 4 * beat
    root = "if(eq(ld(1),0),{0},if(eq(ld(1),1),{1},if(eq(ld(1),2),{2},{3})))"
    third = root.format(*(f"{r * t:.2f}" for r, t in _CHORDS))
    root = root.format(*(f"{r:.2f}" for r, _ in _CHORDS))
    expr = (f"st(1,mod(floor(t/{bar:.6f}),4));st(0,{root});st(2,{third});"
            f"0.1*(sin(2*PI*ld(0)*t)+sin(2*PI*ld(2)*t)+sin(2*PI*ld(0)*1.4983*t))"
            f"+0.6*sin(2*PI*55*t)*exp(-14*mod(t,{beat:.6f}))"
            f"+0.06*(random(3)*2-1)*exp(-45*mod(t+{beat / 2:.6f},{beat:.6f}))")
    with atomic_output(Path(dst)) as tmp:
        run_ffmpeg(["-f", "lavfi", "-i", f"aevalsrc='{expr}':s=44100:d={seconds:.3f}", "-ac", "2",
                    "-c:a", "pcm_s16le", "-f", "wav", tmp])
    return float(bpm)
