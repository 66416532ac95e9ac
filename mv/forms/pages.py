"""The pages' forms: the create page (the project, its price, the song's URL, the character
images) and the project page (rename, flavor, timeline edits, a scene's prompt, regenerate,
pasted lyrics, which the API binds to its JSON too)."""

from __future__ import annotations

from typing import Any

from django import forms

from mv import flavors, planning, styles
from mv.errors import Refused
from mv.forms.fields import MAX_TEXT, JsonForm, StrictCharField, up_to_max_scenes
from mv.models import AudioTrack, CharacterImage, Project
from mv.pipeline.projects import aspect_ratios, check_aspect_ratio


def flavor_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in flavors.names()]


ASPECT_LABELS = {"16:9": "16:9 · landscape", "9:16": "9:16 · portrait", "1:1": "1:1 · square"}


def aspect_choices() -> list[tuple[str, str]]:
    """Every format some flavor's video model makes (the chosen flavor's are checked on submit)."""
    found = dict.fromkeys(a for name in flavors.names() for a in aspect_ratios(flavors.resolve(name)))
    return [(a, ASPECT_LABELS.get(a, a)) for a in found]


class ProjectCreateForm(forms.Form):
    mode = forms.ChoiceField(choices=Project.Mode.choices, initial=Project.Mode.MUSIC_VIDEO,
                             widget=forms.RadioSelect, label="Generation mode")
    config_flavor = forms.ChoiceField(choices=flavor_choices, initial=flavors.DEFAULT, label="Config flavor")
    director_style = forms.ChoiceField(choices=styles.choices, required=False, label="Director style")
    audio_track_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    audio_start = forms.FloatField(min_value=0, initial=0, required=False, label="Start in the song (seconds)")
    song_end = forms.FloatField(min_value=0, required=False, label="End in the song (seconds)")
    video_description = forms.CharField(max_length=MAX_TEXT, widget=forms.Textarea(attrs={"rows": 4}),
                                        label="Video description")
    character_description = forms.CharField(max_length=MAX_TEXT, required=False,
                                            widget=forms.Textarea(attrs={"rows": 3}), label="Character description")
    character_image_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    number_of_scenes = forms.IntegerField(min_value=1, required=False, label="Number of scenes")  # max: __init__
    aspect_ratio = forms.ChoiceField(choices=aspect_choices, initial="16:9", required=False, label="Screen format")

    def __init__(self, *args: Any, owner=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        up_to_max_scenes(self.fields["number_of_scenes"])

    def _owned(self, model: type[AudioTrack | CharacterImage], field: str, gone: str) -> Any:
        """The owner's row itself for an id field (another user's id reads as gone)."""
        pk = self.cleaned_data[field]
        row = model.objects.visible_to(self.owner).filter(pk=pk).first() if pk else None
        if pk and row is None:
            raise forms.ValidationError(gone)
        return row

    def clean_audio_track_id(self) -> AudioTrack | None:
        """The song, also while it is still importing (the plan waits for it); one whose import
        failed is refused with its message."""
        track = self._owned(AudioTrack, "audio_track_id",
                            "That song is not available any more: upload it or paste its URL again.")
        if track is not None:
            try:
                track.refuse_if_unusable()
            except Refused as exc:
                raise forms.ValidationError(exc.message) from None
        return track

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
                self.add_error("song_end", planning.range_message(track, start))
            else:
                self.add_error("number_of_scenes" if count else "song_end", exc.message)


class PlanEstimateForm(forms.Form):
    """The create page's choices that change its price (read from the whole form)."""

    config_flavor = forms.ChoiceField(choices=flavor_choices, required=False)
    number_of_scenes = forms.IntegerField(min_value=1, required=False)
    audio_track_id = forms.UUIDField(required=False)
    audio_start = forms.FloatField(required=False)
    song_end = forms.FloatField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        up_to_max_scenes(self.fields["number_of_scenes"])


class RenameForm(forms.Form):
    title = forms.CharField(max_length=120, label="Project name", error_messages=dict.fromkeys(
        ("required", "max_length"), "Give the project a name (at most 120 characters)."))


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
    config_flavor = forms.ChoiceField(choices=flavor_choices, label="Config flavor", error_messages=dict.fromkeys(
        ("required", "invalid_choice"), "Choose one of the config flavors in the list."))


class StyleSelectForm(forms.Form):
    director_style = forms.ChoiceField(choices=styles.choices, required=False, label="Director style",
                                       error_messages={"invalid_choice": "Choose one of the director styles in the list."})


class FootageForm(forms.Form):
    file = forms.FileField(label="Your video", error_messages={"required": "Choose a video file to upload.",
                                                              "empty": "That file is empty; choose another video."})


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
                             strip=True, error_messages=dict.fromkeys(
                                 ("required", "max_length"), "Paste the song's lyrics (at most 20000 characters)."))


class SongGenerateForm(forms.Form):
    prompt = forms.CharField(max_length=500, label="Describe the song", error_messages={
        "required": "Describe the song to make: its style, mood and instruments."})
    duration = forms.FloatField(min_value=5, max_value=600, initial=30, label="Length (seconds)", error_messages={
        "required": "Give the song's length in seconds.", "invalid": "Give the song's length in seconds."})
    lyrics = forms.CharField(max_length=MAX_TEXT, required=False, widget=forms.Textarea(attrs={"rows": 3}),
                             label="Lyrics (optional)")
    config_flavor = forms.ChoiceField(choices=flavor_choices, required=False)


class AudioUrlForm(forms.Form):
    url = forms.URLField(max_length=2000, label="Audio URL", assume_scheme="https")


class CharacterImagesForm(forms.Form):
    character_description = forms.CharField(max_length=MAX_TEXT, label="Character description")
    config_flavor = forms.ChoiceField(choices=flavor_choices, required=False)
    aspect_ratio = forms.ChoiceField(choices=aspect_choices, required=False)
