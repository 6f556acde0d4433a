"""What each Ray Train worker runs: rebuild the experiment, read the data, run the one loop.

The driver sends plain data (the experiment as a dict, absolute paths, the MLflow run id), never
live objects: a worker may be a fresh process on another node, and after a failure Ray starts
new ones. Datagen already ran on the driver, so `problems.build` here only reads the cache
(a worker on another node without the shared cache folder generates its own copy).

Rank 0 returns what `train()` returned (FinalResults as plain data) with where the workers ran;
the driver writes it into the run folder (`write_returned`): the results arrive whether or not
the driver's folder is visible from the worker's node, and only one process writes them.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from runner.run_dir import FinalResults, RunDir


def train_loop_per_worker(config: dict[str, Any]) -> dict[str, Any] | None:
    from runner import problems
    from runner.launch.session import RaySession
    from runner.specs.experiment import Experiment
    from runner.training.loop import train

    try:
        experiment = Experiment.from_dict(config["experiment"])
    except ValueError as exc:
        raise ValueError(f"{exc}: this worker ({socket.gethostname()}) rebuilds the experiment differently from "
                         "the driver; is the same runner code installed on every node?") from exc
    data = problems.build(experiment.problem, config["data_dir"])
    session: Any = RaySession(progress=config.get("progress"))
    placement = _placement(session)
    resumed_from = _checkpoint_step(session.latest_checkpoint())  # read now: old checkpoints get rotated away
    if session.is_main and config.get("mlflow_run_id"):
        from runner.tracking.metrics_logger import MetricsLogger
        from runner.tracking.session import TrackedSession

        session = TrackedSession(session, MetricsLogger(config["tracking_uri"], config["mlflow_run_id"]))
    results = train(experiment, data, session)
    if not session.is_main:
        return None
    return {"results": results.to_dict(), "workers": placement, "resumed_from_step": resumed_from}


def write_returned(run_dir: RunDir, returned: dict[str, Any]) -> FinalResults:
    """The driver's half: rank 0's return value into the run folder (ray_run.json, then the results,
    final_metrics.json last). Used by `runner run` and by Tune trials alike."""
    results = FinalResults.from_dict(returned.get("results") or {})
    run_dir.write_ray_info(returned.get("workers", []), returned.get("resumed_from_step"))
    run_dir.write_results(results)
    return results


def _checkpoint_step(path: str | None) -> int | None:
    from runner.training.checkpoint import read_meta

    return int(read_meta(path)["step"]) if path else None


def _placement(session: Any) -> list[dict[str, Any]]:
    """Where every rank runs (node id, host, pid), gathered on all ranks; recorded by the driver."""
    import ray
    import torch.distributed as dist

    mine = {"rank": session.world_rank, "node_id": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(), "pid": os.getpid(), "device": str(session.device)}
    if session.world_size > 1 and dist.is_available() and dist.is_initialized():
        everyone: list[Any] = [None] * session.world_size
        dist.all_gather_object(everyone, mine)
        return sorted(everyone, key=lambda w: w["rank"])
    return [mine]
