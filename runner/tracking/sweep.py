"""MLflow for sweeps: a parent run for the sweep, a child run per trial, the best one tagged.

  parent = start_sweep_run(experiment, sweep_dir, uri, fingerprint)      # on the sweep's driver
  child  = start_trial_run(trial_experiment, trial_dir, uri, fingerprint, parent.run_id, trial_id)
  ...                                                                    # rank 0 logs the child's metrics
  close_sweep(parent, outcomes, best_metrics, artifacts)                 # after Tune returns

Both kinds are ordinary runner runs (runs.start_or_resume: params = the resolved spec, tags
spec_hash/output_dir/...), so a re-launched sweep continues the same parent, and a resumed trial
the same child. A child carries `mlflow.parentRunId` (MLflow's UI nests it under the sweep) and
`tune.trial_id`; `close_sweep` tags the winner `best_trial=true`, ends children that Tune
stopped early as KILLED (their process was ended, so nobody else closes them), and logs the
best values on the parent as `best_<metric>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner.run_dir import run_name
from runner.tracking import runs

SWEEP_TAG = "runner.sweep"          # "true" on a sweep's parent run
TRIAL_TAG = "tune.trial_id"         # on each child run
BEST_TAG = "best_trial"             # "true" on the best child


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial ended, as far as its MLflow run is concerned."""

    run_id: str
    status: str          # finished | stopped | error | running
    is_best: bool = False


def start_sweep_run(experiment: Any, sweep_dir: str, uri: str, data_fingerprint: str,
                    description: dict[str, str] | None = None) -> runs.TrackedRun:
    """The sweep's parent run: found again on a re-launch (mlflow_run.json in the sweep folder)."""
    parent = runs.start_or_resume(experiment, sweep_dir, uri, data_fingerprint)
    client = runs.client(uri)
    client.set_tag(parent.run_id, SWEEP_TAG, "true")
    client.set_tag(parent.run_id, "mlflow.runName", f"{run_name(experiment)}-tune")
    for key, value in (description or {}).items():
        client.set_tag(parent.run_id, f"tune.{key}", value)
    return parent


def start_trial_run(experiment: Any, trial_dir: str, uri: str, data_fingerprint: str, parent_run_id: str,
                    trial_id: str, lineage: dict[str, str] | None = None) -> runs.TrackedRun:
    """A trial's child run (continued when the trial resumes after the sweep was re-launched).

    `lineage` (PBT): the tags of a segment that an exploit started (`pbt.parent_trial`,
    `pbt.exploit_step`, `pbt.segment`, `pbt.parent_run_id`); its run is named
    `<trial_id>-seg<k>-<hash12>` so the trial's segments sort together in MLflow's UI.
    """
    child = runs.start_or_resume(experiment, trial_dir, uri, data_fingerprint)
    client = runs.client(uri)
    client.set_tag(child.run_id, "mlflow.parentRunId", parent_run_id)
    client.set_tag(child.run_id, TRIAL_TAG, trial_id)
    segment = f"-seg{lineage['pbt.segment']}" if lineage else ""
    client.set_tag(child.run_id, "mlflow.runName", f"{trial_id}{segment}-{experiment.spec_hash[:12]}")
    for key, value in (lineage or {}).items():
        client.set_tag(child.run_id, key, value)
    return child


def end_replaced_segment(uri: str, run_id: str) -> None:
    """PBT replaced a trial's weights and hparams: its previous segment's run ends here (KILLED)."""
    client = runs.client(uri)
    client.set_tag(run_id, "tune.status", "exploited")
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status="KILLED")


def finish_trial_run(child: runs.TrackedRun, trial_dir: str, status: str = "FINISHED") -> None:
    runs.finish(child, trial_dir, status=status)


def close_sweep(parent: runs.TrackedRun, outcomes: list[TrialOutcome], best_metrics: dict[str, float],
                best_tags: dict[str, str], artifacts: list[str], status: str = "FINISHED") -> None:
    """Tag the best child, end the children Tune stopped, log the sweep's result on the parent."""
    client = runs.client(parent.uri)
    for outcome in outcomes:
        client.set_tag(outcome.run_id, "tune.status", outcome.status)
        if outcome.is_best:
            client.set_tag(outcome.run_id, BEST_TAG, "true")
        run = client.get_run(outcome.run_id)
        if run.info.status == "RUNNING" and outcome.status != "running":
            client.set_terminated(outcome.run_id, status="FAILED" if outcome.status == "error" else "KILLED")
    if best_metrics:
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        client.log_batch(parent.run_id, metrics=[Metric(f"best_{k}", float(v), now, 0)
                                                 for k, v in best_metrics.items()])
    for key, value in best_tags.items():
        client.set_tag(parent.run_id, key, value)
    for path in artifacts:
        client.log_artifact(parent.run_id, path)
    client.set_terminated(parent.run_id, status=status)
