"""The JSON API's input forms, one per endpoint that takes a body (bound to the parsed JSON;
the fields refuse values of the wrong JSON type)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mv.forms.fields import (
    MAX_SHORT,
    MAX_TEXT,
    FlavorNameField,
    JsonForm,
    StrictBooleanField,
    StrictCharField,
    StrictFloatField,
    StrictIntegerField,
    StrictUUIDField,
    UUIDListField,
    up_to_max_scenes,
    wait_field,
)


class CreateScenesForm(JsonForm):
    idea = StrictCharField(max_length=MAX_TEXT)
    character_description = StrictCharField(max_length=MAX_TEXT, required=False)
    character_characteristics = StrictCharField(max_length=MAX_SHORT, required=False)
    number_of_scenes = StrictIntegerField(min_value=1, required=False)  # at most planning.max_scenes(): __init__
    video_type = StrictCharField(max_length=MAX_SHORT, required=False)
    video_characteristics = StrictCharField(max_length=MAX_SHORT, required=False)
    camera_angle = StrictCharField(max_length=MAX_SHORT, required=False)
    config_flavor = FlavorNameField()
    director_style = StrictCharField(max_length=64, required=False)  # a name from get_director_styles; "" for none
    project_id = StrictUUIDField(required=False)
    # The song and the part of it to cover (checked against the track, so errors say its length).
    audio_id = StrictUUIDField(required=False)
    song_start = StrictFloatField(required=False)
    song_end = StrictFloatField(required=False)
    aspect_ratio = StrictCharField(max_length=8, required=False)
    wait = wait_field()

    OVERRIDES = ("character_characteristics", "video_type", "video_characteristics", "camera_angle")

    def __init__(self, data: dict[str, Any], files: Any = None) -> None:
        super().__init__(data, files)
        up_to_max_scenes(self.fields["number_of_scenes"])

    def scene_parameters(self) -> dict[str, str]:
        return {k: self.cleaned_data[k] for k in self.OVERRIDES if self.cleaned_data.get(k)}


class GenerateVideoForm(JsonForm):
    prompt = StrictCharField(max_length=MAX_TEXT)
    negative_prompt = StrictCharField(max_length=MAX_TEXT, required=False)
    aspect_ratio = StrictCharField(max_length=8, required=False)  # checked against the flavor's video model
    duration = forms.TypedChoiceField(choices=[(4, "4"), (6, "6"), (8, "8")], coerce=int, required=False, empty_value=None)
    generate_audio = StrictBooleanField(required=False)
    seed = StrictIntegerField(min_value=0, max_value=2**31 - 1, required=False)
    character_reference_id = StrictUUIDField(required=False)
    config_flavor = FlavorNameField()
    scene_id = StrictUUIDField(required=False)
    wait = wait_field()

    def clean_duration(self) -> int | None:
        value = self.data.get("duration")
        if isinstance(value, bool | list | dict):
            raise ValidationError("must be 4, 6 or 8", code="invalid_type")
        return self.cleaned_data.get("duration")


class LipsyncForm(JsonForm):
    video_id = StrictUUIDField(required=False)
    video_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    audio_id = StrictUUIDField(required=False)
    audio_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    # Ranges are checked by the view against the track, so every time error can say how
    # long the track is (0 <= start_time < end_time <= length).
    start_time = StrictFloatField(required=False)
    end_time = StrictFloatField(required=False)
    temperature = StrictFloatField(required=False, min_value=0, max_value=1)
    occlusion_detection_enabled = StrictBooleanField(required=False)
    active_speaker_detection = StrictBooleanField(required=False)
    wait = wait_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for kind in ("video", "audio"):
            has_id = bool(self.data.get(f"{kind}_id"))
            has_url = bool(self.data.get(f"{kind}_url"))
            if has_id and has_url:
                raise ValidationError(f"send either {kind}_id or {kind}_url, not both", code="ambiguous")
            if not has_id and not has_url:
                raise ValidationError(f"{kind}_id or {kind}_url is required", code="required")
        return data

    def clean_occlusion_detection_enabled(self) -> bool | None:
        """Refused rather than silently not done: no lipsync model MV Studio runs has occlusion
        detection (Replicate's sync/lipsync-2 and -2-pro have no such input). False is what
        happens anyway, so it is accepted and not sent."""
        value = self.cleaned_data.get("occlusion_detection_enabled")
        if value:
            raise ValidationError("The lipsync model has no occlusion detection; leave this out or send false.",
                                  code="unsupported")
        return value

    def options(self) -> dict[str, Any]:
        keys = ("temperature", "active_speaker_detection")
        return {k: self.cleaned_data.get(k) for k in keys if self.cleaned_data.get(k) is not None}


class WaitForm(JsonForm):
    wait = wait_field()


class RetryForm(JsonForm):
    video_id = StrictUUIDField()
    wait = wait_field()


class StitchForm(JsonForm):
    video_ids = UUIDListField()
    audio_overlay_id = StrictUUIDField(required=False)
    audio_start = StrictFloatField(required=False, min_value=0)
    suppress_video_audio = StrictBooleanField(required=False)
    wait = wait_field()


class AudioUploadForm(forms.Form):
    file = forms.FileField()


class FootageUploadForm(forms.Form):
    file = forms.FileField(error_messages={"required": "Send the video as a multipart field named 'file'."})


class SongGenerateForm(JsonForm):
    prompt = StrictCharField(max_length=500)
    lyrics = StrictCharField(max_length=MAX_TEXT, required=False)
    duration = StrictFloatField(min_value=1, max_value=600)
    config_flavor = FlavorNameField()
    wait = wait_field()


class AudioDownloadForm(JsonForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError("only http and https URLs can be downloaded", code="invalid")
        return url


class AudioTrimForm(JsonForm):
    """Ranges are checked against the track (mv.audio.trim), so the error says its length."""

    audio_id = StrictUUIDField()
    start_at = StrictFloatField()
    end_at = StrictFloatField(required=False)


class CharacterReferenceForm(JsonForm):
    character_description = StrictCharField(max_length=MAX_TEXT)
    num_images = StrictIntegerField(min_value=1, max_value=4, required=False)
    config_flavor = FlavorNameField()
    seed = StrictIntegerField(min_value=0, max_value=2**31 - 1, required=False)
    aspect_ratio = StrictCharField(max_length=8, required=False)
    wait = wait_field()


# The timeline edits (mv.timeline_api).
class SplitForm(JsonForm):
    at = StrictFloatField(required=False, min_value=0)  # seconds in the song; the nearest beat is used


class BoundaryForm(JsonForm):
    start = StrictFloatField(min_value=0)  # where the scene should start, in seconds of the song


class MoveForm(JsonForm):
    position = StrictIntegerField(min_value=0)  # 0-based, as a scene's "position"


class RefreshForm(JsonForm):
    wait = wait_field()
