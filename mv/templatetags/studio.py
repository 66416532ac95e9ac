"""`{{ pk|route:"name" }}`: the URL of a route that takes one id, without a full reverse().

The project page links every scene and clip about twenty times; reverse() per link was a
quarter of the time of a 60-scene page. Each route is reversed once (for a zero id) and
the id is put in its place.
"""

from __future__ import annotations

import uuid
from functools import cache

from django import template
from django.core.signals import setting_changed
from django.urls import reverse

register = template.Library()
_ZERO = str(uuid.UUID(int=0))


@cache
def _pattern(name: str) -> str:
    return reverse(name, args=[_ZERO])


@register.filter
def route(pk: object, name: str) -> str:
    return _pattern(name).replace(_ZERO, str(pk), 1)


def _forget(**kwargs: object) -> None:
    _pattern.cache_clear()


setting_changed.connect(_forget)


@register.filter
def seconds(value: float | None) -> str:
    """A time in seconds to one decimal ("8.0"): floatformat's Decimal work, per scene, was
    a fifth of a 60-scene page."""
    return "" if value is None else f"{value:.1f}"
