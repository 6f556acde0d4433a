"""`run_on_ray`: one experiment, trained by the one loop inside Ray Train's TorchTrainer.

    final_metrics = run_on_ray(experiment, "runs/reverse", data_dir)         # embedded local Ray
    final_metrics = run_on_ray(experiment, "runs/reverse", data_dir, address="head:6379")
    plan = run_on_ray(experiment, "runs/reverse", data_dir, dry_run=True)   # prints; starts nothing

In order: check the run folder is this spec's -> connect to Ray -> fail at once if the cluster
cannot hold the workers, or if a multi-node cluster would write to a local MLflow file -> datagen
once, here on the driver -> find or create the MLflow run -> TorchTrainer.fit -> write the final
files into the output folder -> close the MLflow run.

Resuming: the Ray Train run is named `<recipe>-<spec_hash[:12]>` under `<output_dir>/ray`; Train
V2 restores a run that reuses a storage path and name, so re-running the same command after the
driver died continues from the last checkpoint, and a different spec never picks up an old run.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from runner.launch.plan import LaunchPlan, check_capacity, describe, make_plan
from runner.launch.trainer import build_trainer
from runner.run_dir import RunDir, already_finished
from runner.specs.errors import SpecError
from runner.tracking.uri import display, is_local, resolve_uri


class TrainingFailed(RuntimeError):
    """Ray Train gave up on the run (a worker kept failing); the message says where the logs are."""


def run_on_ray(experiment: Any, output_dir: str, data_dir: str | None = None, address: str | None = None,
               dry_run: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Train on Ray; returns the final metrics (or, with dry_run, the plan, after printing it)."""
    from runner.run_dir import default_data_dir

    console = console or Console(stderr=True)
    address = address or os.environ.get("RAY_ADDRESS") or None
    plan = make_plan(experiment, output_dir, data_dir or default_data_dir(), address,
                     resolve_uri(experiment.tracking.uri))
    if dry_run:  # check what can be checked without training (preflight.py); a reason not to start is exit 2
        from runner.launch import preflight

        checks = preflight.check(plan, experiment)
        print_plan(plan, experiment, Console(width=None if sys.stdout.isatty() else 160), checks.rows)
        if checks.errors:
            raise SpecError.merge(checks.errors)
        return plan.as_dict()
    run_dir = RunDir(plan.output_dir)
    run_dir.claim(experiment)
    finished = run_dir.final_metrics()
    if finished is not None:
        console.print(already_finished(run_dir, experiment), soft_wrap=True)
        return finished
    run_dir.note_start()

    from runner.launch import cluster

    connection = cluster.connect(address, plan.output_dir)
    console.print(f"[bold]{plan.run_name}[/] -> {plan.output_dir} ({connection.describe()}; Ray's logs: "
                  f"{cluster.DRIVER_LOG}, {cluster.SESSION_LOGS_LINK}/ there)", soft_wrap=True, highlight=False)
    try:
        nodes = cluster.alive_nodes()
        check_capacity(plan, nodes)
        _check_tracking_reach(plan, len(nodes))
        return _train(experiment, plan, run_dir, console)
    except BaseException:
        run_dir.release_if_unstarted()  # a run that never trained does not keep the folder
        raise
    finally:
        cluster.disconnect(connection)


def print_plan(plan: LaunchPlan, experiment: Any, console: Console, checks: list[tuple[str, str]] = ()) -> None:
    table = Table(title="runner run --dry-run: nothing started", title_justify="left", show_header=False,
                  show_edge=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    checked = {key for key, _ in checks}
    rows = [(k, v) for k, v in describe(plan, experiment) if not (k == "data" and "data cache" in checked)]
    for key, value in rows + list(checks):
        table.add_row(key, display(value) if key == "tracking" else value)
    console.print(table)


def _check_tracking_reach(plan: LaunchPlan, node_count: int) -> None:
    if node_count > 1 and is_local(plan.tracking_uri):
        raise SpecError(
            f"the Ray cluster has {node_count} alive nodes, but the MLflow tracking URI {display(plan.tracking_uri)} "
            "is a file on this machine that workers on other nodes cannot write; start a tracking server "
            "(mlflow server --host 0.0.0.0 --port 5000 --backend-store-uri sqlite:///mlflow.db) and set "
            "tracking.uri (-o tracking.uri=http://HOST:5000) or MLFLOW_TRACKING_URI",
            field="tracking.uri",
        )


def _train(experiment: Any, plan: LaunchPlan, run_dir: RunDir, console: Console) -> dict[str, Any]:
    import ray.train
    from ray.util.queue import Queue

    from runner import problems
    from runner.problems import assets
    from runner.run_plots import write_run_plots
    from runner.tracking.links import is_server, run_page, where_to_look
    from runner.launch.progress import ProgressDisplay
    from runner.launch.worker import write_returned
    from runner.tracking import runs

    with console.status("preparing data ..."):
        data = problems.build(experiment.problem, plan.data_dir)  # datagen once, before any worker starts
    run_dir.write_data_facts(experiment.problem.name, data.fingerprint, len(data.split("test")))
    assets.write(data, plan.output_dir)  # so `runner predict` / `export` need only the run folder
    tracked = runs.start_or_resume(experiment, plan.output_dir, plan.tracking_uri, data.fingerprint)
    console.print(f"MLflow run {tracked.run_id} ({'continued' if tracked.resumed else 'new'}) at "
                  f"{display(plan.tracking_uri)}", soft_wrap=True, highlight=False)
    if is_server(plan.tracking_uri):
        console.print(f"  {run_page(plan.tracking_uri, tracked.experiment_id, tracked.run_id)}", soft_wrap=True,
                      highlight=False)
    rows = Queue(actor_options={"num_cpus": 0})  # rank 0's rows, for the progress line here
    trainer = build_trainer(experiment, plan, tracked.run_id, progress=rows)
    try:
        with ProgressDisplay(rows, plan.steps, plan.output_dir, console):
            result = trainer.fit()
    except ray.train.TrainingFailedError as exc:
        runs.finish(tracked, plan.output_dir, status="FAILED")
        raise TrainingFailed(
            f"training failed after {plan.max_failures} restart(s) allowed (train.max_failures): "
            f"{_failure_summary(exc)}; Ray's logs: {os.path.join(plan.output_dir, 'ray_session_logs')}"
        ) from exc
    except BaseException:
        runs.finish(tracked, plan.output_dir, status="KILLED")
        raise
    returned = result.return_value or {}
    results = write_returned(run_dir, returned)
    write_run_plots(plan.output_dir)  # plots/, logged with the final files
    runs.finish(tracked, plan.output_dir, status="FINISHED")
    workers = returned.get("workers", [])
    resumed = returned.get("resumed_from_step")
    console.print(f"finished: {len(workers)} worker(s) on {len({w['node_id'] for w in workers})} node(s)"
                  + (f", resumed from step {resumed}" if resumed is not None else "")
                  + f"; outputs in {plan.output_dir}", soft_wrap=True, highlight=False)
    for line in where_to_look(plan.tracking_uri, tracked.experiment_id, tracked.run_id):
        console.print(line, soft_wrap=True, highlight=False)
    return dict(results.metrics)


def _failure_summary(exc: BaseException) -> str:
    """Each failed worker's rank and the last line of its error (the exception itself), not Ray's preamble."""
    failures = getattr(exc, "worker_failures", None) or {}
    if failures:
        return "; ".join(f"rank {rank}: {_last_line(error)}" for rank, error in sorted(failures.items()))
    cause = getattr(exc, "controller_failure", None)
    return _last_line(cause if cause is not None else exc)


def _last_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else type(error).__name__
