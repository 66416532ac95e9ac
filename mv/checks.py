"""System checks (`manage.py check`): the flavor registry is sane."""

from __future__ import annotations

import math
from collections.abc import Mapping

from django.core import checks

from mv import flavors, styles
from mv.flavor_schema import BOUNDS, out_of_bounds


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


@checks.register("mv")
def check_flavors(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    registry = flavors.registry()
    messages: list[checks.CheckMessage] = []
    for error in registry.errors:
        where = f"{error.flavor}/{error.file}" if error.file else error.flavor
        check_id = "mv.E002" if error.flavor == flavors.DEFAULT and not error.file else "mv.E001"
        messages.append(checks.Error(f"config flavor {where}: {error.message}", id=check_id))
    for name in registry.names():
        flavor = registry.flavors[name]
        for file, keys in flavors.SCHEMA.items():
            for key, types in keys.items():
                if key not in flavor.values[file]:
                    continue
                value = flavor.values[file][key]
                # bool is an int subclass: a YAML `true` is not a number of scenes.
                if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                    messages.append(
                        checks.Error(
                            f"config flavor {name}: {file}.yaml key {key!r} should be {_type_names(types)}, "
                            f"not {type(value).__name__} ({value!r})",
                            hint=f"set in {flavor.source_of(file, key)}/{file}.yaml",
                            id="mv.E003",
                        )
                    )
        messages.extend(_check_pricing(flavor))
        messages.extend(_check_durations(flavor))
        messages.extend(_check_bounds(flavor))
        for (file, key), allowed in flavors.TEMPLATE_PLACEHOLDERS.items():
            template = flavor.values[file].get(key)
            if not isinstance(template, str):
                continue
            try:
                unknown = flavors.placeholders(template) - allowed
                positional = flavors.positional_placeholders(template)
            except ValueError as exc:
                messages.append(
                    checks.Error(f"config flavor {name}: {file}.yaml {key} is not a valid template: {exc}", id="mv.E004")
                )
                continue
            if positional:
                messages.append(
                    checks.Error(
                        f"config flavor {name}: {file}.yaml {key} has positional placeholders "
                        f"({', '.join(positional)}); templates are filled by name only",
                        hint=f"use one of {', '.join('{' + a + '}' for a in sorted(allowed))}; "
                             "write literal braces as {{ }}",
                        id="mv.E004",
                    )
                )
            if unknown:
                messages.append(
                    checks.Error(
                        f"config flavor {name}: {file}.yaml {key} uses {{{'}, {'.join(sorted(unknown))}}} "
                        "which no parameter supplies",
                        hint=f"allowed: {', '.join(sorted(allowed))}; write literal braces as {{{{ }}}}",
                        id="mv.E004",
                    )
                )
    return messages


def _check_durations(flavor: flavors.Flavor) -> list[checks.CheckMessage]:
    """The scene plan needs at least one clip length, each a whole number of seconds > 0."""
    value = flavor.values["image_params"].get("video_durations")
    if value is None:
        return [checks.Error(f"config flavor {flavor.name}: image_params.yaml has no video_durations",
                             hint="add e.g. video_durations: [4, 6, 8] to default/image_params.yaml", id="mv.E006")]
    if not isinstance(value, tuple | list):
        return []  # mv.E003 says it should be a list
    if not value or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in value):
        return [checks.Error(f"config flavor {flavor.name}: image_params.yaml video_durations should be a list of "
                             f"whole seconds > 0, not {list(value)!r}",
                             hint=f"set in {flavor.source_of('image_params', 'video_durations')}/image_params.yaml",
                             id="mv.E006")]
    return []


def _check_bounds(flavor: flavors.Flavor) -> list[checks.CheckMessage]:
    """Numbers that only make sense in a range (max_speedup: 1.0 to 1.5)."""
    messages = []
    for file, key in BOUNDS:
        wrong = out_of_bounds(file, key, flavor.values[file].get(key))
        if wrong:
            messages.append(checks.Error(f"config flavor {flavor.name}: {wrong}",
                                         hint=f"set in {flavor.source_of(file, key)}/{file}.yaml", id="mv.E008"))
    return messages


def _check_pricing(flavor: flavors.Flavor) -> list[checks.CheckMessage]:
    """Every price known, present after inheritance, a finite number >= 0: a typo'd or
    missing price would make an estimate, a budget check or the ledger silently wrong."""
    pricing = flavor.values["image_params"].get("pricing")
    if pricing is None:
        return [checks.Error(f"config flavor {flavor.name}: image_params.yaml has no pricing",
                             hint=f"add pricing with {', '.join(flavors.PRICING_KEYS)} to default/image_params.yaml",
                             id="mv.E005")]
    if not isinstance(pricing, Mapping):
        return []  # mv.E003 says it should be a mapping
    messages = []
    for key in sorted(set(pricing) - set(flavors.PRICING_KEYS)):
        messages.append(checks.Error(
            f"config flavor {flavor.name}: image_params.yaml pricing has an unknown key {key!r}",
            hint=f"set in {flavor.source_of('image_params', 'pricing.' + key)}/image_params.yaml; "
                 f"known: {', '.join(flavors.PRICING_KEYS)}",
            id="mv.E005"))
    for key in flavors.PRICING_KEYS:
        if key not in pricing:
            messages.append(checks.Error(f"config flavor {flavor.name}: image_params.yaml pricing has no {key}",
                                         hint="set it in default/image_params.yaml", id="mv.E005"))
            continue
        value = pricing[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            messages.append(checks.Error(
                f"config flavor {flavor.name}: image_params.yaml pricing.{key} should be a number of US dollars "
                f">= 0, not {value!r}",
                hint=f"set in {flavor.source_of('image_params', 'pricing.' + key)}/image_params.yaml",
                id="mv.E005"))
    return messages


@checks.register("mv")
def check_director_styles(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every file under configs/styles/ loads: a broken style would silently vanish from the lists."""
    return [checks.Error(f"director style {error.file}: {error.message}",
                         hint=f"fix configs/{styles.FOLDER}/{error.file}; every style sets "
                              f"{', '.join(styles.FIELDS)}", id="mv.E007")
            for error in styles.registry().errors]
