"""Making a song when the user has none, from the JSON API (mv.pipeline.songs.request_song)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, JsonResponse

from mv.api import _answer, _flavor, _owned, _valid
from mv.apiutils import api_endpoint
from mv.forms.api import SongGenerateForm
from mv.models import SongGeneration
from mv.pipeline import songs


def _body(generation: SongGeneration) -> dict:
    generation.refresh_from_db()
    generation.track.refresh_from_db()
    return generation.track.to_dict() | {"song": generation.to_dict()}


@api_endpoint("POST")
def audio_generate(request: HttpRequest) -> JsonResponse:
    """202 with the song's track (``importing`` until the song is made and imported) and its
    generation; with ``wait``, 200 once the model has answered."""
    data = _valid(SongGenerateForm, request).cleaned_data
    generation = songs.request_song(request.api_user, _flavor(data["config_flavor"]), prompt=data["prompt"],
                                    duration=data["duration"], lyrics=data["lyrics"])
    return _answer([generation], lambda: _body(generation), data.get("wait"))


@api_endpoint("GET")
def audio_generation(request: HttpRequest, song_id: uuid.UUID) -> JsonResponse:
    return JsonResponse(_body(_owned(SongGeneration, request, song_id)))
