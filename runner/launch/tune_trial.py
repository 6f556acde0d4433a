"""One Tune trial: a function trainable that builds and runs a Ray Train run (Train V2's pattern).

    Tuner(with_resources(with_parameters(run_trial, context=...), TRIAL_DRIVER_RESOURCES), ...)

`run_trial(config, context)` runs in a Tune trial actor. It resolves the trial's experiment (the
sweep's recipe and overrides plus `-o hparams.<k>=<v>` for the sampled values), claims the
trial's folder `<sweep>/trials/<trial_id>`, opens the trial's MLflow child run, and fits the
TorchTrainer `runner run` builds (launch.trainer.build_trainer), so a trial trains as a run
does. Rank 0's rows reach Tune through `ObjectiveReportCallback` (Ray's TuneReportCallback,
eval rows only).

Resuming: the Ray Train run is named and stored like a plain run's (runner.launch.plan), inside
the trial's folder, so when a re-launched sweep restarts an unfinished trial (same trial id,
same folder), Train V2 continues it from its last checkpoint. A trial restarted although it had
finished (the sweep died between the trial writing final_metrics.json and Tune saving its state)
reports its final row from that file instead of training again.

`Tuner(TorchTrainer)` is the Train V1 way and fails under Train V2, hence the function trainable.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ray.tune.integration.ray_train import TuneReportCallback

from runner.run_dir import RunDir

# The trial actor only waits on its Train run, whose workers reserve the recipe's resources
# themselves. It asks for no CPU, so that `parallel_trials` trials of W workers need exactly
# parallel_trials x W x cpus_per_worker CPUs; Ray needs one non-zero resource, hence 1 MiB of memory.
TRIAL_DRIVER_RESOURCES = {"cpu": 0, "memory": 2**20}
TRIAL_FILE = "trial.json"  # the trial's id, config, spec_hash, MLflow run and each start time


class ObjectiveReportCallback(TuneReportCallback):
    """Ray's TuneReportCallback, passing on only rows that carry the objective.

    The loop also reports plain training rows (loss, learning rate) between evals. Tune checks
    that every result names the objective (strict metric checking), and schedulers compare
    trials on it, so only eval rows and the final row go to Tune; MLflow gets every row from
    rank 0 directly. The loop's own `done: 1` on its final row is dropped: for Tune, `done`
    means "stop this trial now", which would end the trial actor before it writes the trial's
    final files and closes its MLflow run.
    """

    def __init__(self, objective: str):
        super().__init__()
        self.objective = objective

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]], checkpoint: Any) -> None:
        if not metrics or self.objective not in metrics[0]:
            return
        first = {k: v for k, v in metrics[0].items() if k != "done"}
        super().after_report(run_context, [first, *metrics[1:]], checkpoint)


def run_trial(config: dict[str, Any], context: dict[str, Any]) -> None:
    import ray.train
    import ray.tune

    from runner.launch.plan import make_plan
    from runner.launch.trainer import build_trainer
    from runner.launch.worker import write_returned  # the same final files as `runner run`
    from runner.tracking import sweep as sweep_tracking
    from runner.tune_space import plain, trial_experiment

    trial_id = ray.tune.get_context().get_trial_id()
    config = {k: plain(v) for k, v in config.items()}
    experiment = trial_experiment(context["recipe"], context["overrides"], config)
    trial_dir = os.path.join(context["trials_dir"], trial_id)
    run_dir = RunDir(trial_dir)
    run_dir.claim(experiment)
    finished = run_dir.final_metrics()
    if finished is not None:
        # The sweep died after this trial finished but before Tune saved that: report, don't retrain.
        ray.tune.report(final_row(finished))
        return
    plan = make_plan(experiment, trial_dir, context["data_dir"], context["address"], context["tracking_uri"])
    run_dir.write_data_facts(experiment.problem.name, context["data_fingerprint"], context.get("data_test_examples"))
    child = sweep_tracking.start_trial_run(experiment, trial_dir, plan.tracking_uri, context["data_fingerprint"],
                                           context["parent_run_id"], trial_id)
    record_start(trial_dir, trial_id, config, experiment.spec_hash, child.run_id)
    trainer = build_trainer(experiment, plan, child.run_id,
                            callbacks=[ObjectiveReportCallback(context["objective"])])
    try:
        result = trainer.fit()
    except ray.train.TrainingFailedError:
        sweep_tracking.finish_trial_run(child, trial_dir, status="FAILED")
        raise
    write_returned(run_dir, result.return_value or {})
    sweep_tracking.finish_trial_run(child, trial_dir, status="FINISHED")


def final_row(final_metrics: dict[str, Any]) -> dict[str, Any]:
    """The row Tune last saw from a finished trial, rebuilt from its final_metrics.json:
    the step and the last eval values (`eval_<name>` there, plain names in rows)."""
    row: dict[str, Any] = {"step": int(final_metrics["steps"])}
    row.update({k: v for k, v in final_metrics.items() if k.startswith("eval_")})
    return row


def record_start(trial_dir: str, trial_id: str, config: dict[str, Any], spec_hash: str, run_id: str) -> None:
    """Append this start to the trial's trial.json (a resumed trial shows more than one start)."""
    info = read_trial_file(trial_dir) or {"trial_id": trial_id, "config": config, "spec_hash": spec_hash,
                                          "mlflow_run_id": run_id, "starts": []}
    info["starts"].append(time.time())
    info["mlflow_run_id"] = run_id
    RunDir(trial_dir).write_json(TRIAL_FILE, info)


def read_trial_file(trial_dir: str) -> dict[str, Any] | None:
    return RunDir(trial_dir).read_json(TRIAL_FILE)
