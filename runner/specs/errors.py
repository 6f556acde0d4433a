"""One error type for every bad input, formatted `path:line:col: field.path: what; expected`.

The CLI prints `str(error)` and exits with status 2, so every message must stand on its own:
where the problem is, what was wrong, what was expected, and a suggestion when there is one.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass


@dataclass
class Location:
    """Where a value came from: a file position, or a command-line override."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    override: str | None = None  # the `-o key=value` text when the value came from the CLI

    def __str__(self) -> str:
        if self.override is not None:
            return f"-o {self.override}"
        parts = [_display_path(self.file) if self.file else "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)


def _display_path(path: str) -> str:
    """A path relative to the working directory when it lies below it (shorter messages)."""
    if os.path.isabs(path):
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            return rel
    return path


class SpecError(Exception):
    """Bad user input. Carries one or more located messages; `str()` is what the user sees."""

    def __init__(self, message: str, where: Location | None = None, field: str | None = None):
        self.items: list[tuple[Location | None, str | None, str]] = [(where, field, message)]
        super().__init__(message)

    @classmethod
    def merge(cls, errors: list["SpecError"]) -> "SpecError":
        merged = cls.__new__(cls)
        Exception.__init__(merged, "several errors")
        merged.items = [item for e in errors for item in e.items]
        return merged

    def __str__(self) -> str:
        lines = []
        for where, field, message in self.items:
            prefix = f"{where}: " if where is not None else ""
            field_part = f"{field}: " if field else ""
            lines.append(f"{prefix}{field_part}{message}")
        return "\n".join(lines)


def closest(name: str, known) -> str | None:
    """The known name nearest to a misspelt one, or None: the one "did you mean" of the runner."""
    close = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: str, known) -> str:
    """'; did you mean 'x'?' for a near miss, else ''."""
    close = closest(name, known)
    return f"; did you mean '{close}'?" if close else ""
