"""List config flavors, show one resolved with the source of every value, diff two."""

from __future__ import annotations

import difflib

from django.core.management.base import BaseCommand, CommandError

from mv import flavors

UNSET = object()


def _short(value: object, limit: int = 70) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _lines(value: object) -> list[str]:
    if value is UNSET:
        return []
    return value.splitlines() if isinstance(value, str) else [repr(value)]


def _value_diff(a_name: str, va: object, b_name: str, vb: object) -> list[str]:
    """A unified diff of two values, line by line and never shortened, so two long
    prompts that differ late still show where they differ."""
    lines = list(difflib.unified_diff(_lines(va), _lines(vb), fromfile=a_name if va is not UNSET else f"{a_name} (unset)",
                                      tofile=b_name if vb is not UNSET else f"{b_name} (unset)", lineterm=""))
    if not lines:  # same text, different types (e.g. 8 and "8")
        lines = [f"--- {a_name}", f"+++ {b_name}", f"-{va!r}", f"+{vb!r}"]
    return lines


class Command(BaseCommand):
    help = ("List config flavors; `show NAME` prints resolved values and their source; "
            "`diff A B` prints a unified diff of every value that differs.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "show", "diff"], default="list")
        parser.add_argument("names", nargs="*")
        parser.add_argument("--full", action="store_true", help="print values in full")

    def _get(self, name: str) -> flavors.Flavor:
        registry = flavors.registry()
        if name not in registry.flavors:
            raise CommandError(f"no config flavor {name!r}; known: {', '.join(registry.names())}")
        return registry.flavors[name]

    def handle(self, *args, action: str, names: list[str], full: bool, **options) -> None:
        registry = flavors.registry()
        if action == "list":
            for name in registry.names():
                own = ", ".join(registry.flavors[name].files) or "no files of its own"
                self.stdout.write(f"{name}{' (default)' if name == flavors.DEFAULT else ''}: {own}")
            for error in registry.errors:
                self.stderr.write(f"not loaded: {error.flavor} {error.file}: {error.message}")
            return
        if action == "show":
            if len(names) != 1:
                raise CommandError("usage: mv_flavors show NAME")
            flavor = self._get(names[0])
            for file in flavors.FILES:
                self.stdout.write(f"{file}.yaml")
                for key, value in flavors.flatten(flavor.values[file]):
                    source = flavor.source_of(file, key)
                    origin = "own file" if source == flavor.name else f"from {source}"
                    shown = str(value) if full else _short(value)
                    self.stdout.write(f"  {key} [{origin}]: {shown}")
            self.stdout.write("placeholders the templates may use")
            for (file, key), allowed in flavors.TEMPLATE_PLACEHOLDERS.items():
                self.stdout.write(f"  {file}.yaml {key}: " + ", ".join("{" + n + "}" for n in sorted(allowed)))
            for name, meaning in sorted(flavors.PLACEHOLDER_HELP.items()):
                self.stdout.write(f"  {{{name}}}: {meaning}")
            return
        if len(names) != 2:
            raise CommandError("usage: mv_flavors diff A B")
        a, b = self._get(names[0]), self._get(names[1])
        differences = 0
        for file in flavors.FILES:
            flat_a, flat_b = dict(flavors.flatten(a.values[file])), dict(flavors.flatten(b.values[file]))
            for key in sorted(set(flat_a) | set(flat_b)):
                va, vb = flat_a.get(key, UNSET), flat_b.get(key, UNSET)
                if va != vb or type(va) is not type(vb):
                    differences += 1
                    self.stdout.write(f"{file}.yaml {key}:")
                    for line in _value_diff(a.name, va, b.name, vb):
                        self.stdout.write(f"  {line}")
        if not differences:
            self.stdout.write(f"{a.name} and {b.name} resolve to the same values")
