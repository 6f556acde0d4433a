"""The field reference of every spec kind, read straight from the pydantic schemas (torch-free).

One source for `runner describe` (the terminal) and `docs/REFERENCE.md` (generated; a test fails
when it is stale). Regenerate the page with:

    python -m runner.specs.reference docs/REFERENCE.md

A row is a field: its YAML key, type, default ("required" when it has none), range (from the
schema's bounds) and description. A field whose type is itself a schema gets a section of its own
below its parent's (e.g. `source` of a text problem); rules that tie fields together live in the
schemas' validators and are enforced by `runner validate`, not listed here.
"""

from __future__ import annotations

import enum
import json
import sys
import types
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from runner import registry
from runner.specs.hparams_base import TrainingHparams
from runner.specs.problem_base import ProblemSpec
from runner.specs.schemas import HparamsRangeSpec, HparamsSetSpec, ModelSpec, RecipeSpec

KINDS = ("problem", "model", "hparams", "recipe")


@dataclass(frozen=True)
class Row:
    key: str
    type: str
    default: str
    range: str
    description: str


@dataclass(frozen=True)
class Section:
    title: str  # e.g. "recipe: train" or "problem family text2text"
    schema: type[BaseModel]
    intro: str
    rows: list[Row]


def sections(schema: type[BaseModel], title: str, intro: str = "", path: str | None = None) -> list[Section]:
    """The schema's own section, then one per nested schema (depth first, each once), titled by
    their dotted key below `path` (default: the title)."""
    found: list[Section] = []
    _collect(schema, title, path or title, intro, found, set())
    return found


def _collect(schema: type[BaseModel], title: str, path: str, intro: str, out: list[Section], seen: set) -> None:
    if (schema, path) in seen:
        return
    seen.add((schema, path))
    rows, nested = [], []
    for key, field in schema.model_fields.items():
        rows.append(Row(key, type_name(field.annotation), _default(field), _range(field.metadata),
                        " ".join((field.description or "").split())))
        inners = _schemas_in(field.annotation)
        for inner in inners:
            label = inner.__name__ if len(inners) == 1 else _type_label(inner)
            nested.append((inner, f"{path}.{key}", label))
    out.append(Section(title, schema, intro or _doc(schema), rows))
    for inner, inner_path, label in nested:
        _collect(inner, f"{inner_path} ({label})", inner_path, "", out, seen)


def _doc(schema: type) -> str:
    doc = schema.__doc__ or ""
    if doc.startswith(("A base class for creating Pydantic models", "Usage docs")):
        return ""  # pydantic's own docstring, inherited
    return " ".join(doc.split())


def _schemas_in(annotation: Any) -> list[type[BaseModel]]:
    """The spec schemas a field's type holds (itself, in a list/dict/union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        for schema in _schemas_in(arg):
            if schema not in found:
                found.append(schema)
    return found


def _type_label(schema: type) -> str:
    tag = schema.model_fields.get("type")
    literals = typing.get_args(tag.annotation) if tag is not None else ()
    return f"type: {literals[0]}" if len(literals) == 1 else schema.__name__  # a member of a tagged union


def type_name(annotation: Any) -> str:
    """A type as a YAML writer reads it: int, float, str, bool, a|b (choices), list[...], X | null."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) if isinstance(a, str) else str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return f"{text} or null" if type(None) in args else text
    if origin in (list, tuple, dict, set):
        name = {list: "list", tuple: "list", dict: "mapping", set: "list"}[origin]
        inner = [type_name(a) for a in args if a is not Ellipsis]
        if origin is tuple and inner and len(set(inner)) == 1 and Ellipsis not in args:
            return f"list of {len(inner)} {inner[0]}"
        return f"{name}[{', '.join(inner)}]" if inner else name
    if annotation is typing.Any:
        return "any value"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return _type_label(annotation) if "type" in annotation.model_fields else annotation.__name__
        if issubclass(annotation, enum.Enum):
            return " | ".join(str(m.value) for m in annotation)
        return {"str": "str", "int": "int", "float": "float", "bool": "bool", "NoneType": "null"}.get(
            annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if isinstance(value, tuple):
        value = list(value)
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value) if value else '""'
    return json.dumps(value)


def _range(metadata: list) -> str:
    parts = []
    for item in metadata:
        for attr, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(item, attr, None)
            if value is not None and isinstance(item, (annotated_types.Gt, annotated_types.Ge, annotated_types.Lt,
                                                       annotated_types.Le, annotated_types.Interval)):
                parts.append(f"{sign} {value:g}" if isinstance(value, float) else f"{sign} {value}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            parts.append(f"at least {item.min_length} item{'s' if item.min_length != 1 else ''}")
        if isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} items")
    return ", ".join(parts)


# --- what each kind covers ---------------------------------------------------------------------

def recipe_sections() -> list[Section]:
    return sections(RecipeSpec, "recipe", "A recipe (catalog/recipes/*.yaml): problem + model + hparams + "
                    "overrides + train + decode + resources + tune + tracking. `name` comes from the file stem.")


def model_sections() -> list[Section]:
    return sections(ModelSpec, "model", "A model (catalog/models/*.yaml) names an implementation in the registry; "
                    "its hyperparameters are an hparams set's (`runner describe hparams MODEL`).")


def family_sections(family: str) -> list[Section]:
    entry = registry.family(family)
    schema = entry.config_class()
    return sections(schema, f"problem family {family}", f"{entry.description}. {_doc(schema)}".strip(),
                    path=f"{family}")


def _shipped(entries: dict) -> list[str]:
    """Registry names that come with runner (plugins register classes, not "module:attr" strings)."""
    return sorted(name for name, entry in entries.items() if isinstance(entry.config, str))


def problem_sections() -> list[Section]:
    base = sections(ProblemSpec, "problem", "A problem (catalog/problems/*.yaml): where data comes from, how it "
                    "is encoded, how it is scored. `family:` picks the schema; every family has these fields.")
    return base + [s for family in _shipped(registry.FAMILIES) for s in family_sections(family)]


def hparams_file_sections() -> list[Section]:
    return (sections(HparamsSetSpec, "hparams set", "An hparams set (catalog/hparams/*.yaml): values for one model's "
                     "hparams schema (below), `extends:` another set and changes a few.")
            + sections(HparamsRangeSpec, "hparams range", "A search space over a set (`kind: hparams_range`), "
                       "used by a recipe's `tune.range`."))


def model_hparams_sections(implementation: str) -> list[Section]:
    entry = registry.model(implementation)
    schema = entry.config_class()
    unit = getattr(schema, "batch_unit", "tokens")
    return sections(schema, f"hparams of model {implementation}", path=f"{implementation}", intro=
                    f"{entry.description}. batch_size counts {unit}.")


def hparams_sections() -> list[Section]:
    return hparams_file_sections() + [s for name in _shipped(registry.MODELS) for s in model_hparams_sections(name)]


def all_sections() -> list[Section]:
    return recipe_sections() + problem_sections() + model_sections() + hparams_sections()


# --- rendering ---------------------------------------------------------------------------------

def _md(text: str) -> str:
    """Text safe in a Markdown table cell: pipes and asterisks (schedules, globs) escaped."""
    return text.replace("|", "\\|").replace("*", "\\*")


def markdown(parts: list[Section] | None = None) -> str:
    parts = all_sections() if parts is None else parts
    lines = ["# Spec reference", "",
             "Every field of every spec kind, generated from the pydantic schemas by "
             "`python -m runner.specs.reference docs/REFERENCE.md` (a test fails when this page is stale; "
             "`runner describe problem|model|hparams|recipe [NAME]` prints the same in a terminal). "
             "Unknown keys are errors; rules between fields are checked by `runner validate`.", ""]
    for section in parts:
        lines += [f"## {section.title}", ""]
        if section.intro:
            lines += [_md(section.intro), ""]
        lines += ["| key | type | default | range | description |", "|---|---|---|---|---|"]
        for row in section.rows:
            lines.append(f"| `{row.key}` | {_md(row.type)} | {_md(row.default)} | {_md(row.range)} | "
                         f"{_md(row.description)} |")
        lines.append("")
    return "\n".join(lines)


def text(parts: list[Section]) -> str:
    """The terminal form: one block per section, aligned columns, descriptions on their own line."""
    out = []
    for section in parts:
        out.append(section.title)
        if section.intro:
            out.append(f"  {section.intro}")
        width = max((len(r.key) for r in section.rows), default=0)
        type_width = min(max((len(r.type) for r in section.rows), default=0), 40)
        for row in section.rows:
            facts = ("required" if row.default == "required" else f"default {row.default}") \
                + (f"; {row.range}" if row.range else "")
            out.append(f"  {row.key:<{width}}  {row.type:<{type_width}}  {facts}")
            if row.description:
                out.append(f"  {'':<{width}}  {row.description}")
        out.append("")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    page = markdown()
    if argv:
        with open(argv[0], "w", encoding="utf-8") as f:
            f.write(page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
