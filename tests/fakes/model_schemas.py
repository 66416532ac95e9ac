"""The published input schemas of the models the app calls, and the check a create goes through.

Each model's schema is a JSON file in ``tests/fakes/schemas/`` (``<owner>__<name>.json``) with
where its fields come from (``source``), when they were read (``date``) and the ``Input`` schema
in the JSON-schema dialect Replicate publishes (Cog's OpenAPI ``components.schemas.Input``).
A create whose input breaks it gets what Replicate answers: 422 ``Input validation failed``
with one ``invalid_fields`` entry per problem. Unknown inputs are refused as well: a field the
real model would silently ignore is as wrong as one it would reject. Files the client uploads
arrive as URL strings, so they are checked as ``format: uri``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker, ValidationError

SCHEMA_DIR = Path(__file__).with_name("schemas")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    """An uploaded file's URL, an output URL, or a data URL: what Replicate fetches an input from."""
    if not isinstance(value, str):
        return True  # the type check reports it
    parts = urlsplit(value)
    return parts.scheme == "data" or (parts.scheme in ("http", "https") and bool(parts.netloc))


@dataclass(frozen=True)
class ModelSchema:
    model: str
    official: bool  # created by name (POST /v1/models/...); otherwise by version
    version: str | None
    input: dict[str, Any]
    output: dict[str, Any]
    source: tuple[str, ...]
    date: str

    def invalid_fields(self, data: Any) -> list[dict[str, str]]:
        """Replicate's ``invalid_fields`` for this input: empty when the model would take it."""
        validator = Draft202012Validator(self.input, format_checker=FORMATS)
        problems = [problem for error in validator.iter_errors(data) for problem in _describe(error)]
        return sorted(problems, key=lambda p: (p["field"], p["description"]))


def load(path: Path) -> ModelSchema:
    raw = json.loads(path.read_text())
    Draft202012Validator.check_schema(raw["Input"])
    source = raw["source"]
    return ModelSchema(model=raw["model"], official=bool(raw["official"]), version=raw.get("version"),
                       input=raw["Input"], output=raw.get("Output", {}),
                       source=tuple(source) if isinstance(source, list) else (source,), date=raw["date"])


@cache
def schemas() -> dict[str, ModelSchema]:
    """Every model with a schema file, by ``owner/name``."""
    found = (load(path) for path in sorted(SCHEMA_DIR.glob("*.json")))
    return {schema.model: schema for schema in found}


def problem_detail(fields: list[dict[str, str]]) -> dict[str, Any]:
    """The body of Replicate's 422 for these problems."""
    detail = "".join(f"- {f['field']}: {f['description']}\n" for f in fields)
    return {"title": "Input validation failed", "detail": detail, "status": 422, "invalid_fields": fields}


def _describe(error: ValidationError) -> list[dict[str, str]]:
    """One jsonschema error as Replicate's invalid_fields entries (its type names and wording)."""
    path = [str(part) for part in error.absolute_path]
    field = ".".join(["input", *path])
    name = path[-1] if path else "input"
    kind = error.validator
    if kind == "required":
        missing = error.message.split("'")[1]
        return [{"type": "required", "field": field, "description": f"{missing} is required"}]
    if kind == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        return [{"type": "additional_property_not_allowed", "field": field,
                 "description": f"Additional property {extra} is not allowed"}
                for extra in sorted(set(error.instance) - known)]
    return [{"type": TYPES.get(kind, kind), "field": field, "description": _message(error, name)}]


# jsonschema's keyword -> the invalid_fields type Replicate reports
TYPES = {"enum": "enum", "const": "const", "type": "invalid_type", "maximum": "number_lte", "minimum": "number_gte",
         "maxItems": "array_max_items", "format": "format"}


def _message(error: ValidationError, name: str) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "enum":
        return f"{name} must be one of the following: " + ", ".join(json.dumps(v) for v in value)
    if kind == "const":
        path = list(error.schema_path)
        needed_by = f" when {path[1]} is given" if path[0] == "dependentSchemas" else ""
        return f"{name} must be {json.dumps(value)}{needed_by}"
    if kind == "type":
        return f"Invalid type. Expected: {value}, given: {_json_type(error.instance)}"
    if kind == "maximum":
        return f"Must be less than or equal to {value}"
    if kind == "minimum":
        return f"Must be greater than or equal to {value}"
    if kind == "maxItems":
        return f"Array must have at most {value} items"
    if kind == "format":
        return f"Does not match format '{value}'"
    return error.message


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
