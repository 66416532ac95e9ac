"""Provider selection by setting (``MV_PROVIDER``), like Django's TASKS or STORAGES."""

from __future__ import annotations

from django.conf import settings

from mv.providers.base import Provider, ProviderError

__all__ = ["Provider", "ProviderError", "get_provider"]


def get_provider(name: str | None = None) -> Provider:
    name = name or settings.MV_PROVIDER
    if name == "replicate":
        from mv.providers.replicate import ReplicateProvider

        return ReplicateProvider()
    if name == "local":
        from mv.providers.local import LocalProvider

        return LocalProvider()
    raise ProviderError(f"unknown provider {name!r}")
