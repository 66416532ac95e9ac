"""Captions: a video's lyric lines on its own clock, written as SRT, WebVTT or an ASS script
for libass to burn in (styled for the video's shape, words lit as they are sung where their
times are known)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mv.music.lyrics import LyricLine

MIN_CUE = 0.2  # a line clipped to less than this at the video's edge is not shown


def video_cues(lines: Iterable[LyricLine], start: float, end: float) -> list[LyricLine]:
    """The lines sung in [start, end] of the song, moved to the video's clock (song time
    minus ``start``) and clipped to the video's [0, end - start]."""
    out = []
    for line in lines:
        if line.end <= start or line.start >= end:
            continue
        moved = line.moved(start, end, -start)
        if moved.end - moved.start >= MIN_CUE:
            out.append(moved)
    return out


def _stamp(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def _one_line(text: str) -> str:
    return " ".join(text.split())  # no blank line inside a cue (it would end it)


def to_srt(cues: Sequence[LyricLine]) -> str:
    blocks = [f"{i}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{_one_line(c.text)}\n"
              for i, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def to_vtt(cues: Sequence[LyricLine]) -> str:
    def escape(text: str) -> str:
        return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    blocks = [f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{escape(c.text)}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


# ASS colours are &HAABBGGRR: white lines; sung words turn warm yellow.
WHITE, YELLOW, SHADOW = "&H00FFFFFF", "&H0000D7FF", "&H80000000"


def to_ass(cues: Sequence[LyricLine], width: int, height: int) -> str:
    """An ASS script at the video's own resolution. Landscape: text near the bottom, sized on
    the height; portrait (9:16): larger against the width and higher up, clear of the
    controls phone apps draw at the bottom. Lines with word times fill word by word (\\kf)."""
    portrait = height > width
    size = round(width * 0.075) if portrait else round(height * 0.065)
    margin_v = round(height * (0.16 if portrait else 0.06))
    margin_h = round(width * 0.06)
    outline = max(1, round(size * 0.08))

    def style(name: str, primary: str, secondary: str) -> str:
        return (f"Style: {name},DejaVu Sans,{size},{primary},{secondary},&H00000000,{SHADOW},-1,0,0,0,100,100,0,0,1,"
                f"{outline},{max(1, outline // 2)},2,{margin_h},{margin_h},{margin_v},1")

    head = [
        "[Script Info]", "ScriptType: v4.00+", f"PlayResX: {width}", f"PlayResY: {height}", "WrapStyle: 0",
        "ScaledBorderAndShadow: yes", "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
        "MarginR, MarginV, Encoding",
        style("Line", WHITE, WHITE), style("Sung", YELLOW, WHITE), "",
        "[Events]", "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    events = [f"Dialogue: 0,{_ass_time(c.start)},{_ass_time(c.end)},{'Sung' if c.words else 'Line'},,0,0,0,,"
              f"{_karaoke(c) if c.words else _ass_text(c.text)}" for c in cues]
    return "\n".join(head + events) + "\n"


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    hours, cs = divmod(cs, 360_000)
    minutes, cs = divmod(cs, 6000)
    secs, cs = divmod(cs, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{cs:02d}"


def _ass_text(text: str) -> str:
    """Plain text for an ASS event: braces would open override tags, a backslash an escape."""
    return _one_line(text).replace("\\", "\u29f5").replace("{", "(").replace("}", ")")


def _karaoke(cue: LyricLine) -> str:
    """Each word fills in while it is sung; the silence before it waits unfilled (\\k)."""
    parts, at = [], cue.start
    for start, end, word in cue.words:
        if start > at:
            parts.append(f"{{\\k{round((start - at) * 100)}}}")
        parts.append(f"{{\\kf{max(1, round((end - max(start, at)) * 100))}}}{_ass_text(word)} ")
        at = max(at, end)
    return "".join(parts).rstrip()
