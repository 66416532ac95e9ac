"""Director styles: ``configs/styles/<name>.yaml`` loaded once into an immutable registry.

A style is camera grammar, shot sizes, movement, cutting pace, lens and colour. It is separate
from the flavor (which picks models and prompt templates) and combines with any of them: its
text reaches the scene writer's prompt and, shortened, every clip's prompt. Like flavors, the
styles are read at start-up (``MvConfig.ready``) and never from disk while serving.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

from mv.errors import Refused

logger = logging.getLogger("mv.styles")

FOLDER = "styles"  # under MV_CONFIGS_DIR; not a flavor
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# Every key a style file must set, and how the scene writer is told it.
FIELDS: Mapping[str, str] = MappingProxyType({
    "description": "",
    "camera": "Camera",
    "shot_sizes": "Shot sizes",
    "movement": "Movement",
    "cutting": "Cutting pace",
    "lens_and_colour": "Lens and colour",
})
# What every clip's prompt carries (the rest is about cutting between shots, the writer's job).
CLIP_FIELDS = ("movement", "lens_and_colour")


class UnknownStyle(Refused):
    """A director style name that is not in the registry (a 400 on the API, a field error on pages)."""

    def __init__(self, name: str) -> None:
        super().__init__("unknown_director_style",
                         f"There is no director style called \u201c{name[:64]}\u201d. Choose one of: {', '.join(registry().names())}.")


@dataclass(frozen=True)
class DirectorStyle:
    name: str
    values: Mapping[str, str]

    @property
    def description(self) -> str:
        return self.values["description"]

    @property
    def label(self) -> str:
        return self.name.replace("-", " ").capitalize()

    def _get(self, key: str, used_in: str) -> str:
        value = self.values[key]
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("config value: director style=%s %s.yaml:%s -> %s\n    | %s", self.name, self.name, key,
                         used_in, value)
        return value

    def writer_text(self, *, used_in: str) -> str:
        """The style as the scene writer reads it: one line per aspect."""
        lines = [f"{self.label}: {self._get('description', used_in)}"]
        lines += [f"{label}: {self._get(key, used_in)}" for key, label in FIELDS.items() if label]
        return "\n".join(lines)

    def clip_text(self, *, used_in: str) -> str:
        """The short form appended to every clip's prompt."""
        return "Style: " + "; ".join(self._get(key, used_in) for key in CLIP_FIELDS) + "."

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "label": self.label, "description": self.description}


@dataclass(frozen=True)
class LoadError:
    file: str
    message: str


@dataclass(frozen=True)
class Registry:
    styles: Mapping[str, DirectorStyle]
    errors: tuple[LoadError, ...] = ()

    def names(self) -> list[str]:
        return sorted(self.styles)


def _read(path: Path) -> tuple[DirectorStyle | None, str]:
    if not NAME_RE.match(path.stem):
        return None, "the file name is not a valid style name (lower-case letters, digits, '_' or '-')"
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, f"malformed YAML: {exc}".replace("\n", " ")
    if not isinstance(loaded, dict):
        return None, "must be a mapping of keys to values"
    missing = [key for key in FIELDS if not isinstance(loaded.get(key), str) or not loaded[key].strip()]
    if missing:
        return None, f"needs a non-empty text for {', '.join(missing)}"
    unknown = sorted(set(map(str, loaded)) - set(FIELDS))
    if unknown:
        return None, f"has keys no style uses: {', '.join(unknown)}"
    return DirectorStyle(path.stem, MappingProxyType({k: loaded[k].strip() for k in FIELDS})), ""


def load_registry(configs_dir: Path) -> Registry:
    """Read every style once; a broken file is left out (and reported by the system check)."""
    folder = configs_dir / FOLDER
    styles: dict[str, DirectorStyle] = {}
    errors: list[LoadError] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        style, error = _read(path)
        if style is None:
            errors.append(LoadError(path.name, error))
            logger.error("director style %s: %s", path.name, error)
        else:
            styles[style.name] = style
    logger.debug("director styles loaded from %s: %s", folder, ", ".join(sorted(styles)) or "none")
    return Registry(MappingProxyType(styles), tuple(errors))


_registry: Registry | None = None


def install(registry: Registry) -> None:
    """Called once from ``MvConfig.ready()`` (and by tests that build their own)."""
    global _registry
    _registry = registry


def registry() -> Registry:
    if _registry is None:
        raise RuntimeError("the director style registry is built in MvConfig.ready(); is the mv app installed?")
    return _registry


def names() -> list[str]:
    return registry().names()


def choices() -> list[tuple[str, str]]:
    """For a select: no style first (the flavor's look alone), then every style by name."""
    return [("", "None (the flavor's look)")] + [(n, registry().styles[n].label) for n in names()]


def resolve(name: str | None) -> DirectorStyle | None:
    """The style of a request or project ("" or None: none). An unknown name raises UnknownStyle."""
    if not name:
        return None
    style = registry().styles.get(name) if isinstance(name, str) else None
    if style is None:
        raise UnknownStyle(str(name))
    return style
