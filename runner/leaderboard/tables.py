"""Records and reference figures arranged into tables: one per (problem family, metric), best first.

Only result tiers (cpu, gpu) are ranked. cpu-ci records are reproducibility checks (tiny runs
that CI re-runs bit for bit): they are listed apart, by problem, never ranked beside results.

Shared by the Markdown and HTML renderers, so both pages always show the same rows in the
same order. Everything is sorted with full tie-breaks, so the same records always give the
same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runner.leaderboard.metric_info import format_value, info, mode, order_key
from runner.leaderboard.paths import RECORDS
from runner.leaderboard.record import Record
from runner.leaderboard.references import Reference

FAMILY_TITLES = {
    "text2text": "Translation and summarization",
    "language_model": "Language modelling",
    "speech": "Speech recognition",
    "image_classification": "Image classification",
    "image_generation": "Image generation",
    "algorithmic": "Algorithmic tasks",
    "offline_rl": "Offline reinforcement learning",
}

RESULT_TIERS = ("cpu", "gpu")
CHECK_TIER = "cpu-ci"

TIER_TEXT = {
    "cpu-ci": "seconds to a few minutes on CPU, bit-exact; CI re-runs every one",
    "cpu": "longer CPU runs; reproduced within the stated tolerance",
    "gpu": "needs a GPU; reproduced within the stated tolerance",
}


@dataclass(frozen=True)
class Entry:
    file_name: str
    record: Record

    @property
    def link(self) -> str:
        return f"{RECORDS}/{self.file_name}"


@dataclass(frozen=True)
class Cell:
    text: str
    kind: Literal["text", "code", "link", "number"] = "text"
    href: str = ""


@dataclass(frozen=True)
class Section:
    family: str
    metric: str
    entries: tuple[Entry, ...]  # best first
    references: tuple[Reference, ...]  # best first

    @property
    def title(self) -> str:
        family = FAMILY_TITLES.get(self.family, self.family)
        return f"{family} — {info(self.metric).label}"

    @property
    def anchor(self) -> str:
        return f"{self.family}-{self.metric}".replace("_", "-")

    def header(self) -> list[str]:
        return ["#", "problem", "model", "hparams set", info(self.metric).label, "tier", "steps",
                "train time", "hardware", "spec_hash", "record", "MLflow"]

    def rows(self) -> list[list[Cell]]:
        return [_row(rank, entry) for rank, entry in enumerate(self.entries, start=1)]

    def reference_header(self) -> list[str]:
        return ["dataset", "model", info(self.metric).label, "as published", "source", "note"]

    def reference_rows(self) -> list[list[Cell]]:
        return [[Cell(r.dataset), Cell(r.model), Cell(format_value(r.metric, r.value), "number"),
                 Cell(r.reported_as), Cell(r.source, "link", r.url), Cell(r.note)] for r in self.references]


def _row(rank: int, entry: Entry) -> list[Cell]:
    r = entry.record
    return [Cell(str(rank), "number"), Cell(r.problem), Cell(r.model), Cell(r.hparams_set),
            Cell(value_text(r), "number"), Cell(r.tier), Cell(str(r.steps), "number"),
            Cell(format_duration(r.wall_time_seconds), "number"), Cell(hardware_text(r)),
            Cell(r.spec_hash[:12], "code"), Cell("yaml", "link", entry.link), mlflow_cell(r)]


def mlflow_cell(record: Record) -> Cell:
    """A link to the run's MLflow page when it was tracked on a server; else a dash."""
    return Cell("run", "link", record.mlflow_url) if record.mlflow_url else Cell("-")


CHECK_HEADER = ["problem", "metric", "value", "model", "hparams set", "steps", "train time", "spec_hash", "record",
                "MLflow"]


def check_entries(entries: list[Entry]) -> list[Entry]:
    """The cpu-ci records, by problem and metric: the reproducibility checks, not ranked."""
    found = [e for e in entries if e.record.tier == CHECK_TIER]
    return sorted(found, key=lambda e: (e.record.problem, order_key(e.record.metric), e.file_name))


def check_row(entry: Entry) -> list[Cell]:
    r = entry.record
    return [Cell(r.problem), Cell(info(r.metric).label), Cell(format_value(r.metric, r.value), "number"),
            Cell(r.model), Cell(r.hparams_set), Cell(str(r.steps), "number"),
            Cell(format_duration(r.wall_time_seconds), "number"), Cell(r.spec_hash[:12], "code"),
            Cell("yaml", "link", entry.link), mlflow_cell(r)]


def sections(entries: list[Entry], references: list[Reference]) -> list[Section]:
    """One section per (family, metric) that has result records or reference figures, in a fixed order."""
    entries = [e for e in entries if e.record.tier in RESULT_TIERS]
    keys = {(e.record.family, e.record.metric) for e in entries} | {(r.family, r.metric) for r in references}
    ordered = sorted(keys, key=lambda k: (order_key(k[1]), k[0]))
    return [
        Section(
            family, metric,
            tuple(sorted((e for e in entries if (e.record.family, e.record.metric) == (family, metric)),
                         key=_entry_key)),
            tuple(sorted((r for r in references if (r.family, r.metric) == (family, metric)),
                         key=_reference_key)),
        )
        for family, metric in ordered
    ]


def _better_first(metric: str, value: float) -> float:
    return -value if mode(metric) == "max" else value


def _entry_key(entry: Entry) -> tuple:
    r = entry.record
    return (_better_first(r.metric, r.value), r.wall_time_seconds, entry.file_name)


def _reference_key(ref: Reference) -> tuple:
    return (_better_first(ref.metric, ref.value), ref.dataset, ref.model, ref.source)


def value_text(record: Record) -> str:
    """The value; for several seeds 'mean ± standard deviation (n seeds)', for folds '(n folds: ...)'."""
    if not record.seeds:
        return format_value(record.metric, record.value)
    runs = f"{len(record.seeds)} seeds"
    if record.folds:
        runs = f"{len(record.seeds)} folds: " + ", ".join(
            f"{run.held_out} {format_value(record.metric, run.value)}" for run in record.seeds)
    return f"{format_value(record.metric, record.value)} ± {format_value(record.metric, record.sd)} ({runs})"


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def hardware_text(record: Record) -> str:
    hw = record.hardware
    if hw.gpu and hw.gpu_count:
        return f"{hw.gpu_count}x {hw.gpu}"
    return f"{hw.cpu} ({hw.cores} cores)"


def provenance_text(record: Record) -> str:
    """Commit, data, packages and tracking of one record, in one line."""
    commit = record.code_commit[:12] if record.code_commit else "no git commit"
    if record.code_dirty:
        commit += " (with uncommitted changes)"
    others = [f"{run.label} at {run.code_commit[:12] if run.code_commit else 'no git commit'}"
              + (" (with uncommitted changes)" if run.code_dirty else "")
              for run in record.seeds or [] if run.code_commit is not None or run.code_dirty is not None]
    if others:
        commit += f" ({'; '.join(others)})"
    pkgs = ", ".join(f"{k} {v}" for k, v in sorted(record.packages.items()) if v)
    mlflow = f"MLflow run {record.mlflow_run_id}" if record.mlflow_run_id else "no MLflow run (untracked)"
    return f"code {commit}; data {record.data_fingerprint[:12]}; {pkgs}; {mlflow}"
