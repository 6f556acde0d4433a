"""Several seeds' runs of one spec -> one record: the mean, the spread, and a tolerance from it.

    path = record_from_seeds(["runs/m30k-s1", "runs/m30k-s2", "runs/m30k-s3"], "cpu")
    path = record_from_seeds(["runs/sd-jackson", "runs/sd-nicolas", "runs/sd-theo", "runs/sd-yweweler"], "cpu")

A `cpu` or `gpu` result is a small distribution, not one draw: training the same spec with
another `train.seed` gives another value. The record keeps every seed's run (value, steps,
wall time, command), shows their mean, and accepts a reproduction of a seed within
TOLERANCE_SDS sample standard deviations of that seed's recorded value. The runs must be the
same spec but for train.seed (checked here, and again on every load of the record).

Folds are the same idea across data: runs that differ in a held-out key of FOLD_KEYS (each
speaker in turn as the test voice) make a record whose value is the mean over the folds, each
fold keeping its own held-out value and data fingerprint, and each reproduced against its own value
within the metric's default tolerance (the folds' spread is between voices, not run-to-run noise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.leaderboard.capture import make_record
from runner.leaderboard.paths import RECORDS, default_leaderboard_dir, repo_root
from runner.leaderboard.record import (FOLD_KEYS, MIN_SEEDS, Record, SeedRun, runs_tolerance, spread,
                                      write_record)
from runner.specs.errors import Location, SpecError


def record_from_seeds(
    run_dirs: list[str | Path],
    tier: str,
    commands: list[str] | None = None,
    *,
    metric: str | None = None,
    data_dir: str | None = None,
    leaderboard_dir: str | Path | None = None,
    rebuild: bool = True,
) -> Path:
    """Write one record of several seeds' runs (first: the lowest seed); returns its path."""
    root = Path(leaderboard_dir) if leaderboard_dir else default_leaderboard_dir()
    record = merge_seeds(run_dirs, tier, commands, metric=metric, data_dir=data_dir, root=repo_root(root))
    path = write_record(record, root / RECORDS)
    if rebuild:
        from runner.leaderboard.build import write_pages

        write_pages(root)
    return path


def merge_seeds(run_dirs: list[str | Path], tier: str, commands: list[str] | None, *, metric: str | None,
                data_dir: str | None, root: Path) -> Record:
    if tier == "cpu-ci":
        raise SpecError("cpu-ci records hold one run, reproduced bit-exactly; give one run folder", None, "tier")
    if len(run_dirs) < MIN_SEEDS:
        raise SpecError(f"{len(run_dirs)} run folders; a {tier} record of several seeds needs at least {MIN_SEEDS} "
                        "(or give one run folder)", None, "run_dir")
    if commands and len(commands) != len(run_dirs):
        raise SpecError(f"{len(commands)} --command for {len(run_dirs)} run folders; give one per run folder, in the "
                        "same order, or none (each is then derived from its run's recipe)", None, "command")
    runs: list[tuple[Path, Record]] = []
    for i, run_dir in enumerate(run_dirs):
        record = make_record(run_dir, tier, commands[i] if commands else None, metric=metric, tolerance=0.0,
                             mlflow_run_id=None, data_dir=data_dir, root=root)
        metric = record.metric  # every seed is judged on the first run's metric
        runs.append((Path(run_dir), record))
    fold_keys = _same_spec_but_seed_or_fold(runs)
    runs.sort(key=lambda run: (repr([_value_at(run[1].experiment, k) for k in fold_keys]),
                               run[1].experiment["train"]["seed"]))
    first = runs[0][1]
    seeds = [SeedRun(seed=r.experiment["train"]["seed"], spec_hash=r.spec_hash, value=r.value, steps=r.steps,
                     wall_time_seconds=r.wall_time_seconds, mlflow_run_id=r.mlflow_run_id, command=r.command,
                     fold={k: _value_at(r.experiment, k) for k in fold_keys} or None,
                     data_fingerprint=r.data_fingerprint if fold_keys and r is not first else None,
                     **_own_code(r, first))
             for _, r in runs]
    values = [s.value for s in seeds]
    tolerance = runs_tolerance(first.metric, values, folds=bool(fold_keys))
    return first.model_copy(update={"value": spread(values)[0], "tolerance": tolerance, "seeds": seeds})


def _own_code(run: Record, first: Record) -> dict[str, Any]:
    """A run's code commit and dirty flag when they are not the record's own (seeds trained at
    different commits say so); {} when they are."""
    if (run.code_commit, run.code_dirty) == (first.code_commit, first.code_dirty):
        return {}
    return {"code_commit": run.code_commit, "code_dirty": run.code_dirty}


def _value_at(experiment: dict[str, Any], key: str) -> Any:
    section, field = key.split(".")
    return experiment[section].get(field)


def _same_spec_but_seed_or_fold(runs: list[tuple[Path, Record]]) -> list[str]:
    """Check that the runs differ in train.seed and the FOLD_KEYS only, and never repeat a (seed, fold)
    pair; returns the fold keys whose values differ among them ([] for a record of seeds)."""
    first_dir, first = runs[0]
    fold_keys = [k for k in FOLD_KEYS if len({repr(_value_at(r.experiment, k)) for _, r in runs}) > 1]
    seen: dict[str, Path] = {}
    for run_dir, record in runs:
        seed = record.experiment["train"]["seed"]
        held_out = ", ".join(f"{k}={_value_at(record.experiment, k)}" for k in fold_keys)
        key = f"seed {seed}" + (f" with {held_out}" if held_out else "")
        if key in seen:
            raise SpecError(f"{key} again (also in {seen[key]}); each run folder must have its own train.seed"
                            + (" or hold out other data" if fold_keys else ""), Location(str(run_dir)), "train.seed")
        seen[key] = run_dir
        differences = _differences(first.experiment, record.experiment, ignored=_IGNORED | _as_paths(FOLD_KEYS))
        if differences:
            raise SpecError(f"not the spec of {first_dir} but for train.seed: {'; '.join(differences[:5])}; a record's "
                            f"runs may differ in train.seed and {', '.join(FOLD_KEYS)} only", Location(str(run_dir)),
                            "experiment")
        if not fold_keys and record.data_fingerprint != first.data_fingerprint:
            raise SpecError(f"other data (fingerprint {record.data_fingerprint[:12]}, {first_dir} has "
                            f"{first.data_fingerprint[:12]})", Location(str(run_dir)), "data_fingerprint")
    return fold_keys


def _as_paths(keys: tuple[str, ...]) -> set[tuple[str, ...]]:
    return {tuple(key.split(".")) for key in keys}


_IGNORED = {("train", "seed"), ("spec_hash",), ("recipe",), ("description",), ("tracking",)}


def _differences(a: dict[str, Any], b: dict[str, Any], path: tuple[str, ...] = (),
                 ignored: set[tuple[str, ...]] = _IGNORED) -> list[str]:
    """'key: A vs B' for every value that differs between two specs, but for the `ignored` paths."""
    out = []
    for key in sorted(set(a) | set(b)):
        where = path + (key,)
        if where in ignored or key == "description":
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, where, ignored)
        elif x != y:
            out.append(f"{'.'.join(where)}: {x!r} vs {y!r}")
    return out

