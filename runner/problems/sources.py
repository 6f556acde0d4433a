"""Raw text of each split, from local files (tried first) or a hub dataset (the fallback).

Local formats: aligned plain-text files (one example per line, optionally gzipped, line N of
the input file paired with line N of the target file), and jsonl / csv / parquet files with
named fields. Every problem with the input found here is reported as a SpecError naming the
file (and line) and what was expected.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from runner.problems.base import SPLITS
from runner.problems.local_or_hub import candidate_paths, choose, find_local, repo_root  # noqa: F401  (old import path)
from runner.problems.text_spec import HubSource, TextSource
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)


@dataclass
class SplitText:
    """One split's raw text; inputs is None for language-model problems."""

    inputs: list[str] | None
    targets: list[str]


@dataclass
class ResolvedSource:
    """Where a problem's text actually comes from on this machine."""

    kind: str  # "local" or "hub"
    files: list[Path]  # local files read (hashed into the fingerprint); none for the hub
    read: Callable[[str, int], SplitText]  # (split, max_examples) -> SplitText
    description: str  # the folder or "hub:<dataset>", for logs and meta.json


def resolve_source(source: TextSource, two_sided: bool) -> ResolvedSource:
    """Pick local files when `source.path` exists, else the hub dataset; fail clearly when neither."""
    folder = choose(source, "data")
    if folder is not None:
        if not folder.is_dir():
            raise SpecError(f"'{folder}' is a file; source.path must be a folder of data files",
                            field="problem.source.path")
        files = {split: _split_files(source, folder, split, two_sided) for split in SPLITS}
        read = _text_reader(files) if source.format == "text" else _records_reader(source, files, two_sided)
        return ResolvedSource("local", [p for paths in files.values() for p in paths], read, str(folder))
    return ResolvedSource("hub", [], hub_reader(source.hub, two_sided), f"hub:{source.hub.dataset}")


def hub_reader(hub: HubSource, two_sided: bool):
    """A (split, max_examples) -> SplitText reader of a hub dataset; it loads on the first call only."""
    loaded = {}

    def read(split: str, max_examples: int) -> SplitText:
        from runner.problems.hub import hub_rows, load_hub_dataset

        if "data" not in loaded:
            loaded["data"] = load_hub_dataset(hub)
        data = loaded["data"]
        hub_split = hub.splits[split]
        if hub_split not in data:
            raise SpecError(f"hub dataset '{hub.dataset}' has no split '{hub_split}' (it has: "
                            f"{', '.join(data)})", field=f"problem.source.hub.splits.{split}")
        dataset = data[hub_split]
        if max_examples:
            dataset = dataset.select(range(min(max_examples, len(dataset))))
        label = f"hub dataset '{hub.dataset}' split '{hub_split}'"
        return records_to_text(hub_rows(dataset), hub.input_field if two_sided else None, hub.target_field, label,
                               max_examples)

    return read


def _split_files(source: TextSource, folder: Path, split: str, two_sided: bool) -> list[Path]:
    pattern = source.files[split]
    if source.format == "text":
        fields = [source.input_field, source.target_field] if two_sided else [source.target_field]
        paths = [folder / pattern.replace("{field}", f) for f in fields]
    else:
        paths = [folder / pattern]
    for path in paths:
        if not path.is_file():
            raise SpecError(f"missing {split} split: looked for {path} (pattern '{pattern}' in {folder})",
                            field=f"problem.source.files.{split}")
    return paths


MAX_LINE_BYTES = 1 << 20  # one example per line: a longer line is the wrong file, not an example
_CHUNK = 1 << 24


def _read_lines(path: Path) -> list[str]:
    """The file's lines, read in chunks so that one absurdly long line is refused before it is in memory."""
    opener = gzip.open if path.suffix == ".gz" else open
    lines: list[bytes] = []
    pending = b""
    try:
        with opener(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                data = pending + chunk
                cut = data.rfind(b"\n")
                pending = data[cut + 1:]
                if cut >= 0:
                    before = len(lines)
                    lines.extend(data[:cut].split(b"\n"))
                    _check_line_lengths(path, lines, before)
                if len(pending) > MAX_LINE_BYTES:
                    _too_long(path, len(lines) + 1)
    except (OSError, EOFError) as exc:  # e.g. a truncated or non-gzip .gz file
        raise SpecError(f"{path}: cannot read: {exc}") from None
    if pending:
        lines.append(pending)
    # Split on '\n' only: str.splitlines() also breaks on rare separators (U+2028, \x1c...) that
    # may occur inside a sentence, which would silently misalign the two sides.
    text = []
    for lineno, raw in enumerate(lines, 1):
        try:
            text.append(raw.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as exc:
            raise SpecError(f"{path}:{lineno}:{exc.start + 1}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                            "save the file as UTF-8") from None
    return text


def _check_line_lengths(path: Path, lines: list[bytes], start: int) -> None:
    """Only the lines added since `start` (each chunk's), so the check stays linear."""
    if len(lines) > start and max(map(len, lines[start:])) > MAX_LINE_BYTES:
        _too_long(path, next(i for i in range(start, len(lines)) if len(lines[i]) > MAX_LINE_BYTES) + 1)


def _too_long(path: Path, lineno: int):
    raise SpecError(f"{path}:{lineno}: the line is longer than {MAX_LINE_BYTES:,} bytes; a data file holds one "
                    "example per line (is this the right file?)")


def _check_no_empty(path: Path, lines: list[str]) -> None:
    empty = [i for i, line in enumerate(lines) if not line.strip()]
    if empty:
        more = f" ({len(empty)} empty lines in all)" if len(empty) > 1 else ""
        raise SpecError(f"{path}:{empty[0] + 1}: empty line{more}; aligned files need one non-empty "
                        "example per line on every side")


def _text_reader(files: dict[str, list[Path]]) -> Callable[[str, int], SplitText]:
    def read(split: str, max_examples: int) -> SplitText:
        paths = files[split]
        sides = [_read_lines(p) for p in paths]
        if len(sides) == 2 and len(sides[0]) != len(sides[1]):
            raise SpecError(f"aligned files differ in length: {paths[0]} has {len(sides[0])} lines but "
                            f"{paths[1]} has {len(sides[1])}; line N of one must translate line N of the other")
        if max_examples:
            sides = [lines[:max_examples] for lines in sides]
        for path, lines in zip(paths, sides):
            _check_no_empty(path, lines)
        return SplitText(sides[0], sides[1]) if len(sides) == 2 else SplitText(None, sides[0])

    return read


def get_field(record: dict[str, Any], dotted: str, where: str) -> str:
    """record['a']['b'] for 'a.b', with an error naming `where` and the fields that exist."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            have = ", ".join(sorted(value)) if isinstance(value, dict) else type(value).__name__
            raise SpecError(f"{where}: no field '{dotted}' (found: {have})")
        value = value[part]
    if not isinstance(value, str):
        raise SpecError(f"{where}: field '{dotted}' holds {type(value).__name__}, expected text")
    return value


def records_to_text(records, input_field: str | None, target_field: str, label: str,
                    max_examples: int) -> SplitText:
    """Pull the text fields out of records; records with an empty side are skipped and counted."""
    inputs: list[str] | None = [] if input_field else None
    targets: list[str] = []
    skipped = 0
    for i, record in enumerate(records):
        if max_examples and len(targets) >= max_examples:
            break
        where = f"{label} record {i + 1}"
        target = get_field(record, target_field, where)
        source = get_field(record, input_field, where) if input_field else None
        if not target.strip() or (source is not None and not source.strip()):
            skipped += 1
            continue
        targets.append(target)
        if inputs is not None:
            inputs.append(source)
    if skipped:
        log.warning("datagen: skipped %d records with an empty text field in %s", skipped, label)
    return SplitText(inputs, targets)


def _records_reader(source: TextSource, files: dict[str, list[Path]], two_sided: bool):
    input_field = source.input_field if two_sided else None

    def read(split: str, max_examples: int) -> SplitText:
        path = files[split][0]
        return records_to_text(_iter_records(path, source.format), input_field, source.target_field, str(path),
                               max_examples)

    return read


def _iter_records(path: Path, fmt: str):
    try:
        yield from _records(path, fmt)
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (bad byte at offset {exc.start} of a line); save the file as "
                        "UTF-8") from None


def _records(path: Path, fmt: str):
    if fmt == "jsonl":
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES + 1), ""), 1):
                if len(line) > MAX_LINE_BYTES:
                    _too_long(path, lineno)
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SpecError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
    elif fmt == "csv":
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            try:
                yield from reader
            except csv.Error as exc:  # e.g. a field over csv's size limit
                raise SpecError(f"{path}:{reader.line_num}: cannot read as CSV: {exc}") from None
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise SpecError(f"{path}: cannot read parquet: {exc}") from None
        for batch in table.to_batches(max_chunksize=10_000):
            yield from batch.to_pylist()
    else:
        raise ValueError(f"unknown record format {fmt!r}")
