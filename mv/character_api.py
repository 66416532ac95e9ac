"""The character bank as JSON endpoints under /api/mv/characters, beside mv.api and in its
style: list and save characters (from a generated reference image, or an uploaded picture),
read, update (name, description, the chosen picture) and delete one (POST .../delete)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse, JsonResponse

from mv import uploads
from mv.api import _owned, _serve, _valid
from mv.apiutils import api_endpoint
from mv.errors import Refused
from mv.forms.api import CharacterForm, CharacterUpdateForm, CharacterUploadForm
from mv.models import Character, CharacterImage, StartFrame
from mv.pipeline import characters


@api_endpoint("GET", "POST")
def character_list(request: HttpRequest) -> JsonResponse:
    """GET: the user's saved characters. POST: save one, from JSON {"name", "description",
    "reference_image_id"} or a multipart upload with the picture as ``file``."""
    if request.method == "GET":
        found = Character.objects.visible_to(request.api_user).select_related("image").prefetch_related("images")
        return JsonResponse({"characters": [c.to_dict() for c in found]})
    if request.content_type == "multipart/form-data":
        form = CharacterUploadForm(request.POST, request.FILES)  # reading the body sets too_large
        if uploads.too_large(request):
            raise Refused("too_large", uploads.too_large(request), status=413)
        if not form.is_valid():
            raise Refused("validation_error", "Send a name and the picture as a multipart field named 'file'.",
                          {k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
        data = form.cleaned_data
        character = characters.save_character(request.api_user, name=data["name"], description=data["description"],
                                              upload=data["file"])
    else:
        data = _valid(CharacterForm, request).cleaned_data
        image = _owned(CharacterImage, request, data["reference_image_id"])
        character = characters.save_character(request.api_user, name=data["name"], description=data["description"],
                                              image=image)
    return JsonResponse(character.to_dict(), status=201)


@api_endpoint("POST")
def character_delete(request: HttpRequest, character_id: uuid.UUID) -> JsonResponse:
    """Remove it from the bank (projects that used it keep their copy)."""
    character = _owned(Character, request, character_id)
    characters.delete_character(character)
    return JsonResponse({"character_id": str(character_id), "deleted": True})


@api_endpoint("GET", "POST")
def character_detail(request: HttpRequest, character_id: uuid.UUID) -> JsonResponse:
    """GET: one character. POST: rename it, change its description or choose another of its
    pictures."""
    character = _owned(Character, request, character_id)
    if request.method == "POST":
        data = _valid(CharacterUpdateForm, request).cleaned_data
        if data.get("reference_image_id"):
            characters.choose_picture(character, data["reference_image_id"])
        if data.get("name") or data.get("description"):
            character.rename(data.get("name") or character.name, data.get("description") or None)
    return JsonResponse(character.to_dict())


@api_endpoint("GET")
def get_start_frame(request: HttpRequest, frame_id: uuid.UUID) -> HttpResponse:
    """A scene's start frame (PNG), once made."""
    frame = _owned(StartFrame, request, frame_id)
    return _serve(request, frame.file, "image/png", f"start-frame-{frame.scene.number}.png",
                  "This start frame is not made yet." if frame.is_active else "This start frame could not be made.")
