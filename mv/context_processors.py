from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def provider(request: HttpRequest) -> dict[str, object]:
    """Every page says which renderer makes its videos (the local one is labelled as such)."""
    return {"mv_provider": settings.MV_PROVIDER, "mv_provider_is_local": settings.MV_PROVIDER == "local"}
