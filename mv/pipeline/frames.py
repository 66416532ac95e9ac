"""How a clip carries the project's performer: the character's picture as reference images
where the video model takes them for the clip's format and length, else a start frame made
for the scene from the picture and the prompt (reused until either changes), or, when the
scene asks to continue the previous shot, that shot's last frame. Capability flags on the
provider decide; nothing is sent that a model ignores."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from mv import flavors, tasks
from mv.errors import Refused
from mv.flavors import Flavor
from mv.models import CharacterImage, Clip, JobStatus, Scene, StartFrame
from mv.providers import Provider, get_provider

NEW = "new"  # a start frame to make (admitted through the money gate with its clip)


def previous_clip(scene: Scene) -> Clip | None:
    """The finished clip of the scene before, whose last frame a continuing shot starts from."""
    before = Scene.objects.filter(project_id=scene.project_id, position=scene.position - 1).select_related(
        "current_clip").first()
    clip = before.current_clip if before is not None else None
    return clip if clip is not None and clip.status == JobStatus.SUCCEEDED and clip.file else None


def reusable_frame(scene: Scene, image: CharacterImage, aspect_ratio: str) -> StartFrame | None:
    """The scene's latest start frame when it was made for its prompt, this picture and format."""
    latest = scene.start_frames.order_by("-created_at").first()
    return latest if latest is not None and latest.fits(scene.description, image.pk, aspect_ratio) else None


def how_to_carry(provider: Provider, flavor: Flavor, *, scene: Scene | None, reference: CharacterImage | None,
                 aspect_ratio: str, seconds: float) -> dict[str, Any]:
    """What the clip's input says about its first frame and picture (``NEW``: a start frame to
    make first). ``reference_dropped``: the picture could not be carried at all."""
    if scene is not None and scene.continue_previous and provider.takes_start_frame(flavor):
        previous = previous_clip(scene)
        if previous is not None:
            return {"continue_from": str(previous.pk)}
    if reference is None:
        return {}
    if provider.takes_reference_image(aspect_ratio, seconds, flavor):
        return {"character_image": str(reference.pk)}
    if scene is not None and provider.takes_start_frame(flavor) and provider.makes_start_frames(flavor):
        frame = reusable_frame(scene, reference, aspect_ratio)
        return {"start_frame": str(frame.pk) if frame is not None else NEW}
    return {"reference_dropped": True}


def new_start_frame(scene: Scene, image: CharacterImage, *, owner, flavor: Flavor, aspect_ratio: str,
                    provider: Provider | None = None) -> StartFrame:
    """A new start frame for the scene, not saved: the caller admits it through the money gate
    (``Prediction.admit``) with the clip that waits for it, and follows it."""
    provider = provider or get_provider()
    return StartFrame(
        owner=owner, scene=scene, character_image=image, prompt=scene.description, aspect_ratio=aspect_ratio,
        provider=provider.name, model=provider.model_for(flavor, "start_frame"), config_flavor=flavor.name,
        input={"prompt": scene.description, "aspect_ratio": aspect_ratio},
    )


def regenerate_start_frame(scene: Scene, *, owner) -> StartFrame:
    """The card's "New start frame": another start frame for the scene's prompt and character
    (its clips are not touched; the next Regenerate starts from it)."""
    project = scene.project
    flavor = flavors.resolve(project.config_flavor)
    provider = get_provider()
    image = project.character_image
    if image is None or not image.file:
        raise Refused("no_character", "This project has no character picture to make a start frame from.")
    if not (provider.takes_start_frame(flavor) and provider.makes_start_frames(flavor)):
        raise Refused("no_start_frames", "This flavor's models cannot make start frames.")
    frame = new_start_frame(scene, image, owner=owner, flavor=flavor, aspect_ratio=project.aspect_ratio,
                            provider=provider)
    with transaction.atomic():
        StartFrame.admit([frame], owner=owner)  # the money gate: estimate, today's budget
        tasks.follow(frame)
    return frame
