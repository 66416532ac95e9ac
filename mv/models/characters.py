"""The character bank: a performer a user saves once (name, description, reference pictures,
the chosen one) and casts in any number of projects. A project keeps a copy of what it used
(the description and the picture), so renaming, re-picking or deleting a character never
changes a video already made."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from mv.models.base import JobStatus, OwnedQuerySet


class Character(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="characters")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    # The chosen reference picture (one of ``images``: generated, or uploaded).
    image = models.ForeignKey("CharacterImage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "created_at"]

    def __str__(self) -> str:
        return self.name

    def pictures(self) -> list[Any]:
        """Its reference pictures, oldest first (generated ones still rendering included)."""
        return list(self.images.order_by("created_at"))

    def ready_image(self) -> Any | None:
        """The picture a clip carries: the chosen one, else the first finished one."""
        if self.image is not None and self.image.file:
            return self.image
        return self.images.filter(status=JobStatus.SUCCEEDED).exclude(file="").order_by("created_at").first()

    def choose(self, image: Any) -> None:
        """Make one of its pictures the chosen one."""
        if image.character_id != self.pk:
            raise ValueError("not one of this character's pictures")
        self.image = image
        self.save(update_fields=["image", "updated_at"])

    def rename(self, name: str, description: str | None = None) -> None:
        self.name = name
        fields = ["name", "updated_at"]
        if description is not None:
            self.description = description
            fields.append("description")
        self.save(update_fields=fields)

    def to_dict(self) -> dict[str, Any]:
        chosen = self.ready_image()
        return {
            "character_id": str(self.pk),
            "name": self.name,
            "description": self.description,
            "reference_image_id": str(chosen.pk) if chosen else None,
            "reference_image_url": reverse("api_get_character_reference", args=[chosen.pk]) if chosen else None,
            "images": [image.to_dict() for image in self.pictures()],
            "created_at": self.created_at.isoformat(),
        }


__all__ = ["Character"]
