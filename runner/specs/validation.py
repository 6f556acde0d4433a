"""Turn pydantic's ValidationError into located, readable SpecErrors.

Each error points at the key (unknown keys) or the value (wrong values) in the YAML file it
came from, or at the `-o` override that set it, and names the field with its dotted path.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from runner.specs.errors import Location, SpecError, did_you_mean
from runner.specs.loader import Document

M = TypeVar("M", bound=BaseModel)

# Where a value came from when it was not read from the document being validated
# (an override, or a parent hparams set): path -> Location.
Origins = dict[tuple, Location]


def validate(cls: type[M], data: Any, doc: Document, prefix: tuple = (), origins: Origins | None = None,
             field_prefix: str = "") -> M:
    """Validate `data` (read from `doc` at `prefix`) as `cls`, raising a located SpecError."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise SpecError.merge(
            [_one(err, cls, data, doc, prefix, origins or {}, field_prefix) for err in exc.errors()]
        ) from None


def _one(err: dict, cls: type, data: Any, doc: Document, prefix: tuple, origins: Origins, field_prefix: str) -> SpecError:
    raw_loc = tuple(err["loc"])
    loc = _data_path(data, raw_loc, keep_absent_last=err["type"] == "missing")
    field = ".".join(str(p) for p in ((field_prefix,) if field_prefix else ()) + loc) or None
    kind = err["type"]
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        known = _known_fields(cls, raw_loc[:-1])
        message = f"unknown key '{key}'{did_you_mean(str(key), known)}"
        if known and not did_you_mean(str(key), known):
            message += f" (expected one of: {', '.join(sorted(known))})"
    elif kind == "missing":
        message = "required field is missing"
        desc = _field_description(cls, raw_loc)
        if desc:
            message += f"; expected {desc}"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        got = type(err.get("input")).__name__
        got = {"list": "a list", "str": "a string", "int": "a number", "float": "a number"}.get(got, got)
        message = f"expected a mapping of fields (key: value lines), got {got}"
    elif kind == "int_type" and isinstance(err.get("input"), float) and err["input"].is_integer():
        message = f"{err['input']!r} is a decimal number, but an integer is expected; write {int(err['input'])}"
    elif kind in _NUMBER_TYPES and isinstance(err.get("input"), str):
        text = err["input"]
        if _reads_as(kind, text):
            message = f"{text!r} is quoted, so it is a string, not {_NUMBER_TYPES[kind]}; write {text} without quotes"
        else:
            message = f"expected {_NUMBER_TYPES[kind]}, got the text {text!r}"
    else:
        message = err["msg"].removeprefix("Value error, ")
        if kind not in ("value_error", "assertion_error") and "input" in err and not isinstance(err["input"], dict):
            message += f" (got {err['input']!r})"
    return SpecError(message, _where(loc, doc, prefix, origins, kind == "extra_forbidden"), field)


# Strict types (runner/specs/base.py): a quoted "64" is not silently read as the number 64.
_NUMBER_TYPES = {"int_type": "an integer", "float_type": "a number", "bool_type": "a boolean"}


def _reads_as(kind: str, text: str) -> bool:
    """Whether `text` would be the expected kind of value if it were not quoted."""
    if kind == "bool_type":
        return text.lower() in ("true", "false")
    try:
        (int if kind == "int_type" else float)(text)
        return True
    except ValueError:
        return False


def _where(loc: tuple, doc: Document, prefix: tuple, origins: Origins, prefer_key: bool) -> Location:
    probe = loc
    while True:
        if probe in origins:
            return origins[probe]
        if not probe:
            break
        probe = probe[:-1]
    return doc.where(prefix + loc, prefer_key=prefer_key)


def _data_path(data: Any, loc: tuple, keep_absent_last: bool) -> tuple:
    """Drop the union/discriminator tags pydantic inserts into `loc`, keeping real keys.

    A part that is not in the data is a tag (e.g. 'float' for a discriminated union), except
    the last part of a 'missing' error, which names the absent key.
    """
    out, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif keep_absent_last and i == len(loc) - 1:
            out.append(part)
    return tuple(out)


def _model_at(cls: Any, loc: tuple) -> Any:
    """Walk a pydantic model's annotations along `loc` (skipping dict keys and union tags)."""
    current = cls
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is not None:
                current = field.annotation
            # a union tag or dict key: stay on the current model
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) is list:
            current = typing.get_args(current)[0]
    return _unwrap(current, None)


def _unwrap(annotation: Any, tag: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], tag)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        for m in models:  # a discriminated union: pick the member whose `type` literal matches the tag
            t = m.model_fields.get("type")
            if t is not None and tag in (typing.get_args(t.annotation) or ()):
                return m
        if len(members) == 1:
            return _unwrap(members[0], tag)
        return models[0] if len(models) == 1 else annotation
    return annotation


def _known_fields(cls: type, loc: tuple) -> list[str]:
    model = _model_at(cls, loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _field_description(cls: type, loc: tuple) -> str:
    parent = _model_at(cls, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel) and loc and isinstance(loc[-1], str):
        field = parent.model_fields.get(loc[-1])
        if field is not None:
            return field.description or ""
    return ""
