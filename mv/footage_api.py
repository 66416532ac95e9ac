"""Your own clip into a scene, from the JSON API (mv.pipeline.footage does the work)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, JsonResponse

from mv import uploads
from mv.api import _owned
from mv.apiutils import api_endpoint
from mv.errors import Refused
from mv.forms.api import FootageUploadForm
from mv.models import Scene
from mv.pipeline import footage


@api_endpoint("POST")
def upload_clip(request: HttpRequest, scene_id: uuid.UUID) -> JsonResponse:
    """202 with the queued clip: the worker checks and fits it, then it becomes the scene's clip."""
    scene = _owned(Scene, request, scene_id)
    form = FootageUploadForm(request.POST, request.FILES)  # reading the body runs the upload limit
    if uploads.too_large(request):
        raise Refused("too_large", uploads.too_large(request), status=413)
    if not form.is_valid():
        raise Refused("validation_error", "Send the video as a multipart field named 'file'.",
                       {k: [e["message"] for e in v] for k, v in form.errors.get_json_data().items()})
    clip = footage.upload_scene_clip(scene, owner=request.api_user, uploaded=form.cleaned_data["file"])
    return JsonResponse(clip.to_dict(), status=202)
