"""Load YAML safely, remembering where every key and value came from.

PyYAML accepts duplicate keys (the last one wins) and, with the full loader, builds Python
objects from `!!python/...` tags. Specs must do neither: a duplicate key is an error naming
both lines, and any tag outside YAML's core schema is refused. Every value's position is
kept so that validation errors can point at `file:line:col`.

Bounded work for any input: a spec file must be a regular file of at most `MAX_FILE_BYTES`
(a named pipe, `/dev/zero` or a symlink loop is refused before anything is read), and a
document may expand to at most `MAX_NODES` values (an alias "bomb" of a few hundred bytes
that would expand to gigabytes is refused while it is counted) and nest `MAX_DEPTH` deep;
a recursive alias is refused.

No silent reinterpretation: YAML 1.1 (PyYAML's dialect) reads `yes`/`no`/`on`/`off` as
booleans, `0100` as octal 64, `1:30` as 90 (base 60), `1_000` as 1000 and `2001-01-01` as a
date, where YAML 1.2 and most readers see strings. Such plain scalars are refused with what
to write instead, as are non-finite numbers (`.inf`, `.nan`, `1e309`); `-0.0` reads as 0.0.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.specs.errors import Location, SpecError

Path_ = tuple  # a tuple of keys / list indices from the document root

MAX_FILE_BYTES = 1 << 20  # 1 MiB: the largest shipped spec is a few KiB
MAX_NODES = 100_000  # values (scalars, lists, mappings) in one document after alias expansion
MAX_DEPTH = 100  # nesting of lists and mappings
_MAX_INT_DIGITS = 30  # an int literal longer than this is a typo, not a size

_CORE_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "seq", "map")
}


# libyaml's C parser when PyYAML was built with it (10x faster); node marks are the same.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """Safe loader that also reads `1e-9` as a float (YAML 1.2 does; PyYAML 1.1 says string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass
class Document:
    """A loaded YAML mapping plus the position of each key and value in its file."""

    path: str
    data: dict[str, Any]
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Path_, prefer_key: bool = False) -> Location:
        """The closest known position for a path (falls back to its nearest ancestor)."""
        loc = tuple(loc)
        while True:
            marks = (self.key_marks, self.value_marks) if prefer_key else (self.value_marks, self.key_marks)
            for table in marks:
                if loc in table:
                    line, col = table[loc]
                    return Location(self.path, line, col)
            if not loc:
                return Location(self.path, 1, 1)
            loc = loc[:-1]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Budget:
    """Counts values as aliases are expanded, and the aliases being expanded (to see a cycle)."""

    def __init__(self, doc: "Document"):
        self.doc = doc
        self.nodes = 0
        self.active: set[int] = set()

    def spend(self, node: yaml.Node, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(
                f"the document expands to more than {MAX_NODES:,} values (through anchors and aliases, '*name'); "
                "specs are small: write the values out, or use fewer aliases",
                Location(self.doc.path, *_mark(node)))
        if depth > MAX_DEPTH:
            raise SpecError(f"values nest more than {MAX_DEPTH} levels deep; specs are shallow mappings",
                            Location(self.doc.path, *_mark(node)))


def _merged_size(node: yaml.Node, memo: dict[int, int], active: set[int], where: str) -> int:
    """How many key/value pairs a mapping holds once its `<<:` merge keys are flattened."""
    if id(node) in memo:
        return memo[id(node)]
    if id(node) in active:
        raise SpecError("a recursive alias: a mapping merges itself; a value cannot contain itself",
                        Location(where, *_mark(node)))
    active.add(id(node))
    size = 0
    for key_node, value_node in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            size += sum(_merged_size(s, memo, active, where) for s in sources if isinstance(s, yaml.MappingNode))
        else:
            size += 1
        if size > MAX_NODES:
            raise SpecError(f"the mapping's merge keys ('<<:') expand to more than {MAX_NODES:,} values; "
                            "write the values out instead", Location(where, *_mark(node)))
    active.discard(id(node))
    memo[id(node)] = size
    return size


_BOOL_WORDS = {"true", "false"}
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9]")


def _scalar(node: yaml.ScalarNode, loader: _Loader, where: Location) -> Any:
    """A scalar's value, refusing plain scalars that YAML 1.1 reads differently from a reader's eye."""
    text, tag = node.value, node.tag
    if node.style or node.tag == "tag:yaml.org,2002:str":  # plain style is None (Python) or "" (libyaml)
        return loader.construct_object(node, deep=True)  # quoted: a string, as written
    if tag == "tag:yaml.org,2002:bool" and text.lower() not in _BOOL_WORDS:
        raise SpecError(f"'{text}' is a boolean in YAML 1.1 but a string elsewhere; write true or false for a "
                        f"boolean, or quote it ('{text}') for a string", where)
    if tag.startswith("tag:yaml.org,2002:timestamp"):
        raise SpecError(f"'{text}' reads as a date; quote it ('{text}') for a string", where)
    if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
        if ":" in text:
            raise SpecError(f"'{text}' is a base-60 number in YAML 1.1 (1:30 means 90); quote it ('{text}') for a "
                            "string, or write the number itself", where)
        if "_" in text:
            raise SpecError(f"'{text}' has '_' digit separators, which YAML readers disagree on; write "
                            f"{text.replace('_', '')}", where)
        if tag.endswith("int"):
            if _LEADING_ZERO.match(text) or text.lower().lstrip("+-").startswith("0b"):
                digits = text.lstrip("+-0") or "0"
                raise SpecError(f"'{text}' is an octal or binary number in YAML 1.1 (0100 means 64); write {digits} "
                                f"without the leading zero, or quote it ('{text}') for a string", where)
            if len(text) > _MAX_INT_DIGITS:
                raise SpecError(f"the number {text[:20]}... has {len(text)} digits; no spec value is that large", where)
        value = loader.construct_object(node, deep=True)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise SpecError(f"'{text}' is not a finite number; spec numbers must be finite: write e.g. 1e6", where)
            if value == 0.0:
                value = 0.0  # -0.0 means 0.0 (and must hash like it)
        return value
    return loader.construct_object(node, deep=True)


def _convert(node: yaml.Node, loader: _Loader, doc: Document, path: Path_, budget: _Budget | None = None,
             depth: int = 0) -> Any:
    """Turn a composed node into plain Python, rejecting non-core tags, duplicate keys and unbounded input."""
    budget = budget or _Budget(doc)
    budget.spend(node, depth)
    doc.value_marks[path] = _mark(node)
    if node.tag not in _CORE_TAGS and not node.tag.startswith("tag:yaml.org,2002:timestamp"):
        line, col = _mark(node)
        raise SpecError(
            f"the YAML tag '{node.tag}' is not allowed; specs hold plain data only "
            "(strings, numbers, booleans, lists, mappings) and never construct objects",
            Location(doc.path, line, col),
        )
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node, loader, Location(doc.path, *_mark(node)))
    if id(node) in budget.active:
        raise SpecError("a recursive alias: this value contains itself (through '*name'); a spec value must be "
                        "finite, so write it out", Location(doc.path, *_mark(node)))
    budget.active.add(id(node))
    try:
        if isinstance(node, yaml.MappingNode):
            _merged_size(node, {}, set(), doc.path)
            loader.flatten_mapping(node)  # resolve `<<: *anchor` merge keys
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = _convert(key_node, loader, doc, path + ("<key>",), budget, depth + 1)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    raise SpecError("mapping keys must be plain scalars", Location(doc.path, *_mark(key_node)))
                if key in result:
                    first = doc.key_marks[path + (key,)]
                    raise SpecError(
                        f"duplicate key '{key}' (first defined at line {first[0]}); "
                        "each key may appear once in a mapping",
                        Location(doc.path, *_mark(key_node)),
                    )
                doc.key_marks[path + (key,)] = _mark(key_node)
                result[key] = _convert(value_node, loader, doc, path + (key,), budget, depth + 1)
            doc.value_marks.pop(path + ("<key>",), None)
            return result
        return [_convert(item, loader, doc, path + (i,), budget, depth + 1) for i, item in enumerate(node.value)]
    finally:
        budget.active.discard(id(node))


def parse_yaml(text: str, path: str) -> Document:
    """Parse one YAML document that must be a mapping."""
    _check_text(text, path)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        doc = Document(path, {})
        if node is None:
            raise SpecError("the file is empty; expected a YAML mapping of spec fields (write them as `key: value` "
                            "lines; a file of only comments is empty too)", Location(path, 1, 1))
        data = _convert(node, loader, doc, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise SpecError(f"YAML syntax error: {exc.problem or exc.context}", where) from None
    except yaml.YAMLError as exc:
        raise SpecError(f"YAML error: {' '.join(str(exc).split())}", _reader_location(exc, text, path)) from None
    except RecursionError:
        raise SpecError(f"values nest too deeply; specs are shallow mappings (at most {MAX_DEPTH} levels)",
                        Location(path, 1, 1)) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise SpecError(f"the file holds {kind}; expected a YAML mapping of spec fields (`key: value` lines)",
                        Location(path, 1, 1))
    doc.data = data
    return doc


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _check_text(text: str, path: str) -> None:
    """NUL and other control characters, which PyYAML reports without a position."""
    bad = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]", text)
    if bad:
        char = bad.group()
        what = "a NUL byte" if char == "\0" else f"the control character {char!r}"
        raise SpecError(f"{what} in the text; spec files are plain UTF-8 text (is this a binary file?); "
                        "delete the character", Location(path, *_position(text, bad.start())))


def _reader_location(exc: yaml.YAMLError, text: str, path: str) -> Location:
    position = getattr(exc, "position", None)
    return Location(path, *_position(text, position)) if isinstance(position, int) else Location(path)


def read_text(path: str | Path, what: str = "spec file", limit: int = MAX_FILE_BYTES) -> str:
    """A small UTF-8 text file's contents; anything else is a located SpecError, decided before reading much.

    A named pipe, a device such as /dev/zero, a directory or a symlink loop is refused from its
    metadata (opening with O_NONBLOCK, so a pipe without a writer does not block); at most
    `limit` + 1 bytes are ever read.
    """
    where = Location(str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise SpecError("file not found", where) from None
    except IsADirectoryError:
        raise SpecError(f"this is a folder; expected a {what}", where) from None
    except OSError as exc:
        raise SpecError(f"cannot open the {what}: {exc.strerror or exc}", where) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = ("a folder" if stat.S_ISDIR(info.st_mode) else "a named pipe" if stat.S_ISFIFO(info.st_mode)
                    else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket"
                    if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise SpecError(f"this is {kind}, not a regular file; expected a {what}", where)
        if info.st_size > limit:
            raise SpecError(f"the file is {info.st_size:,} bytes; a {what} may be at most {limit:,} bytes", where)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise SpecError(f"cannot read the {what}: {exc.strerror or exc}", where) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SpecError(f"the file is larger than {limit:,} bytes, the limit for a {what}", where)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(f"byte 0x{data[exc.start]:02x} is not UTF-8 text; save the file as UTF-8",
                        Location(str(path), line, col)) from None


def load_yaml(path: str | Path) -> Document:
    """Read and parse a spec file."""
    return parse_yaml(read_text(path), str(path))


def parse_value(text: str, where: Location) -> Any:
    """Parse one `-o key=value` value with the same YAML rules as a spec file."""
    if re.search(r"[\ud800-\udfff]", text):
        raise SpecError("the value is not valid UTF-8 text (the command line held bytes that are not); "
                        "write it in UTF-8", where)
    if "\0" in text or len(text) > MAX_FILE_BYTES:
        raise SpecError("the value holds a NUL byte or is longer than a spec file may be", where)
    loader = _Loader(text)
    doc = Document(str(where), {})
    try:
        node = loader.get_single_node()
        return None if node is None else _convert(node, loader, doc, ())
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or exc
        raise SpecError(
            f"cannot parse the value {text!r}: {problem}; expected a YAML value such as 256, 0.1, true, "
            "adam, or [a, b] (quote strings that contain ':' or '#')",
            where,
        ) from None
    except SpecError as exc:
        raise SpecError(exc.items[0][2], where) from None
    except RecursionError:
        raise SpecError("the value nests too deeply", where) from None
    finally:
        loader.dispose()
