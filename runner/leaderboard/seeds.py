"""Several seeds' runs of one spec -> one record: the mean, the spread, and a tolerance from it.

    path = record_from_seeds(["runs/m30k-s1", "runs/m30k-s2", "runs/m30k-s3"], "cpu")

A `cpu` or `gpu` result is a small distribution, not one draw: training the same spec with
another `train.seed` gives another value. The record keeps every seed's run (value, steps,
wall time, command), shows their mean, and accepts a reproduction of a seed within
TOLERANCE_SDS sample standard deviations of that seed's recorded value. The runs must be the
same spec but for train.seed (checked here, and again on every load of the record).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runner.leaderboard.capture import make_record
from runner.leaderboard.paths import RECORDS, default_leaderboard_dir, repo_root
from runner.leaderboard.record import MIN_SEEDS, Record, SeedRun, spread, write_record
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
    _same_spec_but_seed(runs)
    runs.sort(key=lambda run: run[1].experiment["train"]["seed"])
    seeds = [SeedRun(seed=r.experiment["train"]["seed"], spec_hash=r.spec_hash, value=r.value, steps=r.steps,
                     wall_time_seconds=r.wall_time_seconds, mlflow_run_id=r.mlflow_run_id, command=r.command)
             for _, r in runs]
    mean, _, tolerance = spread([s.value for s in seeds])
    return runs[0][1].model_copy(update={"value": mean, "tolerance": tolerance, "seeds": seeds})


def _same_spec_but_seed(runs: list[tuple[Path, Record]]) -> None:
    first_dir, first = runs[0]
    seen: dict[int, Path] = {}
    for run_dir, record in runs:
        seed = record.experiment["train"]["seed"]
        if seed in seen:
            raise SpecError(f"seed {seed} again (also in {seen[seed]}); each run folder must have its own train.seed",
                            Location(str(run_dir)), "train.seed")
        seen[seed] = run_dir
        differences = _differences(first.experiment, record.experiment)
        if differences:
            raise SpecError(f"not the spec of {first_dir} but for train.seed: {'; '.join(differences[:5])}; a record's "
                            "runs may differ in train.seed only", Location(str(run_dir)), "experiment")
        if record.data_fingerprint != first.data_fingerprint:
            raise SpecError(f"other data (fingerprint {record.data_fingerprint[:12]}, {first_dir} has "
                            f"{first.data_fingerprint[:12]})", Location(str(run_dir)), "data_fingerprint")


_IGNORED = {("train", "seed"), ("spec_hash",), ("recipe",), ("description",), ("tracking",)}


def _differences(a: dict[str, Any], b: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    """'key: A vs B' for every value that differs between two specs, but for seed, hash and tracking."""
    out = []
    for key in sorted(set(a) | set(b)):
        where = path + (key,)
        if where in _IGNORED or key == "description":
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, where)
        elif x != y:
            out.append(f"{'.'.join(where)}: {x!r} vs {y!r}")
    return out

