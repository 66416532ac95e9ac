"""Timed lyric lines: from pasted text (plain or LRC) or from a transcription model's output."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

LAST_LINE_SECONDS = 5.0  # how long an LRC file's last line is held when nothing follows it
WORD_GAP = 0.8  # a pause this long between words starts a new line
MAX_LINE_CHARS = 60


Word = tuple[float, float, str]  # (start, end, word): when each word is sung, where known


@dataclass(frozen=True)
class LyricLine:
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()  # from a transcription's word times or LRC <mm:ss> stamps

    def to_dict(self) -> dict:
        out: dict = {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}
        if self.words:
            out["words"] = [[round(s, 3), round(e, 3), w] for s, e, w in self.words]
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> LyricLine:
        words = tuple((float(s), float(e), str(w)) for s, e, w in data.get("words") or ())
        return cls(float(data["start"]), float(data["end"]), str(data["text"]), words)

    def moved(self, start: float, end: float, shift: float) -> LyricLine:
        """This line cut to [start, end] of the song and moved by ``shift`` seconds (its
        words too: those outside the cut are dropped)."""
        words = tuple((max(s, start) + shift, min(e, end) + shift, w) for s, e, w in self.words
                      if min(e, end) > max(s, start))
        return LyricLine(max(self.start, start) + shift, min(self.end, end) + shift, self.text, words)


_STAMP = re.compile(r"\[(\d{1,3}):(\d{1,2}(?:[.:]\d{1,3})?)\]")
_TAG = re.compile(r"^\[([a-zA-Z]+):(.*)\]\s*$")
_WORD_STAMP = re.compile(r"<(\d{1,3}):(\d{1,2}(?:[.:]\d{1,3})?)>")


def _seconds(minutes: str, rest: str) -> float:
    seconds, _, frac = rest.replace(":", ".").partition(".")
    return int(minutes) * 60 + int(seconds) + (float(f"0.{frac}") if frac else 0.0)


def is_lrc(text: str) -> bool:
    """True when the text carries LRC time stamps (`[mm:ss.xx] line`)."""
    return any(_STAMP.match(line.strip()) for line in text.splitlines())


def parse_lyrics(text: str, *, duration: float) -> list[LyricLine]:
    """Lines from pasted lyrics.

    LRC (`[mm:ss.xx] text`, several stamps per line, `[offset:+ms]`, enhanced `<mm:ss.xx>` word
    stamps kept as the line's word times): each line lasts until the next stamp; an empty stamped line ends the one
    before it (an instrumental break). Plain lines have no timing: they are spread over
    [0, duration] in proportion to their length, an approximation (use `is_lrc` to tell the user).
    Lines past `duration` are dropped.
    """
    if is_lrc(text):
        return _parse_lrc(text, duration)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    total = sum(len(line) for line in lines)
    out, at = [], 0.0
    for line in lines:
        length = duration * len(line) / total
        out.append(LyricLine(at, min(duration, at + length), line))
        at += length
    return out


def _parse_lrc(text: str, duration: float) -> list[LyricLine]:
    offset = 0.0
    stamped: list[tuple[float, str, list[tuple[float, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        tag = _TAG.match(line)
        if tag and not _STAMP.match(line):
            if tag.group(1).lower() == "offset":
                try:
                    offset = int(tag.group(2).strip()) / 1000  # positive: the lyrics come sooner
                except ValueError:
                    pass
            continue
        times = []
        while m := _STAMP.match(line):
            times.append(_seconds(m.group(1), m.group(2)))
            line = line[m.end():].lstrip()
        words = " ".join(_WORD_STAMP.sub(" ", line).split())
        stamped.extend((t, words, _word_stamps(line) if len(times) == 1 else []) for t in times)
    stamped.sort(key=lambda item: item[0])
    out = []
    for i, (t, words, timed) in enumerate(stamped):
        start = max(0.0, t - offset)
        end = stamped[i + 1][0] - offset if i + 1 < len(stamped) else start + LAST_LINE_SECONDS
        end = min(end, duration)
        if words and start < duration and end > start:
            ends = [at - offset for at, _ in timed[1:]] + [end] if timed else []
            sung = tuple((max(0.0, at - offset), min(stop, end), word) for (at, word), stop in zip(timed, ends, strict=True)
                         if at - offset < end)
            out.append(LyricLine(start, end, words, sung))
    return out


def _word_stamps(line: str) -> list[tuple[float, str]]:
    """Enhanced LRC's `<mm:ss.xx> word` stamps: when each word (or group of words) starts."""
    parts = _WORD_STAMP.split(line)  # text, minutes, seconds, text, ...
    return [(_seconds(parts[i], parts[i + 1]), " ".join(parts[i + 2].split()))
            for i in range(1, len(parts) - 2, 3) if parts[i + 2].strip()]


def from_transcription(output: object) -> list[LyricLine]:
    """Lines from a transcription model's output, whatever its usual shape.

    Accepts Whisper-style `{"segments": [{"start", "end", "text"}]}` (with optional `words`),
    `{"chunks": [{"timestamp": [start, end], "text"}]}`, or a bare list of either. Word-level
    chunks (one word each) are grouped into lines at pauses, sentence ends and `MAX_LINE_CHARS`.
    Raises ValueError when nothing timed is found.
    """
    items = output
    if isinstance(output, Mapping):
        items = output.get("segments") or output.get("chunks") or output.get("words") or []
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ValueError("the transcription has no timed segments")
    timed = [t for t in (_timed(item) for item in items) if t]
    if not timed:
        raise ValueError("the transcription has no timed segments")
    one_word = sum(1 for _, _, text in timed if len(text.split()) <= 1)
    if one_word > len(timed) * 0.8:
        return _group_words(timed)
    return [LyricLine(s, e, text, _segment_words(item)) for (s, e, text), item in
            zip(timed, [i for i in items if _timed(i)], strict=True)]


def _segment_words(item: Mapping) -> tuple[Word, ...]:
    """A Whisper segment's word times (``words``: [{"start", "end", "word"}]), where given."""
    words = item.get("words") if isinstance(item, Mapping) else None
    if not isinstance(words, Sequence) or isinstance(words, str):
        return ()
    return tuple(t for t in (_timed(word) for word in words) if t)


def _timed(item: object) -> tuple[float, float, str] | None:
    if not isinstance(item, Mapping):
        return None
    text = str(item.get("text", item.get("word", ""))).strip()
    start, end = item.get("start"), item.get("end")
    if start is None and isinstance(item.get("timestamp"), Sequence):
        stamp = list(item["timestamp"]) + [None, None]
        start, end = stamp[0], stamp[1]
    if start is None or not text:
        return None
    start = float(start)
    end = float(end) if end is not None else start + 0.5  # a last chunk may have no end
    return (start, max(start, end), text)


def _group_words(words: Iterable[tuple[float, float, str]]) -> list[LyricLine]:
    lines: list[LyricLine] = []
    current: list[tuple[float, float, str]] = []

    def flush() -> None:
        if current:
            lines.append(LyricLine(current[0][0], current[-1][1], " ".join(w for _, _, w in current), tuple(current)))
            current.clear()

    for word in words:
        if current:
            text = " ".join(w for _, _, w in current)
            if word[0] - current[-1][1] >= WORD_GAP or len(text) + len(word[2]) > MAX_LINE_CHARS \
                    or text.endswith((".", "!", "?")):
                flush()
        current.append(word)
    flush()
    return lines


class Span(Protocol):
    start: float
    end: float


def lyrics_in(span: Span, lines: Iterable[LyricLine]) -> list[LyricLine]:
    """The lines sung in a slot: those overlapping it by at least half their length or 1 s."""
    out = []
    for line in lines:
        overlap = min(span.end, line.end) - max(span.start, line.start)
        if overlap > 0 and overlap >= min(1.0, (line.end - line.start) / 2):
            out.append(line)
    return out
