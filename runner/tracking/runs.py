"""One MLflow run per training run: created on the first launch, continued by every resume.

The run's id is kept in `<output_dir>/mlflow_run.json`. A re-launch of the same command (same
spec, same output folder) reads it and continues that run; if the file is gone from a folder
whose run has started, the run is found again by its tags `spec_hash` + `output_dir` (a fresh
folder, its predecessor deleted to start over, gets a new run). A different spec never shares a folder
(runner.run_dir.claim refuses it), so it never continues another spec's run.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

from runner.run_dir import RunDir, run_name
from runner.specs.errors import SpecError
from runner.tracking.params import run_tags, spec_params
from runner.tracking.uri import display

RUN_FILE = RunDir.MLFLOW_RUN
SPEC_ARTIFACT = RunDir.EXPERIMENT
_PARAM_BATCH = 100  # MLflow's MAX_PARAMS_TAGS_PER_BATCH
# MLflow 3 opens an experiment in the view its kind names (the UI's ExperimentKind enum; unset, it
# guesses and lands on the GenAI overview): runner's runs are model training.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"


class TrackingError(SpecError):
    """The tracking server or database cannot be used; the message says which and how to fix it.

    A SpecError, so the CLI prints it without a traceback and exits 2."""

    def __init__(self, message: str):
        super().__init__(message, field="tracking.uri")


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    uri: str
    experiment_id: str
    resumed: bool


def client(uri: str):
    import logging

    from mlflow.tracking import MlflowClient

    from runner.tracking.uri import check

    check(uri, create=True)  # an unknown scheme, a non-database file or an unreachable server: say so now
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):  # keep "Creating initial MLflow database tables" off the terminal
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def start_or_resume(experiment: Any, output_dir: str, uri: str, data_fingerprint: str) -> TrackedRun:
    """The MLflow run of this training run: the existing one (marked RUNNING again) or a new one."""
    mlflow_client = client(uri)
    try:
        found = _find_existing(mlflow_client, experiment, output_dir, uri)
        if found is not None:
            mlflow_client.update_run(found.run_id, status="RUNNING")
            _remember(output_dir, found)
            return found
        return _create(mlflow_client, experiment, output_dir, uri, data_fingerprint)
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - MLflow raises many kinds; all mean "cannot track"
        raise TrackingError(
            f"cannot use the MLflow tracking URI {display(uri)}: {type(exc).__name__}: {str(exc)[:300]}; "
            "check tracking.uri / MLFLOW_TRACKING_URI (is the server running?)"
        ) from exc


def _find_existing(mlflow_client, experiment: Any, output_dir: str, uri: str) -> TrackedRun | None:
    remembered = read_run_file(output_dir)
    if remembered and remembered.get("uri") == uri:
        try:
            run = mlflow_client.get_run(remembered["run_id"])
        except Exception:  # noqa: BLE001 - deleted or unknown: look it up by tags instead
            run = None
        if run is not None and run.data.tags.get("spec_hash") == experiment.spec_hash:
            return TrackedRun(run.info.run_id, uri, run.info.experiment_id, resumed=True)
    if not RunDir(output_dir).has_started():
        return None  # a fresh folder (an old one deleted to start over) is a new run, not the old one continued
    exp = mlflow_client.get_experiment_by_name(experiment_name(experiment))
    folder = RunDir(output_dir).absolute
    if exp is None or "'" in folder:  # MLflow's filter syntax has no escape for a quote
        return None
    runs = mlflow_client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.spec_hash = '{experiment.spec_hash}' and tags.output_dir = '{folder}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if runs:
        return TrackedRun(runs[0].info.run_id, uri, exp.experiment_id, resumed=True)
    return None


def _create(mlflow_client, experiment: Any, output_dir: str, uri: str, data_fingerprint: str) -> TrackedRun:
    import yaml
    from mlflow.entities import Param

    experiment_id = _experiment_id(mlflow_client, experiment_name(experiment))
    tags = run_tags(experiment, output_dir, data_fingerprint)
    run = mlflow_client.create_run(experiment_id, tags=tags, run_name=run_name(experiment))
    params = [Param(k, v) for k, v in spec_params(experiment).items()]
    for i in range(0, len(params), _PARAM_BATCH):
        mlflow_client.log_batch(run.info.run_id, params=params[i: i + _PARAM_BATCH])
    spec_yaml = yaml.safe_dump(experiment.to_dict(), sort_keys=False, allow_unicode=True)
    mlflow_client.log_text(run.info.run_id, spec_yaml, SPEC_ARTIFACT)
    tracked = TrackedRun(run.info.run_id, uri, experiment_id, resumed=False)
    _remember(output_dir, tracked)
    return tracked


def _experiment_id(mlflow_client, name: str) -> str:
    exp = mlflow_client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            raise TrackingError(f"MLflow experiment '{name}' is deleted; restore it (mlflow experiments restore) "
                                "or set tracking.experiment_name to another name")
        if exp.tags.get(EXPERIMENT_KIND_TAG) is None:  # made by an older runner: open it in the training view too
            mlflow_client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND)
        return exp.experiment_id
    try:
        return mlflow_client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
    except Exception:  # noqa: BLE001 - another process created it first
        exp = mlflow_client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def experiment_name(experiment: Any) -> str:
    return experiment.tracking.experiment_name or experiment.recipe


def finish(run: TrackedRun, output_dir: str, status: str = "FINISHED") -> None:
    """Log the run's final files as artifacts and set its end status (FINISHED / FAILED / KILLED)."""
    mlflow_client = client(run.uri)
    if status == "FINISHED":
        run_dir = RunDir(output_dir)
        for name in RunDir.ARTIFACTS:
            path = run_dir.file(name)
            if path.is_file():
                mlflow_client.log_artifact(run.run_id, str(path))
        if run_dir.plots.is_dir():  # loss and eval curves (runner/run_plots.py)
            mlflow_client.log_artifacts(run.run_id, str(run_dir.plots), RunDir.PLOTS)
    # MLflow prints "View run ... at: <url>" on stdout for a server URI; stdout is the run's JSON metrics.
    with contextlib.redirect_stdout(sys.stderr):
        mlflow_client.set_terminated(run.run_id, status=status)


def read_run_file(output_dir: str) -> dict[str, Any] | None:
    found = RunDir(output_dir).read_json(RunDir.MLFLOW_RUN)  # missing, truncated or not UTF-8: None
    return found if isinstance(found, dict) else None


def _remember(output_dir: str, run: TrackedRun) -> None:
    RunDir(output_dir).write_json(RunDir.MLFLOW_RUN, {k: v for k, v in asdict(run).items() if k != "resumed"})

