"""Re-run records' commands and compare each metric with the record.

Each command runs as a subprocess (`python -m runner run ...`, the same interpreter) from the
repository root with its `--output-dir` moved into a temporary folder, exactly as a user
would type it. A reproduction passes when it trained the same spec (same spec_hash), on the
same data (same fingerprint), and its metric equals the record's: bit for bit for cpu-ci
records (tolerance 0), within the record's stated tolerance otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from runner.leaderboard.build import load_entries
from runner.leaderboard.commands import check_recipe, parse
from runner.leaderboard.paths import repo_root
from runner.leaderboard.record import TIERS, Record
from runner.leaderboard.tables import Entry
from runner.specs.errors import SpecError

_ERROR_LINES = 6
T = TypeVar("T")


@dataclass(frozen=True)
class Reproduction:
    entry: Entry
    reproduced: float | None
    ok: bool
    seconds: float
    note: str = ""  # why it failed, or what was compared

    @property
    def difference(self) -> float | None:
        return None if self.reproduced is None else self.reproduced - self.entry.record.value


def select(entries: list[Entry], tier: str | None, names: list[str] | tuple[str, ...] = ()) -> list[Entry]:
    """Records of `tier` (all tiers when None), narrowed to file names or stems in `names` if given."""
    if tier is not None and tier not in TIERS:
        raise SpecError(f"unknown tier '{tier}'; expected one of: {', '.join(TIERS)}", None, "tier")
    chosen = [e for e in entries if tier is None or e.record.tier == tier]
    if names:
        wanted = set(names)
        chosen = [e for e in chosen if e.file_name in wanted or e.file_name.removesuffix(".yaml") in wanted]
        missing = wanted - {e.file_name for e in chosen} - {e.file_name.removesuffix(".yaml") for e in chosen}
        if missing:
            raise SpecError(f"no such record(s) of this tier: {', '.join(sorted(missing))}", None, "record")
    return chosen


def reproduce(
    root: Path,
    tier: str | None = "cpu-ci",
    jobs: int = 1,
    data_dir: str | None = None,
    names: list[str] | tuple[str, ...] = (),
    on_done: Callable[[Reproduction], None] | None = None,
) -> list[Reproduction]:
    """Reproduce the selected records, `jobs` commands at a time; results in record order.

    Records that share a command (several metrics of one run) are judged against one re-run.
    """

    def judge(entries: list[Entry], out: Path, seconds: float, failure: str) -> list[Reproduction]:
        results = [Reproduction(e, None, False, seconds, failure) if failure else compare(e, out, data_dir, seconds)
                   for e in entries]
        for result in results:
            if on_done:
                on_done(result)
        return results

    chosen, done = _rerun_each_command(root, tier, jobs, data_dir, names, judge, replay=True)
    order = {entry.file_name: i for i, entry in enumerate(chosen)}
    return sorted(done, key=lambda r: order[r.entry.file_name])


def _rerun_each_command(root: Path, tier: str | None, jobs: int, data_dir: str | None,
                        names: list[str] | tuple[str, ...],
                        judge: Callable[[list[Entry], Path, float, str], list[T]],
                        replay: bool) -> tuple[list[Entry], list[T]]:
    """Select records, run each distinct command once (`jobs` at a time) into a temporary folder
    (with `replay`, a time-budgeted record's run replays its recorded steps, see `replay_steps`),
    and hand `judge` the records sharing that command, the run folder (alive only during the call),
    the seconds it took and its failure message ('' when it succeeded).
    Returns the selected records and everything `judge` returned, in no particular order."""
    if jobs < 1:
        raise SpecError(f"expected --jobs >= 1, got {jobs}", None, "jobs")
    one_run = [name for name in names if "#" in name]  # FILE#seed=2: one run of a multi-run record
    if one_run and not replay:
        raise SpecError(f"{', '.join(one_run)}: a record is refreshed whole; name the file without '#...'",
                        None, "record")
    chosen = select(load_entries(root), tier, list(dict.fromkeys(name.split("#", 1)[0] for name in names)))
    if replay:  # reproduce: each seed (or fold) of a multi-run record is re-run and judged against its own value
        chosen = [Entry(f"{e.file_name}#{run.label}", view)
                  for e in chosen if e.record.seeds for run, view in zip(e.record.seeds, e.record.seed_records())
                  ] + [e for e in chosen if not e.record.seeds]
        chosen = _only_named_runs(chosen, names)
    else:
        several = [e.file_name for e in chosen if e.record.seeds]
        if several:
            raise SpecError(f"{', '.join(several)}: a record of several seeds is re-made by running each seed's "
                            "command and `runner leaderboard add RUN_DIR...` of the new runs, not refreshed",
                            None, "record")
    by_command: dict[str, list[Entry]] = {}
    for entry in chosen:
        by_command.setdefault(entry.record.command, []).append(entry)
    with tempfile.TemporaryDirectory(prefix="runner-rerun-") as workdir:

        def one(numbered: tuple[int, list[Entry]]) -> list[T]:
            index, entries = numbered
            out = Path(workdir) / f"run{index}"
            seconds, failure = run_command(entries[0].record.command, out, Path(root), data_dir,
                                           replay_steps=replay_steps(entries[0].record) if replay else None)
            return judge(entries, out, seconds, failure)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = [r for group in pool.map(one, enumerate(by_command.values())) for r in group]
    return chosen, results


def _only_named_runs(entries: list[Entry], names: list[str] | tuple[str, ...]) -> list[Entry]:
    """Keep every run of a record named whole, and only the named run of one named `FILE#LABEL`
    (the file with or without .yaml, the label as reproduce prints it: seed=2, problem.test_speakers=[theo])."""
    def whole(file_name: str) -> str:
        return file_name if file_name.endswith(".yaml") else file_name + ".yaml"

    wanted_runs = {whole(n.split("#", 1)[0]) + "#" + n.split("#", 1)[1] for n in names if "#" in n}
    if not wanted_runs:
        return entries
    whole_files = {whole(n) for n in names if "#" not in n}
    kept = [e for e in entries if e.file_name.split("#", 1)[0] in whole_files or e.file_name in wanted_runs]
    missing = wanted_runs - {e.file_name for e in kept}
    if missing:
        labels = [e.file_name for e in entries if "#" in e.file_name]
        raise SpecError(f"no such run: {', '.join(sorted(missing))}; the runs are: {', '.join(labels) or 'none'}",
                        None, "record")
    return kept


def replay_steps(record: Record) -> int | None:
    """The steps a time-budgeted record reached (its re-run replays them, budget off); None otherwise.

    A time budget makes the step count depend on the machine's speed, and the result on the step
    count: replaying the recorded steps compares the same training, on any machine.
    """
    return record.steps if record.experiment["train"].get("time_budget_minutes") else None


def run_command(command: str, output_dir: Path, root: Path, data_dir: str | None,
                replay_steps: int | None = None) -> tuple[float, str]:
    """Run a record's command with its output moved to `output_dir` (and `--replay-steps N` when
    given); (seconds, failure message or '')."""
    run = parse(command)  # a thread-count setting at most; nothing else from the record reaches the process
    check_recipe(run, repo_root(root))
    argv = [sys.executable, "-m", "runner", *run.with_output_dir(str(output_dir))]
    if replay_steps is not None:
        argv += ["--replay-steps", str(replay_steps)]
    env = {**os.environ, **dict(run.env)}
    if data_dir:
        env["RUNNER_DATA_DIR"] = data_dir
    # Reproductions are checks, not results: keep them out of the user's MLflow store.
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{output_dir.parent / (output_dir.name + '-mlflow.db')}"
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo_root(root), env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-_ERROR_LINES:])
        return seconds, f"the command exited with status {proc.returncode}:\n{tail}"
    return seconds, ""


def compare(entry: Entry, run_dir: Path, data_dir: str | None, seconds: float) -> Reproduction:
    """Judge a finished reproduction run folder against its record."""
    from runner.leaderboard.capture import data_fingerprint
    from runner.run_dir import RunDir

    record = entry.record
    try:
        experiment = RunDir(run_dir).load_experiment()
        final = json.loads(RunDir(run_dir).file(RunDir.FINAL_METRICS).read_text(encoding="utf-8"))
    except (SpecError, OSError, ValueError) as exc:
        return Reproduction(entry, None, False, seconds, f"cannot read the reproduction's results: {exc}")
    if experiment.spec_hash != record.spec_hash:
        return Reproduction(entry, None, False, seconds, f"the command trained spec {experiment.spec_hash[:12]}, "
                                                         f"not the record's {record.spec_hash[:12]}")
    value = final.get(record.metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Reproduction(entry, None, False, seconds, f"the run reported {record.metric} = {value!r}")
    value = float(value)
    replayed = replay_steps(record)
    if replayed is not None and final.get("steps") != replayed:
        return Reproduction(entry, value, False, seconds, f"the replay trained {final.get('steps')} steps, "
                                                          f"not the record's {replayed}")
    fingerprint = data_fingerprint(experiment, data_dir, run_dir)
    if fingerprint != record.data_fingerprint:
        return Reproduction(entry, value, False, seconds, f"different data: fingerprint {fingerprint[:12]}, "
                                                          f"record {record.data_fingerprint[:12]}")
    if record.tolerance == 0:
        ok = value == record.value
        note = "bit-exact" if ok else "expected a bit-exact match"
    else:
        ok = abs(value - record.value) <= record.tolerance
        note = f"within ±{record.tolerance:g}" if ok else f"outside ±{record.tolerance:g}"
    if replayed is not None:
        note += f" (replayed {replayed} steps, time budget off)"
    return Reproduction(entry, value, ok, seconds, note)


def refresh(root: Path, tier: str | None = "cpu-ci", jobs: int = 1, data_dir: str | None = None,
            names: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """Re-run the selected records' own commands and rewrite each record from its new run.

    For after a deliberate change of results (a new optimizer, a model fix): the records keep
    their commands, tiers, metrics and tolerances; value, commit, versions and timings are new.
    """
    from runner.leaderboard.build import write_pages
    from runner.leaderboard.capture import record_from_run

    def rewrite(entries: list[Entry], out: Path, seconds: float, failure: str) -> list[Path]:
        if failure:
            raise SpecError(f"{entries[0].file_name}: {failure}", None, "command")
        return [record_from_run(out, e.record.tier, e.record.command, metric=e.record.metric,
                                tolerance=e.record.tolerance, data_dir=data_dir, leaderboard_dir=root,
                                rebuild=False, tracked=False)  # the re-run's MLflow store is a temp one
                for e in entries]

    # No replay: a refreshed time-budgeted record measures anew how many steps its budget holds.
    _, written = _rerun_each_command(root, tier, jobs, data_dir, names, rewrite, replay=False)
    write_pages(root)
    return written
