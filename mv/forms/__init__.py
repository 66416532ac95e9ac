"""Input validation shared by the pages and the JSON API, one module per kind of caller.

- ``fields``: fields that refuse a JSON value of the wrong type, and ``JsonForm``.
- ``api``: the JSON API's forms, one per endpoint that takes a body.
- ``pages``: the create page's and the project page's forms.

Callers import the forms from here: ``from mv.forms import ProjectCreateForm``.
"""

from __future__ import annotations

from mv.forms.api import (
    AudioDownloadForm,
    AudioTrimForm,
    AudioUploadForm,
    CharacterReferenceForm,
    CreateScenesForm,
    GenerateVideoForm,
    LipsyncForm,
    RetryForm,
    StitchForm,
    WaitForm,
)
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
    wait_field,
)
from mv.forms.pages import (
    AudioUrlForm,
    BoundaryForm,
    CharacterImagesForm,
    FlavorSelectForm,
    LyricsForm,
    MoveForm,
    PlanEstimateForm,
    ProjectCreateForm,
    RegenerateForm,
    RenameForm,
    ScenePromptForm,
    SplitForm,
)

__all__ = [
    "MAX_SHORT", "MAX_TEXT", "AudioDownloadForm", "AudioTrimForm", "AudioUploadForm", "AudioUrlForm", "BoundaryForm",
    "CharacterImagesForm", "CharacterReferenceForm", "CreateScenesForm", "FlavorNameField", "FlavorSelectForm",
    "GenerateVideoForm", "JsonForm", "LipsyncForm", "LyricsForm", "MoveForm", "PlanEstimateForm", "ProjectCreateForm",
    "RegenerateForm", "RenameForm", "RetryForm", "ScenePromptForm", "SplitForm", "StitchForm", "StrictBooleanField",
    "StrictCharField", "StrictFloatField", "StrictIntegerField", "StrictUUIDField", "UUIDListField", "WaitForm",
    "wait_field",
]
