"""From a finished run folder to a leaderboard record.

    path = record_from_run("runs/reverse", "cpu-ci", "runner run catalog/recipes/reverse_ci.yaml --output-dir runs/reverse")

reads the folder's `experiment.yaml`, `final_metrics.json` and `final_metrics_signatures.json`,
checks that the command resolves to the run's spec_hash, adds the data fingerprint (from the
folder's data_fingerprint.json; rebuilt from the data only for folders older than that file), the code
commit, the hardware and package versions of this machine, writes the record, and (by
default) regenerates README.md and index.html so that `runner leaderboard check` passes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from runner.leaderboard import environment
from runner.leaderboard.commands import check_command, derive_command
from runner.leaderboard.metric_info import DECODED, DEFAULT_TOLERANCE, headline_of, info
from runner.leaderboard.paths import RECORDS, default_leaderboard_dir, repo_root
from runner.leaderboard.record import FORMAT, TIERS, Record, write_record
from runner.run_dir import RunDir
from runner.specs.errors import Location, SpecError
from runner.specs.experiment import Experiment
from runner.specs.metric_names import METRIC_MODES, unknown_metric_message

FINAL_METRICS = RunDir.FINAL_METRICS
SIGNATURES = RunDir.SIGNATURES
# Written by the run's tracker (runner/tracking) when it logs to MLflow: {"run_id": "..."}.
MLFLOW_RUN_FILE = RunDir.MLFLOW_RUN


def record_from_run(
    run_dir: str | Path,
    tier: str,
    command: str | None = None,
    *,
    metric: str | None = None,
    tolerance: float | None = None,
    mlflow_run_id: str | None = None,
    data_dir: str | None = None,
    leaderboard_dir: str | Path | None = None,
    rebuild: bool = True,
    tracked: bool = True,
) -> Path:
    """Write the record of a finished run; returns its path. Bad input raises SpecError.

    `command` defaults to the run's recipe plus the `-o` overrides that make it this run.
    `metric` defaults to the problem's headline metric (BLEU, WER, bits/dim, per-sequence accuracy, ...).
    `tracked=False` records no MLflow run: for a re-run whose MLflow store was a throwaway one.
    """
    root = Path(leaderboard_dir) if leaderboard_dir else default_leaderboard_dir()
    record = make_record(run_dir, tier, command, metric=metric, tolerance=tolerance,
                         mlflow_run_id=mlflow_run_id, data_dir=data_dir, root=repo_root(root), tracked=tracked)
    path = write_record(record, root / RECORDS)
    if rebuild:
        from runner.leaderboard.build import write_pages

        write_pages(root)
    return path


def make_record(run_dir: str | Path, tier: str, command: str | None, *, metric: str | None,
                tolerance: float | None, mlflow_run_id: str | None, data_dir: str | None, root: Path,
                tracked: bool = True) -> Record:
    if tier not in TIERS:
        raise SpecError(f"unknown tier '{tier}'; expected one of: {', '.join(TIERS)}", None, "tier")
    run_dir = Path(run_dir)
    experiment = RunDir(run_dir).load_experiment()
    final = _read_json(run_dir / FINAL_METRICS, required=True)
    signatures = _read_json(run_dir / SIGNATURES, required=False)
    metric = metric or headline_metric(experiment, final, run_dir)
    value = _metric_value(final, metric, run_dir)
    if command is None:
        command = derive_command(experiment, root)
    else:
        check_command(command, experiment.spec_hash, root, Location(override=command))
    commit, dirty, packages = run_provenance(run_dir, root)
    fingerprint, test_examples = _data_facts(experiment, data_dir, run_dir)
    return Record(
        format=FORMAT, problem=experiment.problem.name, family=experiment.problem.family,
        model=experiment.model.name, hparams_set=experiment.hparams_set, recipe=experiment.recipe,
        spec_hash=experiment.spec_hash, experiment=experiment.to_dict(),
        metric=metric, value=value, signature=signature_of(metric, signatures, experiment, run_dir, test_examples),
        tier=tier, tolerance=_tolerance(tier, metric, tolerance),
        steps=int(_number(final, "steps", run_dir)), wall_time_seconds=float(_number(final, "train_seconds", run_dir)),
        code_commit=commit, code_dirty=dirty, data_fingerprint=fingerprint,
        hardware=environment.hardware(), packages=packages,
        mlflow_run_id=(mlflow_run_id or _mlflow_run_id(run_dir)) if tracked else None,
        mlflow_url=_mlflow_url(run_dir, mlflow_run_id) if tracked else None,
        command=command,
    )


def run_provenance(run_dir: Path, root: Path) -> tuple[str | None, bool | None, dict[str, str | None]]:
    """(code commit, dirty, package versions) of the code that trained the run: from the folder's
    provenance.json (each start's, written by the host); a run resumed at another commit than it
    started counts as dirty. Folders made before that file existed fall back to the commit and
    dirty flag their MLflow run was tagged with at its start, and else to this checkout's, now."""
    starts = RunDir(run_dir).starts()
    if starts:
        first = starts[0]
        commits = {start.get("code_commit") for start in starts}
        dirties = [start.get("code_dirty") for start in starts]
        dirty = None if None in dirties else (any(dirties) or len(commits) > 1)
        return first.get("code_commit"), dirty, first.get("packages") or environment.package_versions()
    from runner.tracking.query import tagged_code_commit

    commit, dirty = tagged_code_commit(str(run_dir)) or environment.code_commit(root)
    return commit, dirty, environment.package_versions()


def headline_metric(experiment: Experiment, final: dict[str, Any], run_dir: Path) -> str:
    """The problem's most telling metric that the run reported (see HEADLINE_ORDER)."""
    headline = headline_of([m for m in experiment.problem.metrics if m in final and m in METRIC_MODES])
    if headline is not None:
        return headline
    raise SpecError(f"none of the problem's metrics {list(experiment.problem.metrics)} is in {FINAL_METRICS}; "
                    "pass --metric NAME", Location(str(run_dir / FINAL_METRICS)))


def signature_of(metric: str, signatures: dict[str, Any], experiment: Experiment, run_dir: Path,
                 test_examples: int | None = None) -> str:
    """The run's own signature for the metric, else this repository's fixed definition of it.

    Decoded metrics also depend on the search and on how much of the test split was decoded,
    so the decode settings are appended.
    """
    signature = signatures.get(metric) or info(metric).definition
    if not signature:
        raise SpecError(f"'{metric}' depends on how it was computed, but the run wrote no signature for it in "
                        f"{SIGNATURES}; a number without its signature cannot be compared",
                        Location(str(run_dir / SIGNATURES)))
    if metric in DECODED:
        d = experiment.decode
        search = "greedy" if d.beam_size == 1 else f"beam {d.beam_size}, alpha {d.alpha}"
        of = f" of {test_examples}" if test_examples is not None else ""
        if d.max_examples and (test_examples is None or d.max_examples < test_examples):
            scope = f"first {d.max_examples}{of} test examples"
        else:
            scope = f"whole test split{f' ({test_examples} examples)' if test_examples is not None else ''}"
        signature = f"{signature} (decode: {search}; {scope})"
    return str(signature)


def data_fingerprint(experiment: Experiment, data_dir: str | None, run_dir: str | Path | None = None) -> str:
    """The problem data's cache key: as the run folder recorded it, else rebuilt (the cache is reused)."""
    return _data_facts(experiment, data_dir, run_dir)[0]


def _data_facts(experiment: Experiment, data_dir: str | None, run_dir: str | Path | None) -> tuple[str, int]:
    """(fingerprint, number of test examples) of the run's data: from the run folder's
    data_fingerprint.json; folders written before that file existed rebuild them from the data."""
    facts = RunDir(run_dir).data_facts() if run_dir is not None else None
    if facts is not None and facts.get("problem") == experiment.problem.name \
            and isinstance(facts.get("test_examples"), int):
        return facts["fingerprint"], facts["test_examples"]
    from runner import api

    data = api.build_problem(experiment, data_dir)
    return data.fingerprint, len(data.split("test"))


def _tolerance(tier: str, metric: str, tolerance: float | None) -> float:
    if tier == "cpu-ci":
        if tolerance not in (None, 0, 0.0):
            raise SpecError("cpu-ci records are reproduced bit-exactly; leave --tolerance out", None, "tolerance")
        return 0.0
    if tolerance is not None:
        if not math.isfinite(tolerance) or tolerance < 0:
            raise SpecError(f"expected a finite tolerance >= 0, got {tolerance}", None, "tolerance")
        return float(tolerance)
    if metric not in DEFAULT_TOLERANCE:
        raise SpecError(f"no default reproduction tolerance for '{metric}'; pass --tolerance", None, "tolerance")
    return DEFAULT_TOLERANCE[metric]


def _read_json(path: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise SpecError(f"no {path.name} here: the run has not finished (or this is not a run folder)",
                            Location(str(path.parent)))
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read: {exc}", Location(str(path))) from None
    if not isinstance(data, dict):
        raise SpecError("expected a JSON object {name: value}", Location(str(path)))
    return data


def _number(final: dict[str, Any], name: str, run_dir: Path) -> float:
    value = final.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SpecError(f"expected a finite number, got {value!r}", Location(str(run_dir / FINAL_METRICS)), name)
    return value


def _metric_value(final: dict[str, Any], metric: str, run_dir: Path) -> float:
    if metric not in METRIC_MODES:
        raise SpecError(unknown_metric_message(metric),
                        None, "metric")
    if metric not in final:
        raise SpecError(f"the run reported no '{metric}' (it has: {', '.join(sorted(final))})",
                        Location(str(run_dir / FINAL_METRICS)), "metric")
    return float(_number(final, metric, run_dir))


def _mlflow_url(run_dir: Path, given_run_id: str | None) -> str | None:
    """The run's MLflow page, for a run tracked on a server (a local database has no address to link)."""
    from runner.tracking.links import is_server, run_page

    data = _read_json(run_dir / MLFLOW_RUN_FILE, required=False)
    uri, run_id, experiment_id = data.get("uri"), data.get("run_id"), data.get("experiment_id")
    if given_run_id and given_run_id != run_id:
        return None  # --mlflow-run-id names another run than the folder's: its experiment is unknown
    if isinstance(uri, str) and is_server(uri) and run_id and experiment_id:
        return run_page(uri, str(experiment_id), run_id)
    return None


def _mlflow_run_id(run_dir: Path) -> str | None:
    data = _read_json(run_dir / MLFLOW_RUN_FILE, required=False)
    run_id = data.get("run_id")
    return run_id if isinstance(run_id, str) and run_id else None
