"""The single-worker trial path: the one training loop, run in the Tune trial's own actor.

    returned = train_in_trial_actor(experiment, trial_dir, context, mlflow_run_id)

A trial of one worker needs no Ray Train run: no controller, no worker process, no report
queue, only the actor Tune already started (about four process starts fewer per trial). The
loop talks to Tune through `TuneSession` (ray.tune.report / ray.tune.get_checkpoint), so
Tune's schedulers, PBT included, see its checkpoints.

The data is read once per actor, not once per trial: `problem_data` keeps the last dataset it
built, keyed by the cache folder and the data fingerprint the sweep's driver computed. With
`reuse_actors`, Tune hands a finished trial's actor to the next trial, which finds the data
already in memory. (A dataset is read-only to the loop: batch plans are pure functions of
their arguments, and augmentation draws from torch's seeded RNG.)
"""

from __future__ import annotations

import os
import socket
from typing import Any

# (cache folder, data fingerprint) -> the ProblemData built in this process (one entry at most).
_DATA: dict[tuple[str, str], Any] = {}


def problem_data(problem: Any, data_dir: str, fingerprint: str) -> Any:
    """The problem's data, built (read from the on-disk cache) once per process and fingerprint."""
    key = (data_dir, fingerprint)
    if key not in _DATA:
        from runner import problems

        _DATA.clear()  # another sweep's data in a reused process: drop it before loading this one
        _DATA[key] = problems.build(problem, data_dir)
    return _DATA[key]


def trial_device(experiment: Any):
    """The GPU Tune assigned to the trial (it sets CUDA_VISIBLE_DEVICES), or the CPU."""
    import torch

    return torch.device("cuda") if experiment.resources.accelerator == "gpu" else torch.device("cpu")


def train_in_trial_actor(experiment: Any, trial_dir: str, context: dict[str, Any],
                         mlflow_run_id: str | None) -> dict[str, Any]:
    """Train the trial's experiment here; returns what a Ray Train rank 0 returns (worker.write_returned's input)."""
    import ray

    from runner.launch.tune_session import TuneSession
    from runner.training.checkpoint import read_meta
    from runner.training.loop import train

    data = problem_data(experiment.problem, context["data_dir"], context["data_fingerprint"])
    session: Any = TuneSession(trial_dir, context["objective"], experiment.train.keep_checkpoints,
                               trial_device(experiment))
    resumed_from = session.latest_checkpoint()
    # Read now: Tune's num_to_keep may delete that checkpoint while this trial trains on.
    resumed_from_step = int(read_meta(resumed_from)["step"]) if resumed_from else None
    workers = [{"rank": 0, "node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                "pid": os.getpid(), "device": str(session.device)}]
    if mlflow_run_id:
        from runner.tracking.metrics_logger import MetricsLogger
        from runner.tracking.session import TrackedSession

        session = TrackedSession(session, MetricsLogger(context["tracking_uri"], mlflow_run_id))
    results = train(experiment, data, session)
    return {"results": results.to_dict(), "workers": workers,
            "resumed_from_step": resumed_from_step}
