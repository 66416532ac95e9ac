"""Provider selection by setting (``MV_PROVIDER`` names one of ``MV_PROVIDERS``, each a
dotted path), like Django's TASKS or STORAGES. Instances are cached until a setting
changes (the tests point the Replicate client at a fake server)."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from mv.providers.base import Provider, ProviderError

__all__ = ["Provider", "ProviderError", "get_provider"]


def get_provider(name: str | None = None) -> Provider:
    """The provider a row names (its ``provider`` field), or the configured one."""
    return _load(name or settings.MV_PROVIDER)


@functools.cache
def _load(name: str) -> Provider:
    path = settings.MV_PROVIDERS.get(name)
    if path is None:
        raise ProviderError(f"No provider named {name!r} is configured.")
    return import_string(path)()


@receiver(setting_changed)
def _forget_providers(**kwargs) -> None:
    _load.cache_clear()
