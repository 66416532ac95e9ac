"""Character reference images (started and polled like clips, never waited on)."""

from __future__ import annotations

from mv import tasks
from mv.flavors import Flavor
from mv.models import CharacterImage
from mv.pipeline import spending
from mv.providers import get_provider


def request_character_images(*, owner, flavor: Flavor, description: str, num_images: int = 4,
                             seed: int | None = None) -> list[CharacterImage]:
    template = flavor.get("image_prompts", "character_reference_prompt",
                          used_in="mv.pipeline.characters.request_character_images: prompt template")
    provider = get_provider()
    prompt = template.format(character_description=description)
    each = spending.images_estimate(flavor, 1, provider)
    with spending.budgeted(owner, spending.images_estimate(flavor, num_images, provider)):
        images = [
            CharacterImage.objects.create(
                owner=owner, description=description, prompt=prompt, provider=provider.name,
                model=provider.model_for(flavor, "image"), config_flavor=flavor.name,
                input={"seed": None if seed is None else seed + i}, estimated_cost_usd=each.exact_usd,
            )
            for i in range(num_images)
        ]
        for image in images:
            tasks.follow(image)
    return images
