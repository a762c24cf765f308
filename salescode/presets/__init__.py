"""CRM presets: what each CRM's exports call things, as data (one YAML file per CRM; README.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch
from importlib import resources
from typing import Any

from salescode.catalog.yamlsafe import load_yaml


@dataclass(frozen=True)
class Role:
    """Which files play a part (deals, users, ...) and which headers mean which field."""

    files: tuple[str, ...]
    fields: dict[str, tuple[str, ...]]

    def takes(self, file_name: str) -> int | None:
        """The rank of the first pattern matching the file name (lower is better), or None."""
        name = file_name.lower()
        return next((i for i, pattern in enumerate(self.files) if fnmatch(name, pattern.lower())), None)

    def resolve(self, headers: list[str]) -> dict[str, str]:
        """field -> the header of `headers` that is its first alternative present."""
        by_key = {header.strip().casefold(): header for header in headers}
        found = {}
        for name, alternatives in self.fields.items():
            header = next(
                (by_key[a.strip().casefold()] for a in alternatives if a.strip().casefold() in by_key), None
            )
            if header is not None and header not in found.values():
                found[name] = header
        return found


@dataclass(frozen=True)
class Preset:
    crm: str
    label: str
    detect_files: tuple[str, ...]
    detect_headers: tuple[str, ...]
    encoding: str
    date_formats: tuple[str, ...]
    roles: dict[str, Role]
    order: tuple[str, ...]  # the default stage order, first to last
    won: tuple[str, ...]
    lost: tuple[str, ...]
    status: dict[str, tuple[str, ...]] = field(default_factory=dict)  # won/lost/open -> values

    def score(self, files: dict[str, list[str]]) -> int:
        """How strongly a folder's files (name -> headers) look like this CRM's exports."""
        distinctive = {h.casefold() for h in self.detect_headers}
        headers = {h.strip().casefold() for names in files.values() for h in names}
        named = sum(1 for name in files if any(fnmatch(name.lower(), p.lower()) for p in self.detect_files))
        return 2 * len(distinctive & headers) + named


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value or ())


def _preset(raw: dict[str, Any]) -> Preset:
    roles = {
        name: Role(
            _texts(spec.get("files")), {f: _texts(alts) for f, alts in (spec.get("fields") or {}).items()}
        )
        for name, spec in (raw.get("roles") or {}).items()
    }
    stages = raw.get("stages") or {}
    detect = raw.get("detect") or {}
    return Preset(
        crm=str(raw["crm"]),
        label=str(raw.get("label", raw["crm"])),
        detect_files=_texts(detect.get("files")),
        detect_headers=_texts(detect.get("headers")),
        encoding=str(raw.get("encoding", "utf-8")),
        date_formats=_texts(raw.get("date_formats")),
        roles=roles,
        order=_texts(stages.get("order")),
        won=_texts(stages.get("won")),
        lost=_texts(stages.get("lost")),
        status={k: _texts(v) for k, v in (raw.get("status") or {}).items()},
    )


def load_presets() -> dict[str, Preset]:
    """Every preset shipped in this package, by CRM name."""
    presets = {}
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            preset = _preset(load_yaml(entry.read_text(encoding="utf-8")))
            presets[preset.crm] = preset
    return presets
