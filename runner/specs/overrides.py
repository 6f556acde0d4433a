"""`-o key=value` overrides: parsing, and applying them to raw spec data before validation.

Overrides are applied to the YAML data *before* pydantic sees it, so an override is typed and
validated exactly like the same value written in the file, and its errors point at the `-o`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.specs.errors import Location, SpecError, did_you_mean
from runner.specs.loader import parse_value

# Sections a key may start with. problem/model/hparams alone swap the referenced spec;
# `problem.x` / `hparams.x` change values inside it.
SECTIONS = ("problem", "model", "hparams", "plugins", "train", "decode", "resources", "tune", "tracking")


@dataclass(frozen=True)
class Override:
    path: tuple[str, ...]
    value: Any
    where: Location

    @property
    def section(self) -> str:
        return self.path[0]


def check_key(key: str, where: Location) -> tuple[str, ...]:
    path = tuple(key.split("."))
    if not key or any(not part for part in path):
        raise SpecError(f"malformed key '{key}'; expected dotted names such as hparams.hidden_size", where)
    if path[0] not in SECTIONS:
        raise SpecError(
            f"unknown section '{path[0]}'{did_you_mean(path[0], SECTIONS)} (a key starts with one of: "
            f"{', '.join(SECTIONS)}; e.g. hparams.hidden_size=256, train.steps=100)",
            where,
        )
    return path


def parse_cli(texts: list[str] | tuple[str, ...]) -> list[Override]:
    """Parse `key=value` strings from the command line."""
    result = []
    for text in texts:
        where = Location(override=text)
        if any("\ud800" <= c <= "\udfff" for c in text):  # bytes that were not UTF-8 on the command line
            raise SpecError("the override is not valid UTF-8 text (the command line held other bytes); write it "
                            "in UTF-8", where)
        key, sep, raw = text.partition("=")
        if not sep:
            raise SpecError("expected key=value, e.g. -o hparams.hidden_size=256", where)
        result.append(Override(check_key(key.strip(), where), parse_value(raw, where), where))
    return result


def from_mapping(mapping: Any, where_of) -> list[Override]:
    """Overrides written in a recipe's `overrides:` mapping (`where_of(key)` locates each key)."""
    if not isinstance(mapping, dict):
        return []  # the schema reports the wrong type
    return [Override(check_key(str(k), where_of(k)), v, where_of(k)) for k, v in mapping.items()]


def apply(data: dict, path: tuple[str, ...], value: Any, where: Location) -> None:
    """Set `data[path[0]][path[1]]... = value`, creating mappings along the way."""
    node = data
    for i, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise SpecError(
                f"cannot set '{'.'.join(path)}': '{'.'.join(path[: i + 1])}' holds {child!r}, not a mapping", where
            )
        node = child
    node[path[-1]] = value
