from __future__ import annotations

from django.http import HttpRequest

from mv.providers import Provider, get_provider


def provider(request: HttpRequest) -> dict[str, Provider]:
    """Every page says which renderer makes its videos (the local one is labelled as such)."""
    return {"mv_provider": get_provider()}
