from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class MvConfig(AppConfig):
    name = "mv"
    verbose_name = "MV Studio"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Build the flavor and director style registries once; register system checks and the follow-ups of
        finished predictions. No DB, no network."""
        from mv import checks, flavors, styles  # noqa: F401  (checks registers itself)
        from mv.pipeline import followups  # noqa: F401  (connects what runs when a prediction finishes)

        flavors.install(flavors.load_registry(settings.MV_CONFIGS_DIR))
        styles.install(styles.load_registry(settings.MV_CONFIGS_DIR))
