"""Form fields that take a JSON value only when it has the right type (a list is not a
prompt, true is not a number), and ``JsonForm``, a form bound to a parsed JSON object: bad
input is a clear 400 naming the field, never a 500."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from mv import flavors

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


def up_to_max_scenes(field: forms.IntegerField) -> None:
    """A number_of_scenes field takes up to planning.max_scenes() (read when the form is made:
    the flavors are loaded by then)."""
    from django.core.validators import MaxValueValidator

    from mv import planning

    most = planning.max_scenes()
    field.max_value = most
    field.validators = [v for v in field.validators if not isinstance(v, MaxValueValidator)] + [MaxValueValidator(most)]
    field.widget.attrs["max"] = str(most)


class JsonForm(forms.Form):
    """A form bound to a parsed JSON object."""

    def __init__(self, data: dict[str, Any], files: Any = None) -> None:
        super().__init__(data=data, files=files)

    def errors_as_details(self) -> dict[str, list[str]]:
        return {field: [e["message"] for e in errors] for field, errors in self.errors.get_json_data().items()}
