"""Input validation shared by the pages and the JSON API.

API forms are bound to the parsed JSON object; values of the wrong JSON type are
rejected (a list is not a prompt), so bad input is a clear 400, never a 500.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mv import flavors, planning
from mv.errors import Refused
from mv.models import AudioTrack, CharacterImage, Project

MAX_TEXT = 5000
MAX_SHORT = 1000


class StrictCharField(forms.CharField):
    """A string, and only a string (JSON numbers, lists and objects are refused)."""

    def to_python(self, value: Any) -> str:
        if value is not None and not isinstance(value, str):
            raise ValidationError("must be a string", code="invalid_type")
        return super().to_python(value)


class StrictFloatField(forms.FloatField):
    def to_python(self, value: Any) -> float | None:
        if isinstance(value, bool) or isinstance(value, list | dict):
            raise ValidationError("must be a number", code="invalid_type")
        try:
            result = super().to_python(value)
        except OverflowError:  # a JSON integer with hundreds of digits
            raise ValidationError("must be a finite number", code="invalid") from None
        if result is not None and (math.isnan(result) or math.isinf(result)):
            raise ValidationError("must be a finite number", code="invalid")
        return result


class StrictIntegerField(forms.IntegerField):
    def to_python(self, value: Any) -> int | None:
        if isinstance(value, bool) or isinstance(value, list | dict):
            raise ValidationError("must be a whole number", code="invalid_type")
        if isinstance(value, float) and not value.is_integer():
            raise ValidationError("must be a whole number", code="invalid")
        return super().to_python(value)


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or absent: None, meaning "use the default")."""

    widget = forms.TextInput  # hands over the raw JSON value (the select widget hashes it)

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "on", "off", "1", "0"}:
            return value.lower() in {"true", "on", "1"}
        raise ValidationError("must be true or false", code="invalid_type")

    def validate(self, value: Any) -> None:
        return None


class StrictUUIDField(forms.UUIDField):
    def to_python(self, value: Any):
        if value is not None and not isinstance(value, str):
            raise ValidationError("must be an id string", code="invalid_type")
        return super().to_python(value)


class FlavorNameField(StrictCharField):
    """A well-formed flavor name, or "" when none was sent: the view decides what that
    means (an existing project keeps its own flavor; anything new gets ``default``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, max_length=200, **kwargs)

    def clean(self, value: Any) -> str:
        name = super().clean(value)
        if not name:
            return ""
        try:
            return flavors.validate_name(name)
        except flavors.InvalidFlavorName as exc:
            raise ValidationError(str(exc), code="invalid_flavor") from None


class UUIDListField(forms.Field):
    def __init__(self, *, min_items: int = 1, max_items: int = 200, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_items, self.max_items = min_items, max_items

    def clean(self, value: Any) -> list[str]:
        if not isinstance(value, list):
            raise ValidationError("must be a list of video ids", code="invalid_type")
        if not self.min_items <= len(value) <= self.max_items:
            raise ValidationError(f"must hold {self.min_items} to {self.max_items} ids", code="invalid_length")
        field = StrictUUIDField()
        cleaned = []
        for item in value:
            try:
                cleaned.append(str(field.clean(item)))
            except ValidationError:
                raise ValidationError(f"{str(item)[:60]!r} is not a valid video id", code="invalid") from None
        return cleaned


def wait_field() -> StrictFloatField:
    return StrictFloatField(required=False, min_value=0, max_value=600)


class JsonForm(forms.Form):
    """A form bound to a parsed JSON object."""

    def __init__(self, data: dict[str, Any], files: Any = None) -> None:
        super().__init__(data=data, files=files)

    def errors_as_details(self) -> dict[str, list[str]]:
        return {field: [e["message"] for e in errors] for field, errors in self.errors.get_json_data().items()}


class CreateScenesForm(JsonForm):
    idea = StrictCharField(max_length=MAX_TEXT)
    character_description = StrictCharField(max_length=MAX_TEXT, required=False)
    character_characteristics = StrictCharField(max_length=MAX_SHORT, required=False)
    number_of_scenes = StrictIntegerField(min_value=1, max_value=20, required=False)
    video_type = StrictCharField(max_length=MAX_SHORT, required=False)
    video_characteristics = StrictCharField(max_length=MAX_SHORT, required=False)
    camera_angle = StrictCharField(max_length=MAX_SHORT, required=False)
    config_flavor = FlavorNameField()
    project_id = StrictUUIDField(required=False)
    # The song and the part of it to cover (checked against the track, so errors say its length).
    audio_id = StrictUUIDField(required=False)
    song_start = StrictFloatField(required=False)
    song_end = StrictFloatField(required=False)
    aspect_ratio = StrictCharField(max_length=8, required=False)
    wait = wait_field()

    OVERRIDES = ("character_characteristics", "video_type", "video_characteristics", "camera_angle")

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


# --- page forms ---------------------------------------------------------------------------


def flavor_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in flavors.names()]


ASPECT_LABELS = {"16:9": "16:9 · landscape", "9:16": "9:16 · portrait", "1:1": "1:1 · square"}


def aspect_choices() -> list[tuple[str, str]]:
    """Every format some flavor's video model makes (the chosen flavor's are checked on submit)."""
    from mv.pipeline.projects import aspect_ratios

    found = dict.fromkeys(a for name in flavors.names() for a in aspect_ratios(flavors.resolve(name)))
    return [(a, ASPECT_LABELS.get(a, a)) for a in found]


class ProjectCreateForm(forms.Form):
    mode = forms.ChoiceField(choices=Project.Mode.choices, initial=Project.Mode.MUSIC_VIDEO,
                             widget=forms.RadioSelect, label="Generation mode")
    config_flavor = forms.ChoiceField(choices=flavor_choices, initial=flavors.DEFAULT, label="Config flavor")
    audio_track_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    audio_start = forms.FloatField(min_value=0, initial=0, required=False, label="Start in the song (seconds)")
    song_end = forms.FloatField(min_value=0, required=False, label="End in the song (seconds)")
    video_description = forms.CharField(max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 4}),
                                        label="Video description")
    character_description = forms.CharField(max_length=MAX_TEXT, required=False,
                                            widget=forms.Textarea(attrs={"rows": 3}), label="Character description")
    character_image_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    number_of_scenes = forms.IntegerField(min_value=1, max_value=20, required=False, label="Number of scenes")
    aspect_ratio = forms.ChoiceField(choices=aspect_choices, initial="16:9", required=False, label="Screen format")

    def __init__(self, *args: Any, owner=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def _owned(self, model: type[AudioTrack | CharacterImage], field: str, gone: str) -> Any:
        """The owner's row itself for an id field (another user's id reads as gone)."""
        pk = self.cleaned_data[field]
        row = model.objects.visible_to(self.owner).filter(pk=pk).first() if pk else None
        if pk and row is None:
            raise forms.ValidationError(gone)
        return row

    def clean_audio_track_id(self) -> AudioTrack | None:
        return self._owned(AudioTrack, "audio_track_id",
                           "That song is not available any more: upload it or paste its URL again.")

    def clean_character_image_id(self) -> CharacterImage | None:
        return self._owned(CharacterImage, "character_image_id",
                           "That reference image is not available any more: pick another.")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        track, start = data.get("audio_track_id"), data.get("audio_start") or 0.0
        if track is not None:
            try:
                track.check_range(start, None, names=("The start", "the end"))
            except Refused:
                self.add_error("audio_start", f"The start must be between 0 and the song's length ({track.duration:.2f} s).")
            else:
                self._check_plan(track, start, data)
        if data.get("aspect_ratio") and data.get("config_flavor"):
            from mv.pipeline.projects import check_aspect_ratio

            try:
                check_aspect_ratio(flavors.resolve(data["config_flavor"]), data["aspect_ratio"])
            except Refused as exc:
                self.add_error("aspect_ratio", exc.message)
        return data

    def _check_plan(self, track: AudioTrack, start: float, data: dict[str, Any]) -> None:
        """The part of the song and the scene count must make a plan (the same check the
        project is created with), else a field error naming the numbers."""
        if data.get("config_flavor") is None:
            return
        count = data.get("number_of_scenes")
        try:
            planning.plan(track, start=start, end=data.get("song_end"), count=count,
                          flavor=flavors.resolve(data["config_flavor"]))
        except Refused as exc:
            if exc.code == "invalid_times":
                self.add_error("song_end", f"The end must be after the start and at most the song's length "
                                           f"({track.duration:.2f} s).")
            else:
                self.add_error("number_of_scenes" if count else "song_end", exc.message)


class PlanEstimateForm(forms.Form):
    """The create page's choices that change its price (read from the whole form)."""

    config_flavor = forms.ChoiceField(choices=flavor_choices, required=False)
    number_of_scenes = forms.IntegerField(min_value=1, max_value=20, required=False)
    audio_track_id = forms.UUIDField(required=False)
    audio_start = forms.FloatField(required=False)
    song_end = forms.FloatField(required=False)


class RenameForm(forms.Form):
    title = forms.CharField(max_length=120, label="Project name")


class SplitForm(forms.Form):
    at = forms.FloatField(min_value=0, required=False, label="Split at (seconds)")


class BoundaryForm(forms.Form):
    start = forms.FloatField(min_value=0, label="Starts at (seconds)", error_messages={
        "required": "Give the time in the song where the scene should start.",
        "invalid": "Give the start as a number of seconds.",
        "min_value": "The start can't be before the beginning of the song."})


class MoveForm(forms.Form):
    to = forms.IntegerField(min_value=1, max_value=500, label="Place")


class FlavorSelectForm(forms.Form):
    config_flavor = forms.ChoiceField(choices=flavor_choices, label="Config flavor")


class ScenePromptForm(forms.Form):
    description = forms.CharField(max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 4}), label="Prompt")
    negative_description = forms.CharField(max_length=MAX_TEXT, required=False,
                                           widget=forms.Textarea(attrs={"rows": 2}), label="Negative prompt")


class RegenerateForm(forms.Form):
    """The card's Regenerate; the prompt as shown on the card comes along, so an edit that
    was not saved yet is what the new clip is made from."""

    lipsync = forms.BooleanField(required=False, label="with lipsync")
    description = forms.CharField(max_length=MAX_TEXT, required=False, strip=True)
    negative_description = forms.CharField(max_length=MAX_TEXT, required=False)


class LyricsForm(JsonForm):
    """Pasted lyrics, plain lines or LRC (the page's form; the API binds it to its JSON)."""

    lyrics = StrictCharField(max_length=20000, label="Lyrics", widget=forms.Textarea(attrs={"rows": 6}),
                             strip=True)


class AudioUrlForm(forms.Form):
    url = forms.URLField(max_length=2000, label="Audio URL", assume_scheme="https")


class CharacterImagesForm(forms.Form):
    character_description = forms.CharField(max_length=MAX_TEXT, label="Character description")
    config_flavor = forms.ChoiceField(choices=flavor_choices, required=False)
    aspect_ratio = forms.ChoiceField(choices=aspect_choices, required=False)
