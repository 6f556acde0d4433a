"""The pydantic base every spec builds on: unknown keys are errors, values are frozen and strict.

Strict: a value means what a reader of the file thinks it means. `"64"` (quoted, a string) is
not silently turned into the number 64, `1` is not a boolean, `1.5` is not an int; `.inf` and
`.nan` are refused wherever a number is expected. The one conversion kept is list -> tuple,
because YAML and JSON have no tuples (`image_shape: [8, 8, 1]`).
"""

import re
import types
import typing
from typing import Annotated, Any

from pydantic import AfterValidator, Field, BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from runner.specs import bounds

# Names become folder and file names (runs/<recipe>-<hash>, <data_dir>/<problem>-<fingerprint>,
# leaderboard records): plain names only, so no name can point outside the folder it belongs in.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
MAX_NAME_LENGTH = 100


def _plain_name(value: str) -> str:
    if value and (not _PLAIN_NAME.match(value) or ".." in value or len(value) > MAX_NAME_LENGTH):
        raise ValueError(f"{value[:120]!r} is not a plain name; names become file and folder names, so use letters, "
                         f"digits and _ . + - only (no '/', no '..', not starting with '.'), at most "
                         f"{MAX_NAME_LENGTH} characters")
    return value


PlainName = Annotated[str, AfterValidator(_plain_name)]


def added_field(default: Any, **kwargs: Any) -> Any:
    """A Field added after results were recorded (an hparam, or a top-level problem field). While it
    holds `default` it is left out of spec_hash (experiment.canonical_json), so a recorded experiment
    keeps its hash; the default must therefore be the behaviour from before the field existed, and
    never change."""
    return Field(default, json_schema_extra={"unhashed_default": True}, **kwargs)


def unhashed_defaults(spec_class: type) -> dict[str, Any]:
    """name -> default (as JSON) of the `added_field`s of a spec class."""
    return {name: (info.default.model_dump(mode="json") if isinstance(info.default, BaseModel) else info.default)
            for name, info in spec_class.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("unhashed_default")}


def _is_tuple(annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin is tuple:
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_tuple(a) for a in typing.get_args(annotation))
    return False


class Spec(BaseModel):
    """Base for every YAML-facing model: strict about keys and types, immutable once resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, strict=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _sane(cls, value, info: ValidationInfo):
        """Every number within its sane range (runner/specs/bounds.py), whatever the schema."""
        for item in value if isinstance(value, (list, tuple)) else (value,):
            bounds.check(info.field_name, item)
        return value

    @model_validator(mode="before")
    @classmethod
    def _lists_to_tuples(cls, data):
        if isinstance(data, dict):
            for name, info in cls.model_fields.items():
                if isinstance(data.get(name), list) and _is_tuple(info.annotation):
                    data = {**data, name: tuple(data[name])}
        return data
