"""Config flavors: ``configs/<flavor>/*.yaml`` loaded once into an immutable registry.

A request resolves its flavor once (``resolve(name)``) and passes the ``Flavor`` down;
there is no module-level "current flavor", so concurrent requests never mix. A flavor
may leave out files or keys: those come from ``default``, key by key.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from mv.flavor_schema import (  # noqa: F401  (the flavor files' schema, re-exported here)
    SCHEMA,
    FILES,
    PRICING_KEYS,
    SCENE_PLACEHOLDERS,
    PLACEHOLDER_HELP,
    TEMPLATE_PLACEHOLDERS,
)

logger = logging.getLogger("mv.flavors")

DEFAULT = "default"
RESERVED = frozenset({"styles"})  # folders under configs/ that are not flavors (mv.styles reads styles/)
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

class InvalidFlavorName(ValueError):
    """A flavor name that is not ``^[A-Za-z0-9_-]{1,64}$`` (a 400, never a lookup)."""


class FlavorKeyError(KeyError):
    """A key that neither the flavor nor ``default`` defines."""


def freeze(value: Any) -> Any:
    """Deep-immutable copy: mappings become read-only proxies, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def _fields(template: str) -> list[str]:
    """Every replacement field's name in a str.format template ("" for ``{}``)."""
    return [re.split(r"[.\[]", name, maxsplit=1)[0] for _, name, _, _ in string.Formatter().parse(template)
            if name is not None]


def placeholders(template: str) -> set[str]:
    """The ``{names}`` a str.format template asks for (``{{`` ``}}`` are literal braces)."""
    return {name for name in _fields(template) if name and not name.isdigit()}


def positional_placeholders(template: str) -> list[str]:
    """``{}`` or ``{0}`` fields: templates are filled by name only, so ``.format()``
    would fail on them (IndexError)."""
    return sorted({"{" + name + "}" for name in _fields(template) if not name or name.isdigit()})


@dataclass(frozen=True)
class VideoConfig:
    """A flavor's video model settings, typed: read from ``image_params`` once per flavor
    (``Flavor.video``) instead of by string keys wherever they are used."""

    durations: tuple[int, ...]  # the clip lengths the model makes, shortest first
    duration: int  # a clip's length when no scene plan says otherwise
    generate_audio: bool
    aspect_ratios: tuple[str, ...]  # the screen formats a project may choose
    aspect_ratio: str  # the default one
    rules_template: str  # appended to each clip's prompt ({aspect_ratio})
    lipsync_scenes_with_lyrics: bool
    max_speedup: float = 1.0  # how much faster a clip may play to fill its scene (1.0: trimmed only)

    @property
    def shortest(self) -> int:
        return self.durations[0]

    @property
    def longest(self) -> int:
        return self.durations[-1]


@dataclass(frozen=True)
class Flavor:
    """One resolved flavor: its values with ``default`` filled in, and where each came from."""

    name: str
    values: Mapping[str, Mapping[str, Any]]
    # file -> key -> "<flavor>" it was read from; a nested key is dotted ("pricing.image_usd_each"),
    # and a mapping the flavor sets only partly counts as the flavor's own.
    sources: Mapping[str, Mapping[str, str]]
    files: tuple[str, ...] = ()  # the YAML files this flavor's own folder holds

    @cached_property
    def video(self) -> VideoConfig:
        """Its video settings, typed, built on first use (the values are logged then, in MV_DEBUG_MODE)."""
        def value(key: str, default: Any = ...) -> Any:
            return self.get("image_params", key, default=default, used_in=f"mv.flavors.Flavor.video: {key}")

        return VideoConfig(
            durations=tuple(sorted({int(d) for d in value("video_durations")})),
            duration=int(value("video_duration")),
            generate_audio=bool(value("video_generate_audio")),
            aspect_ratios=tuple(value("video_aspect_ratios", ["16:9"])),
            aspect_ratio=str(value("video_aspect_ratio")),
            rules_template=str(value("video_rules_template", "")),
            lipsync_scenes_with_lyrics=bool(value("lipsync_scenes_with_lyrics", False)),
            max_speedup=float(value("max_speedup", 1.0)),
        )

    def get(self, file: str, key: str, *, used_in: str, default: Any = ...) -> Any:
        """A config value, logged (in MV_DEBUG_MODE) with where it came from and where it goes."""
        try:
            value = self.values[file][key]
        except KeyError:
            if default is ...:
                raise FlavorKeyError(f"{file}.yaml has no key {key!r} in flavor {self.name!r} or default") from None
            return default
        if logger.isEnabledFor(logging.DEBUG):
            source = self.sources[file][key]
            logger.debug(
                "config value: flavor=%s %s.yaml:%s (from %s) -> %s\n%s",
                self.name,
                file,
                key,
                "its own file" if source == self.name else source,
                used_in,
                _indent(value),
            )
        return value

    def source_of(self, file: str, key: str) -> str:
        return self.sources[file][key]


def flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted key, value)`` for every leaf, sorted, so a nested mapping is shown and
    compared key by key like the top level."""
    items: list[tuple[str, Any]] = []
    for key, value in sorted(values.items()):
        if isinstance(value, Mapping) and value:
            items.extend(flatten(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _sources(values: Mapping[str, Any], origin: str, prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in values.items():
        found[prefix + key] = origin
        if isinstance(value, Mapping):
            found.update(_sources(value, origin, f"{prefix}{key}."))
    return found


def _merge(base: Mapping[str, Any], own: Mapping[str, Any], name: str,
           prefix: str = "") -> tuple[dict[str, Any], dict[str, str]]:
    """``own`` over ``base`` key by key, recursing where both hold a mapping; returns the
    values and the dotted source of every key."""
    merged = dict(base)
    sources = _sources(base, DEFAULT, prefix)
    for key, value in own.items():
        path = prefix + key
        if isinstance(merged.get(key), Mapping) and isinstance(value, Mapping):
            merged[key], nested = _merge(merged[key], value, name, path + ".")
        else:
            merged[key] = value
            nested = _sources(value, name, path + ".") if isinstance(value, Mapping) else {}
            for stale in [p for p in sources if p.startswith(path + ".")]:
                del sources[stale]
        sources.update(nested)
        sources[path] = name
    return merged, sources


def _indent(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return "\n".join("    | " + line for line in str(text).splitlines() or [""])


@dataclass(frozen=True)
class LoadError:
    flavor: str
    file: str
    message: str


@dataclass(frozen=True)
class Registry:
    flavors: Mapping[str, Flavor]
    errors: tuple[LoadError, ...] = ()
    path: Path = field(default_factory=Path)

    def names(self) -> list[str]:
        return sorted(self.flavors)


def _read_folder(folder: Path) -> tuple[dict[str, dict[str, Any]], list[LoadError]]:
    data: dict[str, dict[str, Any]] = {}
    errors: list[LoadError] = []
    for stem in FILES:
        path = folder / f"{stem}.yaml"
        if not path.is_file():
            continue
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            errors.append(LoadError(folder.name, path.name, f"malformed YAML: {exc}".replace("\n", " ")))
            continue
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            errors.append(LoadError(folder.name, path.name, "must be a mapping of keys to values"))
            continue
        data[stem] = {str(k): v for k, v in loaded.items()}
    return data, errors


def load_registry(configs_dir: Path) -> Registry:
    """Read every flavor folder once. A broken flavor is skipped (and reported by the
    system check); the others still load."""
    errors: list[LoadError] = []
    raw: dict[str, dict[str, dict[str, Any]]] = {}
    own_files: dict[str, tuple[str, ...]] = {}
    folders = sorted(p for p in configs_dir.iterdir()
                     if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in RESERVED) if configs_dir.is_dir() else []
    for folder in folders:
        if not NAME_RE.match(folder.name):
            errors.append(LoadError(folder.name, "", "folder name is not a valid flavor name ([A-Za-z0-9_-], 1-64)"))
            continue
        data, folder_errors = _read_folder(folder)
        errors.extend(folder_errors)
        if folder_errors:
            continue
        raw[folder.name] = data
        own_files[folder.name] = tuple(f"{stem}.yaml" for stem in FILES if stem in data)
    if DEFAULT not in raw:
        if not any(e.flavor == DEFAULT for e in errors):
            errors.append(LoadError(DEFAULT, "", f"the required flavor folder {configs_dir / DEFAULT} is missing"))
        return Registry(flavors=MappingProxyType({}), errors=tuple(errors), path=configs_dir)

    base = raw[DEFAULT]
    flavors: dict[str, Flavor] = {}
    for name, data in raw.items():
        values: dict[str, dict[str, Any]] = {}
        sources: dict[str, dict[str, str]] = {}
        for stem in FILES:
            values[stem], sources[stem] = _merge(base.get(stem, {}), data.get(stem, {}), name)
        flavors[name] = Flavor(name=name, values=freeze(values), sources=freeze(sources), files=own_files[name])
    registry = Registry(flavors=MappingProxyType(flavors), errors=tuple(errors), path=configs_dir)
    logger.debug(
        "config flavors loaded from %s: %s",
        configs_dir,
        "; ".join(f"{n} ({', '.join(flavors[n].files) or 'no files of its own'})" for n in registry.names()),
    )
    for error in errors:
        logger.error("config flavor %s %s: %s", error.flavor, error.file, error.message)
    return registry


_registry: Registry | None = None


def install(registry: Registry) -> None:
    """Called once from ``MvConfig.ready()`` (and by tests that build their own)."""
    global _registry
    _registry = registry


def registry() -> Registry:
    if _registry is None:
        raise RuntimeError("the flavor registry is built in MvConfig.ready(); is the mv app installed?")
    return _registry


def names() -> list[str]:
    return registry().names()


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidFlavorName("config_flavor must be 1-64 letters, digits, '_' or '-'")
    return name


def resolve(name: str | None) -> Flavor:
    """The flavor to use for a request: the named one, or ``default`` (with a warning)
    when it does not exist. A malformed name raises ``InvalidFlavorName``."""
    flavors = registry().flavors
    requested = validate_name(name) if name else DEFAULT
    flavor = flavors.get(requested)
    if flavor is not None:
        logger.debug("config flavor %r loaded", requested)
        return flavor
    if DEFAULT not in flavors:
        raise RuntimeError("no 'default' config flavor is loaded; run `manage.py check`")
    logger.warning("config flavor %r not found, using %r", requested, DEFAULT)
    return flavors[DEFAULT]
