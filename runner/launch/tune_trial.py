"""One Tune trial, on the path its resources call for; both share `run_trial` below.

    Tuner(with_resources(with_parameters(run_trial, context=...), trial_resources(plan)), ...)

`run_trial(config, context)` runs in a Tune trial actor. It resolves the trial's experiment (the
sweep's recipe and overrides plus `-o hparams.<k>=<v>` for the sampled values), finds its run
folder (`<sweep>/trials/<trial_id>`, or under PBT the folder of the trial's current segment, see
tune_lineage), claims it, opens the trial's MLflow child run, and trains:

- one worker (`resources.workers: 1`, CPU or GPU; tune_plan sets plan.trial_path): the loop runs right here, in the trial's
  actor (tune_direct.py), reporting to Tune with ray.tune.report and Tune checkpoints. This is
  the path where PBT works and actors are reused between trials.
- several workers: the TorchTrainer `runner run` builds (launch.trainer.build_trainer), whose
  rank 0 rows reach Tune through `ObjectiveReportCallback` (Train V2's Train-in-Tune; the
  actor itself reserves nothing, see TRIAL_DRIVER_RESOURCES).

Both paths run the same loop on the same experiment, so a trial's results do not depend on
the path (tested). `Tuner(TorchTrainer)` is the Train V1 way and fails under Train V2, hence
the function trainable.

Resuming: a restarted trial finds its own folder; the direct path resumes from Tune's
checkpoint (ray.tune.get_checkpoint), the Train path from its Ray Train run (named and stored
like a plain run's, inside the trial's folder). A trial restarted although it had finished
(the sweep died between the trial writing final_metrics.json and Tune saving its state)
reports its final row from that file instead of training again.
"""

from __future__ import annotations

import os
from typing import Any

from ray.tune.integration.ray_train import TuneReportCallback

from runner.run_dir import RunDir

# The trial actor only waits on its Train run, whose workers reserve the recipe's resources
# themselves. It asks for no CPU, so that `parallel_trials` trials of W workers need exactly
# parallel_trials x W x cpus_per_worker CPUs; Ray needs one non-zero resource, hence 1 MiB of memory.
TRIAL_DRIVER_RESOURCES = {"cpu": 0, "memory": 2**20}


def trial_resources(experiment: Any, trial_path: str) -> dict[str, float]:
    """What a trial's actor reserves: the one worker's CPUs/GPU on the direct path, else nothing."""
    if trial_path != "direct":
        return dict(TRIAL_DRIVER_RESOURCES)
    resources = experiment.resources
    wanted = {"cpu": resources.cpus_per_worker}
    if resources.accelerator == "gpu":
        wanted["gpu"] = resources.gpus_per_worker
    return wanted


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
    """One trial, on either path: the same experiment, folder, MLflow child run and final files."""
    import ray.tune

    from runner.launch import tune_lineage
    from runner.launch.worker import write_returned
    from runner.tracking import sweep as sweep_tracking
    from runner.tune_space import plain, trial_experiment

    trial_id = ray.tune.get_context().get_trial_id()
    config = {k: plain(v) for k, v in config.items()}
    experiment = trial_experiment(context["recipe"], context["overrides"], config)
    segment = tune_lineage.current_segment(context["trials_dir"], trial_id, *_tune_checkpoint())
    trial_dir = segment.dir
    run_dir = RunDir(trial_dir)
    run_dir.claim(experiment)
    finished = run_dir.final_metrics()
    if finished is not None:
        # The sweep died after this trial finished but before Tune saved that: report, don't retrain.
        ray.tune.report(final_row(finished))
        return
    run_dir.note_start()
    run_dir.write_data_facts(experiment.problem.name, context["data_fingerprint"], context.get("data_test_examples"))
    if context.get("data_assets_of"):
        from runner.problems import assets

        assets.copy_between(context["data_assets_of"], trial_dir)
    child = sweep_tracking.start_trial_run(experiment, trial_dir, context["tracking_uri"], context["data_fingerprint"],
                                           context["parent_run_id"], trial_id, lineage=_lineage_tags(segment))
    replaced = tune_lineage.record_start(context["trials_dir"], trial_id, segment, config, experiment.spec_hash,
                                         child.run_id)
    if replaced and replaced != child.run_id:
        sweep_tracking.end_replaced_segment(child.uri, replaced)
    train = _train_direct if context.get("direct") else _train_with_ray_train
    try:
        returned = train(experiment, trial_dir, context, child)
    except Exception:
        sweep_tracking.finish_trial_run(child, trial_dir, status="FAILED")
        raise
    # (A scheduler that stops a direct trial ends this thread inside ray.tune.report, a SystemExit:
    # the sweep's driver closes the child run then, in tracking.sweep.close_sweep.)
    write_returned(run_dir, returned)  # the same final files as `runner run`, final_metrics.json last
    sweep_tracking.finish_trial_run(child, trial_dir, status="FINISHED")


def _train_direct(experiment: Any, trial_dir: str, context: dict[str, Any], child: Any) -> dict[str, Any]:
    """One worker: the loop in this actor (runner.launch.tune_direct)."""
    from runner.launch.tune_direct import train_in_trial_actor

    return train_in_trial_actor(experiment, trial_dir, context, child.run_id)


def _train_with_ray_train(experiment: Any, trial_dir: str, context: dict[str, Any], child: Any) -> dict[str, Any]:
    """Several workers: a Ray Train run inside the trial (Train V2's Train-in-Tune)."""
    from runner.launch.plan import make_plan
    from runner.launch.trainer import build_trainer

    plan = make_plan(experiment, trial_dir, context["data_dir"], context["address"], context["tracking_uri"])
    trainer = build_trainer(experiment, plan, child.run_id,
                            callbacks=[ObjectiveReportCallback(context["objective"])])
    return trainer.fit().return_value or {}


def _tune_checkpoint() -> tuple[str | None, int | None]:
    """The checkpoint Tune hands this start (path, step): None on a fresh trial."""
    import ray.tune

    from runner.training.checkpoint import CheckpointError, read_meta

    checkpoint = ray.tune.get_checkpoint()
    if checkpoint is None:
        return None, None
    try:
        step = int(read_meta(checkpoint.path)["step"]) if os.path.isdir(checkpoint.path) else None
    except CheckpointError:
        step = None
    return checkpoint.path, step


def _lineage_tags(segment: Any) -> dict[str, str]:
    if not segment.is_exploit:
        return {}
    tags = {"pbt.segment": str(segment.index), "pbt.parent_trial": segment.parent_trial,
            "pbt.exploit_step": "" if segment.exploit_step is None else str(segment.exploit_step)}
    if segment.parent_run_id:
        tags["pbt.parent_run_id"] = segment.parent_run_id
    return tags


def final_row(final_metrics: dict[str, Any]) -> dict[str, Any]:
    """The row Tune last saw from a finished trial, rebuilt from its final_metrics.json:
    the step and the last eval values (`eval_<name>` there, plain names in rows)."""
    row: dict[str, Any] = {"step": int(final_metrics["steps"])}
    row.update({k: v for k, v in final_metrics.items() if k.startswith("eval_")})
    return row
