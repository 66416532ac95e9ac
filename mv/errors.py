"""The one error the use cases raise: a code for programs, a plain message for people.

The JSON API answers it as ``{"error": code, "message": message, "details": ...}`` with
its status; the pages show the message next to what was asked.
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status
