"""What a person may read about a failure: never a path, errno or exception text.

Full details go to the server log; rows, pages and the API get the plain sentence."""

from __future__ import annotations

import re

# An absolute path inside a tool's message: "/tmp/mv-x1/clip.mp4" -> "clip.mp4".
_PATH = re.compile(r"(?<![\w.])(?:/[\w.+%@-]+)+/?")


def without_paths(text: str) -> str:
    """Each absolute path in text replaced by its last part."""
    return _PATH.sub(lambda m: m.group().rstrip("/").rsplit("/", 1)[-1] or "/", text)


def public_message(exc: BaseException) -> str:
    """A short, path-free description of an unexpected failure."""
    from mv.media import MediaError

    if isinstance(exc, MediaError):
        return without_paths(str(exc))
    if isinstance(exc, OSError):
        return "a file could not be read or written on the server"
    return "an unexpected error on the server"
