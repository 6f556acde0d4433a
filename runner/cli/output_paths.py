"""Checks on the paths a command will write (or read), made before any work starts.

A `--to-file` in a missing folder, an `--output-dir` that is a file, a name longer than the
file system allows: each is one message and exit 2 before decoding or training, not a
traceback after minutes of work.
"""

from __future__ import annotations

import os
from pathlib import Path

from runner.specs.errors import Location, SpecError

_NAME_MAX = 255  # bytes in one path component on Linux and macOS file systems


def _check_names(path: str, flag: str) -> None:
    for part in Path(path).parts:
        if len(os.fsencode(part)) > _NAME_MAX:
            raise SpecError(f"{flag}: the name {part[:40]!r}... is {len(os.fsencode(part))} bytes; file systems allow "
                            f"at most {_NAME_MAX} in one file or folder name", Location(path))


def _existing_ancestor(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_output_dir(path: str, flag: str) -> None:
    """`path` is a folder, or can be created as one, and is writable."""
    _check_names(path, flag)
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise SpecError(f"{flag}: this is a file, not a folder; choose a folder path", Location(path))
    ancestor = _existing_ancestor(target)
    if not ancestor.is_dir():
        raise SpecError(f"{flag}: {ancestor} is a file, so no folder can be made below it", Location(path))
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise SpecError(f"{flag}: no permission to write in {ancestor}; choose a folder you can write to",
                        Location(path))


def check_output_file(path: str, flag: str) -> None:
    """`path` can be written as a file: not a folder, in an existing writable folder."""
    _check_names(path, flag)
    target = Path(path)
    if target.is_dir():
        raise SpecError(f"{flag}: this is a folder; expected a file path", Location(path))
    folder = target.absolute().parent
    if not folder.is_dir():
        raise SpecError(f"{flag}: the folder {folder} does not exist; create it first", Location(path))
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise SpecError(f"{flag}: no permission to write here; choose another path", Location(path))


def check_input_file(path: str, flag: str) -> None:
    """`path` is an existing regular file."""
    _check_names(path, flag)
    target = Path(path)
    if not target.exists():
        raise SpecError(f"{flag}: no such file", Location(path))
    if not target.is_file():
        raise SpecError(f"{flag}: not a regular file (a folder, a pipe or a device); expected a text file",
                        Location(path))
