"""Character reference images (started and polled like clips, never waited on) and the
character bank: saved characters, their pictures (generated or uploaded) and casting one
in a project (which keeps a copy of what it used)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from mv import files, media, tasks
from mv.errors import Refused
from mv.flavors import Flavor
from mv.models import Character, CharacterImage, JobStatus, Project
from mv.pipeline.projects import character_copy, check_aspect_ratio
from mv.providers import get_provider


def request_character_images(*, owner, flavor: Flavor, description: str, num_images: int = 4,
                             seed: int | None = None, aspect_ratio: str | None = None,
                             character: Character | None = None) -> list[CharacterImage]:
    """Reference images of the character, in the project's screen format when one is given
    (else the flavor's image format); with ``character``, they become its pictures."""
    if aspect_ratio:
        aspect_ratio = check_aspect_ratio(flavor, aspect_ratio)
    template = flavor.get("image_prompts", "character_reference_prompt",
                          used_in="mv.pipeline.characters.request_character_images: prompt template")
    provider = get_provider()
    prompt = template.format(character_description=description)
    images = [
        CharacterImage(
            owner=owner, description=description, prompt=prompt, provider=provider.name, character=character,
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


def upload_picture(owner, uploaded: UploadedFile, *, description: str = "",
                   character: Character | None = None) -> CharacterImage:
    """An uploaded reference picture, checked like every upload (its size, and that it really
    is a PNG, JPEG or WebP picture that decodes); stored under a generated name."""
    if uploaded.size is not None and uploaded.size > settings.MV_MAX_UPLOAD_MB * 1024 * 1024:
        raise Refused("too_large", f"The picture is larger than {settings.MV_MAX_UPLOAD_MB} MB, the largest accepted.",
                      status=413)
    with files.workdir() as workdir:
        local = workdir / "upload.bin"
        with open(local, "wb") as fh:
            for chunk in uploaded.chunks():
                fh.write(chunk)
        try:
            kind, _, _ = media.check_picture(local)
        except media.MediaError as exc:
            raise Refused("not_image", exc.message) from None
        return _store_upload(owner, local, kind, description, character)


def _store_upload(owner, local: Path, kind: str, description: str, character: Character | None) -> CharacterImage:
    image = CharacterImage(owner=owner, description=description, provider=CharacterImage.UPLOADED,
                           status=JobStatus.SUCCEEDED, progress=100, character=character, finished_at=timezone.now())
    files.store(image.file, local, f"{image.pk}.{kind}")
    image.save()
    return image


def save_character(owner, *, name: str, description: str = "", image: CharacterImage | None = None,
                   upload: UploadedFile | None = None) -> Character:
    """A new saved character from a finished reference image (generated for a project, or
    one of another character's) or an uploaded picture; its description defaults to the
    image's."""
    if (image is None) == (upload is None):
        raise Refused("no_picture", "Give the character one picture: a reference image you generated, or a file.")
    if image is not None and (image.status != JobStatus.SUCCEEDED or not image.file):
        raise Refused("image_not_ready", "That reference image is not finished; wait for it, or pick another.")
    description = description or (image.description if image is not None else "")
    picture = upload_picture(owner, upload, description=description) if upload is not None else None
    with transaction.atomic():
        character = Character.objects.create(owner=owner, name=name.strip() or "Unnamed character",
                                             description=description)
        if image is not None:
            picture = _adopt(image, character)
        else:
            CharacterImage.objects.filter(pk=picture.pk).update(character=character)  # type: ignore[union-attr]
        character.image = picture
        character.save(update_fields=["image"])
    return character


def _adopt(image: CharacterImage, character: Character) -> CharacterImage:
    """The image as one of the character's pictures: itself, or a copy (same stored file,
    nothing billed again) when it already belongs to another character."""
    if image.character_id in (None, character.pk):
        CharacterImage.objects.filter(pk=image.pk).update(character=character)
        image.character = character
        return image
    return CharacterImage.objects.create(owner=image.owner, description=image.description, prompt=image.prompt,
                                         provider=image.provider, model=image.model, status=JobStatus.SUCCEEDED,
                                         progress=100, file=image.file.name, character=character,
                                         finished_at=timezone.now(), config_flavor=image.config_flavor)


def add_picture(character: Character, upload: UploadedFile) -> CharacterImage:
    """Another picture of the character (uploaded); the first one it has becomes the chosen one."""
    picture = upload_picture(character.owner, upload, description=character.description, character=character)
    if character.image_id is None:
        character.choose(picture)
    return picture


def generate_pictures(character: Character, flavor: Flavor, *, num_images: int = 4) -> list[CharacterImage]:
    """Pictures of the character made from its description by the flavor's image model."""
    if not character.description.strip():
        raise Refused("no_description", "Describe the character first, so its pictures can be generated.")
    return request_character_images(owner=character.owner, flavor=flavor, description=character.description,
                                    num_images=num_images, character=character)


def choose_picture(character: Character, image_id) -> Character:
    image = character.images.filter(pk=image_id, status=JobStatus.SUCCEEDED).exclude(file="").first()
    if image is None:
        raise Refused("no_such_picture", "Pick one of this character's finished pictures.")
    character.choose(image)
    return character


def delete_character(character: Character) -> None:
    """The character leaves the bank; projects that used it keep their copy (its description
    and the picture they were made with), and its pictures stay stored for them."""
    character.delete()


def cast_character(project: Project, character: Character | None) -> Project:
    """Use this saved character in the project from now on: the project keeps a copy of its
    description and chosen picture (None: no saved character; the project's copy stays)."""
    if character is None:
        project.character = None
        project.save(update_fields=["character", "updated_at"])
        return project
    description, picture = character_copy(character)
    project.character, project.character_image = character, picture
    project.character_description = description or project.character_description
    project.save(update_fields=["character", "character_image", "character_description", "updated_at"])
    return project
