"""What `runner runs` and `runner compare` read from MLflow: runner's runs, their params and metrics.

A runner run is an MLflow run tagged `spec_hash` (see params.run_tags). Runs may be named by
their MLflow id, their spec_hash, or a unique prefix of either (as git commits are), or by their
run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.specs.errors import SpecError
from runner.tracking.runs import client
from runner.tracking.uri import display

# The metrics a run's table shows, when the run has them: its final TEST values. A plain name is
# the test value (eval values are eval_<name>); runs logged before that rule kept eval values
# under plain names and test values as test_<name>, so for them only test_<name> is read.
KEY_METRICS = ("bleu", "wer", "accuracy", "accuracy_per_sequence", "bits_per_dim", "neg_log_perplexity")
_SEARCH_LIMIT = 5000  # runs scanned when resolving a prefix


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    name: str
    status: str
    start_time: int  # ms since the epoch
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]

    def key_metrics(self) -> dict[str, float]:
        current = any(k.startswith("eval_") for k in self.metrics)
        keys = {name: name if current else f"test_{name}" for name in KEY_METRICS}
        return {name: self.metrics[key] for name, key in keys.items() if key in self.metrics}


def _summary(run: Any) -> RunSummary:
    return RunSummary(
        run_id=run.info.run_id,
        name=run.info.run_name or run.data.tags.get("mlflow.runName", ""),
        status=run.info.status,
        start_time=run.info.start_time or 0,
        tags=dict(run.data.tags),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
    )


def _experiment_ids(mlflow_client) -> list[str]:
    return [e.experiment_id for e in mlflow_client.search_experiments()]


def _read_only_client(uri: str):
    """A client that gives up quickly: a read-only command should not sit through MLflow's retries."""
    import os

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    return client(uri)


def _unreadable(uri: str, exc: Exception) -> SpecError:
    detail = " ".join(str(exc).split())[:300]
    return SpecError(f"cannot read runs from {display(uri)}: {type(exc).__name__}: {detail}; is it an MLflow "
                     "tracking server or database?", field="tracking.uri")


def recent_runs(uri: str, problem: str | None = None, limit: int = 20) -> list[RunSummary]:
    """Runner's runs, newest first, optionally of one problem."""
    try:
        return _recent_runs(uri, problem, limit)
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; all mean "cannot read this store"
        raise _unreadable(uri, exc) from None


def _recent_runs(uri: str, problem: str | None, limit: int) -> list[RunSummary]:
    mlflow_client = _read_only_client(uri)
    ids = _experiment_ids(mlflow_client)
    if not ids:
        return []
    filters = ["tags.spec_hash != ''"]
    if problem:
        if "'" in problem:
            raise SpecError(f"--problem {problem!r}: a problem name has no quotes", field="--problem")
        filters.append(f"tags.problem = '{problem}'")
    runs = mlflow_client.search_runs(ids, filter_string=" and ".join(filters),
                                     order_by=["attributes.start_time DESC"], max_results=limit)
    return [_summary(r) for r in runs]


def find_runs(uri: str, refs: list[str]) -> list[RunSummary]:
    """The runs named by refs, in the order given; a clear error otherwise. A ref is an MLflow run
    id or a unique prefix of one, a spec_hash or a unique prefix (as `runner runs` and run folder
    names show it), or a run folder (the run it tracked, from its mlflow_run.json or its tags)."""
    try:
        mlflow_client = _read_only_client(uri)
        ids = _experiment_ids(mlflow_client)
        known = mlflow_client.search_runs(ids, filter_string="tags.spec_hash != ''",
                                          order_by=["attributes.start_time DESC"], max_results=_SEARCH_LIMIT) if ids else []
    except SpecError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; all mean "cannot read this store"
        raise _unreadable(uri, exc) from None
    return [_summary(_one_run(known, ref, uri)) for ref in refs]


def _one_run(known: list[Any], ref: str, uri: str) -> Any:
    import os

    if os.path.isdir(ref):
        return _run_of_folder(known, ref, uri)
    prefix = ref.lower()
    by_id = [r for r in known if r.info.run_id.startswith(prefix)]
    by_hash = [r for r in known if r.data.tags.get("spec_hash", "").startswith(prefix)]
    matches = by_id + [r for r in by_hash if r not in by_id]
    if not matches:
        raise SpecError(f"no runner run with id or prefix '{ref}' (nor a spec_hash or run folder of that name) at "
                        f"{display(uri)} (see `runner runs`; is MLFLOW_TRACKING_URI / --tracking-uri right?)",
                        field="RUN")
    if len(matches) > 1:
        listed = "; ".join(f"run {r.info.run_id[:12]} spec_hash {r.data.tags.get('spec_hash', '')[:12]} in "
                           f"{r.data.tags.get('output_dir', '?')}" for r in matches[:5])
        raise SpecError(f"'{ref}' matches {len(matches)} runs ({listed}); give more characters, the MLflow run id, "
                        "or the run folder", field="RUN")
    return matches[0]


def _run_of_folder(known: list[Any], folder: str, uri: str) -> Any:
    """The run a run folder tracked: the id it remembers, else the newest run tagged with its path."""
    import os

    from runner.tracking.runs import read_run_file

    remembered = read_run_file(folder) or {}
    for run in known:
        if run.info.run_id == remembered.get("run_id"):
            return run
    path = os.path.abspath(folder)
    tagged = [r for r in known if r.data.tags.get("output_dir") == path]
    if not tagged:
        raise SpecError(f"no runner run at {display(uri)} was tracked from the folder {folder} (is it a run folder? "
                        "was it tracked at another MLFLOW_TRACKING_URI / --tracking-uri?)", field="RUN")
    return tagged[0]  # newest first


def differing_params(runs: list[RunSummary]) -> dict[str, list[str | None]]:
    """Params whose values are not the same in every run (a missing param counts as different)."""
    keys = sorted({k for r in runs for k in r.params})
    return {k: [r.params.get(k) for r in runs] for k in keys if len({r.params.get(k) for r in runs}) > 1}


def metric_table(runs: list[RunSummary]) -> dict[str, list[float | None]]:
    """Every metric any of the runs has, with each run's latest value (None where absent)."""
    keys = sorted({k for r in runs for k in r.metrics})
    return {k: [r.metrics.get(k) for r in runs] for k in keys}


def tagged_code_commit(output_dir: str) -> tuple[str, bool | None] | None:
    """(code_commit, code_dirty) as the run folder's MLflow run was tagged at its start; None when the
    folder has no MLflow run, its store cannot be read, or the commit was unknown."""
    from pathlib import Path

    from runner.tracking.runs import read_run_file

    data = read_run_file(output_dir) or {}
    uri, run_id = data.get("uri"), data.get("run_id")
    if not (isinstance(uri, str) and isinstance(run_id, str) and run_id):
        return None
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None  # opening a missing database would create an empty one
    try:
        tags = _read_only_client(uri).get_run(run_id).data.tags
    except Exception:  # noqa: BLE001 - the store moved, a server is down: the caller falls back
        return None
    commit = tags.get("code_commit")
    if not commit or commit == "unknown":
        return None
    return commit, {"true": True, "false": False}.get(tags.get("code_dirty", ""))
