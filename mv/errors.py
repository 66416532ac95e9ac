"""Errors for people: the one error the use cases raise (a code for programs, a plain
message for people), and the plain sentence for an unexpected failure.

The JSON API answers ``Refused`` as ``{"error": code, "message": message, "details": ...}``
with its status; the pages show the message next to what was asked. Full details of any
other failure go to the server log; rows, pages and the API never show a path, errno or
exception text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django import forms


class Refused(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status


def message_if_refused(action: Callable[[], Any]) -> str:
    """Run one use case for a page: "" when it was done, else the message it was refused
    with, which the page shows next to what was asked."""
    try:
        action()
    except Refused as exc:
        return exc.message
    return ""


def message_for_form(form: forms.Form, action: Callable[[dict[str, Any]], Any]) -> str:
    """Run one use case with a page form's data: "" when it was done, else what the page shows
    next to the form: the form's errors when it is not valid, or the message the use case was
    refused with."""
    if not form.is_valid():
        return " ".join(m for errors in form.errors.values() for m in errors)
    return message_if_refused(lambda: action(form.cleaned_data))


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
