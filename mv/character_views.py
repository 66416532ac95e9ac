"""The Characters page (/characters/): the user's saved characters, made from an uploaded
picture or generated from a description; rename, pick the picture, add pictures, delete.

Each view parses input with a form, calls one function in mv.pipeline.characters, and
renders the page or, for HTMX requests, the list partial; each character's picture grid
polls on its own while a picture renders.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from mv import flavors, status, uploads
from mv.errors import Refused, message_if_refused
from mv.forms.pages import CharacterCreateForm, CharacterPictureForm, CharacterRenameForm
from mv.models import Character, CharacterImage, get_owned
from mv.pipeline import characters
from mv.views import _polled

PAGE = "mv/characters.html"


def _owned(request: HttpRequest, pk: uuid.UUID) -> Character:
    return get_owned(Character, request.user, pk)


def _with_pictures(characters_: Any) -> list[Character]:
    """Characters with their pictures (oldest first) and, for each picture grid's poll, what it
    shows (``pictures_shown``) and whether one still renders (``pictures_pending``)."""
    oldest_first = Prefetch("images", queryset=CharacterImage.objects.order_by("created_at"))
    found = list(characters_.select_related("image").prefetch_related(oldest_first))
    for c in found:
        pictures = c.images.all()
        c.pictures_pending = any(image.is_active for image in pictures)
        c.pictures_shown = status.fingerprint((c.image_id, [image.shown_state for image in pictures]))
    return found


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {"characters": _with_pictures(Character.objects.visible_to(request.user)),
            "create_form": CharacterCreateForm(), "list_error": "", **extra}


def _answer(request: HttpRequest, error: str = "", **extra: Any) -> HttpResponse:
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("characters")
    return render(request, f"{PAGE}#character-list", _context(request, list_error=error, **extra))


@require_GET
@login_required
def character_page(request: HttpRequest) -> HttpResponse:
    return render(request, PAGE, _context(request))


@require_GET
@login_required
def character_pictures_status(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """One character's picture grid, polled while a picture renders: only the grid is swapped,
    so a name or description being typed in its card stays."""
    found = _with_pictures(Character.objects.visible_to(request.user).filter(pk=pk))  # visible or 404, as get_owned
    if not found:
        raise Http404
    character = found[0]
    return _polled(request, character.pictures_shown, done=not character.pictures_pending,
                   answer=lambda: render(request, f"{PAGE}#character-pictures", {"c": character}))


@require_POST
@login_required
def character_create(request: HttpRequest) -> HttpResponse:
    form = CharacterCreateForm(request.POST, request.FILES)
    if uploads.too_large(request):
        return render(request, PAGE, _context(request, create_error=uploads.too_large(request)))
    if not form.is_valid():
        return render(request, PAGE, _context(request, create_form=form))
    data = form.cleaned_data
    try:
        if data["file"]:
            characters.save_character(request.user, name=data["name"], description=data["description"],
                                      upload=data["file"])
        else:
            character = Character.objects.create(owner=request.user, name=data["name"], description=data["description"])
            characters.generate_pictures(character, flavors.resolve(flavors.DEFAULT))
    except Refused as exc:
        return render(request, PAGE, _context(request, create_form=form, create_error=exc.message))
    return redirect("characters")


@require_POST
@login_required
def character_rename(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    character = _owned(request, pk)
    form = CharacterRenameForm(request.POST)
    if not form.is_valid():
        return _answer(request, "Give the character a name (at most 120 characters).")
    character.rename(form.cleaned_data["name"], form.cleaned_data["description"])
    return _answer(request)


@require_POST
@login_required
def character_pictures(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Pick one of its pictures (``image_id``), add an uploaded one (``file``), or, with
    neither, generate 4 more from its description."""
    character = _owned(request, pk)
    form = CharacterPictureForm(request.POST, request.FILES)
    if uploads.too_large(request):
        return _answer(request, uploads.too_large(request))
    if not form.is_valid():
        return _answer(request, "Pick one of the character's pictures.")
    data = form.cleaned_data
    if data["image_id"]:
        error = message_if_refused(lambda: characters.choose_picture(character, data["image_id"]))
    elif data["file"]:
        error = message_if_refused(lambda: characters.add_picture(character, data["file"]))
    else:
        error = message_if_refused(lambda: characters.generate_pictures(character, flavors.resolve(flavors.DEFAULT)))
    return _answer(request, error)


@require_POST
@login_required
def character_delete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    character = _owned(request, pk)
    name = character.name
    characters.delete_character(character)
    if not request.htmx:
        messages.success(request, f"Deleted {name}. Projects that used it keep their copy.")
    return _answer(request)

