"""A check that no page shows a UUID to a person, except inside a <details> disclosure.

Pages are for people: ids belong in URLs and attributes (hx-get, value="…", data-*), or
behind a "details" disclosure for those who ask. Visible text is every text node and every
visible field value, including <summary> lines and screen-reader-only text; a <details>
element's content past its summary, <script>, <style> and <template> are not visible.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b[0-9a-f]{32}\b", re.I)
_NEVER_SHOWN = {"script", "style", "template"}
_TRACKED = _NEVER_SHOWN | {"details", "summary"}
_VALUE_HIDDEN_TYPES = {"hidden", "radio", "checkbox", "file", "password", "image"}


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.parts: list[str] = []

    def _hidden(self) -> bool:
        for i, tag in enumerate(self.stack):
            if tag in _NEVER_SHOWN:
                return True
            if tag == "details" and self.stack[i + 1: i + 2] != ["summary"]:
                return True
        return False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _TRACKED:
            self.stack.append(tag)
        elif tag == "input" and not self._hidden():
            fields = dict(attrs)
            if (fields.get("type") or "text").lower() not in _VALUE_HIDDEN_TYPES and fields.get("value"):
                self.parts.append(fields["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in _TRACKED and tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def visible_uuids(html: str) -> list[str]:
    return UUID_RE.findall(visible_text(html))


def assert_no_visible_uuids(html: str, page: str = "page") -> None:
    found = visible_uuids(html)
    if found:
        text = visible_text(html)
        where = [text[max(0, text.find(u) - 60): text.find(u) + len(u) + 20] for u in found[:5]]
        raise AssertionError(f"{page} shows {len(found)} id(s) outside a <details> disclosure: {where}")
