"""Webhook deliveries already taken in, so a replayed one is refused (every process and
machine sees the same table)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone


class WebhookDelivery(models.Model):
    """One signed delivery, by the id its sender gave it. Kept only as long as its signature
    could still pass the timestamp check (twice MV_WEBHOOK_TOLERANCE); older ones are
    refused as stale anyway."""

    webhook_id = models.CharField(max_length=200, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    @classmethod
    def first_time(cls, webhook_id: str) -> bool:
        """Record the delivery; False when it was seen before (a replay)."""
        cls.objects.filter(received_at__lt=timezone.now() - timedelta(seconds=2 * settings.MV_WEBHOOK_TOLERANCE)).delete()
        try:
            with transaction.atomic():
                cls.objects.create(webhook_id=webhook_id)
        except IntegrityError:
            return False
        return True
