"""System checks (`manage.py check`): the flavor registry is sane."""

from __future__ import annotations

from django.core import checks

from mv import flavors


@checks.register("mv")
def check_flavors(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    registry = flavors.registry()
    return [
        checks.Error(f"config flavor {e.flavor!r} {e.file}: {e.message}".replace(" :", ":"), id="mv.E001")
        for e in registry.errors
    ]
