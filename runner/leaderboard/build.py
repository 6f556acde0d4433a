"""Records -> README.md and index.html, and the check that the committed files are current.

    pages = render(root)        # {"README.md": text, "index.html": text}, from the records alone
    write_pages(root)           # regenerate them (and rewrite records in canonical form)
    drifts = check(root)        # what differs from a fresh build; [] when everything is current

A malformed record or references file raises a SpecError naming the file and field.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from runner.leaderboard.commands import check_command
from runner.leaderboard.html_page import render_html
from runner.leaderboard.markdown_page import render_markdown
from runner.leaderboard.paths import GENERATED, INDEX, README, RECORDS, repo_root
from runner.leaderboard.record import dump_record, load_record
from runner.leaderboard.references import load_references
from runner.leaderboard.tables import Entry, check_entries, sections
from runner.specs.errors import Location, SpecError

_DIFF_LINES = 20


@dataclass(frozen=True)
class Drift:
    path: str  # relative to the leaderboard folder
    summary: str


def load_entries(root: Path) -> list[Entry]:
    """Every record under root/records, verified; all problems are reported together."""
    folder = Path(root) / RECORDS
    entries, errors = [], []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.name.startswith("."):
            continue
        if not path.is_file() or path.suffix != ".yaml":
            errors.append(SpecError("not a record: expected only <problem>.<metric>.<tier>.<hash>.yaml files here",
                                    Location(str(path))))
            continue
        try:
            entries.append(Entry(path.name, load_record(path)))
        except SpecError as exc:
            errors.append(exc)
    if errors:
        raise SpecError.merge(errors)
    return entries


def render(root: Path, entries: list[Entry] | None = None) -> dict[str, str]:
    entries = load_entries(root) if entries is None else entries
    secs, checks = sections(entries, load_references(root)), check_entries(entries)
    return {README: render_markdown(secs, checks), INDEX: render_html(secs, checks)}


def write_pages(root: Path) -> list[Path]:
    """Regenerate README.md and index.html; records not in canonical form are rewritten in it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    entries = load_entries(root)
    written = []
    for entry in entries:
        path = root / RECORDS / entry.file_name
        text = dump_record(entry.record)
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    for name, text in render(root, entries).items():
        path = root / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def check(root: Path, verify_commands: bool = True) -> list[Drift]:
    """What a fresh build would change, and records whose command no longer resolves to their spec."""
    root = Path(root)
    entries = load_entries(root)
    drifts = []
    for entry in entries:
        path = root / RECORDS / entry.file_name
        drift = _compare(f"{RECORDS}/{entry.file_name}", path.read_text(encoding="utf-8"), dump_record(entry.record))
        if drift:
            drifts.append(Drift(drift.path, "not in canonical form (sorted keys); " + drift.summary))
    for name, text in render(root, entries).items():
        path = root / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        drift = _compare(name, current, text)
        if drift:
            drifts.append(drift)
    if verify_commands:
        for entry in entries:
            for run in entry.record.seed_records():  # every seed's command of a multi-seed record
                try:
                    check_command(run.command, run.spec_hash, repo_root(root))
                except SpecError as exc:
                    drifts.append(Drift(f"{RECORDS}/{entry.file_name}", str(exc)))
    return drifts


def _compare(name: str, current: str | None, expected: str) -> Drift | None:
    if current == expected:
        return None
    if current is None:
        return Drift(name, "missing; run `runner leaderboard build`")
    diff = list(difflib.unified_diff(current.splitlines(), expected.splitlines(),
                                     f"{name} (committed)", f"{name} (rebuilt)", lineterm="", n=1))
    changed = sum(1 for line in diff[2:] if line[:1] in "+-")
    shown = "\n".join(diff[:_DIFF_LINES]) + ("\n..." if len(diff) > _DIFF_LINES else "")
    return Drift(name, f"differs from a fresh build ({changed} lines); run `runner leaderboard build`\n{shown}")


__all__ = ["Drift", "GENERATED", "check", "load_entries", "render", "write_pages"]
