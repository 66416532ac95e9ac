from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from mv.providers import Provider, get_provider


def provider(request: HttpRequest) -> dict[str, Provider]:
    """Every page says which renderer makes its videos (the local one is labelled as such)."""
    return {"mv_provider": get_provider()}


def page_polls(request: HttpRequest) -> dict[str, str]:
    """The HTMX intervals of the pages' progress checks (MV_PAGE_POLL_SECONDS)."""
    every = settings.MV_PAGE_POLL_SECONDS
    return {"poll_every": f"{round(every * 1000)}ms", "poll_slow": f"{round(every * 2000)}ms"}
