"""System checks (`manage.py check`): the flavor registry is sane."""

from __future__ import annotations

from django.core import checks

from mv import flavors


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
