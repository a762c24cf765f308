"""A strict, safe YAML reader for catalogs.

PyYAML's SafeLoader follows YAML 1.1: `on:`/`no`/`off` become booleans, `2025-01-01` becomes a
date, and duplicate keys silently keep the last value. Catalogs follow YAML 1.2 instead: only
true/false are booleans, dates stay text, a duplicate key is an error, and aliases are limited so
that an alias bomb ("billion laughs") fails fast.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

MAX_ALIASES = 100

_BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")


class YamlProblem(Exception):
    """Malformed YAML; the message names the line."""


# libyaml's parser when PyYAML was built with it (about 6x faster on a catalog), else PyYAML's own.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise YamlProblem(
                    f"line {line}: duplicate key '{key}' (first at line {seen[key]}); keep only one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


# Rebuild the implicit resolvers: YAML 1.2 booleans, no timestamps.
_StrictLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in (
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:timestamp",
        )
    ]
    for first, resolvers in _SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_12, list("tTfF"))


def _check_aliases(text: str) -> None:
    """Stop an alias bomb ("billion laughs") before anything is built from it."""
    scanner = _SafeLoader(text)
    try:
        aliases = 0
        while scanner.check_token():
            token = scanner.get_token()
            if isinstance(token, yaml.AliasToken):
                aliases += 1
                if aliases > MAX_ALIASES:
                    raise YamlProblem(
                        f"line {token.start_mark.line + 1}: more than {MAX_ALIASES} aliases (*name); "
                        "write the values out instead"
                    )
    finally:
        scanner.dispose()


def load_yaml(text: str) -> Any:
    """Parse YAML text strictly; raise YamlProblem with a line number on any problem."""
    try:
        _check_aliases(text)
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except YamlProblem:
        raise
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise YamlProblem(
            f"line {line}: {exc.problem}; catalogs hold plain values only (no !! tags)"
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlProblem(f"{where}invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}") from exc
