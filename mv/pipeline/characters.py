"""Character reference images (started and polled like clips, never waited on)."""

from __future__ import annotations

from django.db import transaction

from mv import tasks
from mv.flavors import Flavor
from mv.models import CharacterImage
from mv.pipeline.projects import check_aspect_ratio
from mv.providers import get_provider


def request_character_images(*, owner, flavor: Flavor, description: str, num_images: int = 4,
                             seed: int | None = None, aspect_ratio: str | None = None) -> list[CharacterImage]:
    """Reference images of the character, in the project's screen format when one is given
    (else the flavor's image format)."""
    if aspect_ratio:
        aspect_ratio = check_aspect_ratio(flavor, aspect_ratio)
    template = flavor.get("image_prompts", "character_reference_prompt",
                          used_in="mv.pipeline.characters.request_character_images: prompt template")
    provider = get_provider()
    prompt = template.format(character_description=description)
    images = [
        CharacterImage(
            owner=owner, description=description, prompt=prompt, provider=provider.name,
            model=provider.model_for(flavor, "image"), config_flavor=flavor.name,
            input={"seed": None if seed is None else seed + i, **({"aspect_ratio": aspect_ratio} if aspect_ratio else {})},
        )
        for i in range(num_images)
    ]
    with transaction.atomic():
        CharacterImage.admit(images, owner=owner)  # the money gate: all of them fit today's budget, or none is made
        for image in images:
            tasks.follow(image)
    return images
