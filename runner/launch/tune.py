"""`run_sweep`: a Ray Tune sweep over an hparams range, each trial a Ray Train run of the one loop.

    outcome = run_sweep(experiment, "catalog/recipes/reverse_tune_cpu.yaml", overrides, "runs/sweep")

In order: the sweep plan (every bad input fails here, before Ray starts) -> claim the sweep's
folder -> Ray (embedded, or --address) -> room for parallel_trials trials at once -> datagen
once -> the MLflow parent run -> Tuner.fit, or Tuner.restore when the folder holds this sweep
already -> per-trial summaries -> the plot, best_hparams.yaml, and the MLflow parent's results.

Folder layout (`<sweep>` = --output-dir, default runs/<recipe>-<spec_hash[:12]>-tune):
  experiment.yaml                 the sweep's resolved spec (its spec_hash names the sweep)
  tune/<recipe>-<hash12>/         Tune's experiment state (Tuner.restore reads it)
  trials/<trial_id>/              each trial's run folder: experiment.yaml, trial.json, Ray
                                  Train checkpoints under ray/, final_metrics.json, ...
  best_hparams.yaml, tune_objective.png, mlflow_run.json

Resuming: re-running the same command finds Tune's state under the sweep's folder
(Tuner.can_restore) and continues: finished trials are kept as they are, unfinished ones
restart in their own folders and Ray Train resumes each from its last checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Console

from runner.launch.tune_plan import SweepPlan, default_sweep_dir, make_sweep_plan, require_tune
from runner.launch.tune_results import TrialSummary, best_trial, summarize, trial_dirname
from runner.specs.errors import SpecError
from runner.tune_space import BestTrial, best_hparams_yaml, changed_hparams, dimensions

BEST_HPARAMS_FILE = "best_hparams.yaml"
BEST_LINK = "best"  # <sweep>/best -> trials/<the best trial's run folder>: `runner leaderboard add <sweep>/best`
TRIAL_METRICS = ("loss", "neg_log_perplexity", "accuracy")  # logged on the parent as best_<name>


@dataclass(frozen=True)
class SweepOutcome:
    plan: SweepPlan
    trials: list[TrialSummary]
    best: TrialSummary | None
    best_hparams_path: str | None   # <sweep>/best_hparams.yaml (None when no trial scored)
    best_hparams_text: str | None
    plot_path: str | None
    parent_run_id: str
    restored: bool                  # True when this call continued an earlier launch


def sweep_plan(experiment: Any, recipe: str, output_dir: str | None) -> SweepPlan:
    """The plan, after checking the range against the base set (ray-free; raises SpecError)."""
    from runner.specs.resolve import resolve_range

    range_spec, _, _ = resolve_range(recipe_catalog(recipe), require_tune(experiment).range)
    return make_sweep_plan(experiment, dimensions(range_spec), output_dir or default_sweep_dir(experiment))


def recipe_catalog(recipe: str):
    """The catalog a recipe's names resolve in: its own catalog folder first, then the shipped one."""
    from runner.specs.catalog import Catalog

    return Catalog.for_file(recipe if os.path.isfile(recipe) else None)


def run_sweep(experiment: Any, recipe: str, overrides: list[str], output_dir: str | None = None,
              data_dir: str | None = None, address: str | None = None, console: Console | None = None,
              plan: SweepPlan | None = None) -> SweepOutcome:
    from runner.launch import cluster
    from runner.run_dir import claim, default_data_dir
    from runner.tracking.uri import resolve_uri

    console = console or Console(stderr=True)
    recipe = os.path.abspath(recipe) if os.path.isfile(recipe) else recipe  # trial actors run elsewhere
    plan = plan or sweep_plan(experiment, recipe, output_dir)
    address = address or os.environ.get("RAY_ADDRESS") or None
    data_dir = os.path.abspath(data_dir or default_data_dir())
    uri = resolve_uri(experiment.tracking.uri)
    claim(plan.output_dir, experiment)
    connection = cluster.connect(address, plan.output_dir)
    try:
        _check_room(experiment, plan, data_dir, address, uri)
        return _sweep(experiment, plan, recipe, overrides, data_dir, address, uri, console)
    finally:
        cluster.disconnect(connection)


def _check_room(experiment: Any, plan: SweepPlan, data_dir: str, address: str | None, uri: str) -> None:
    """One trial must fit the cluster; parallel_trials of them at once too (else they would wait forever)."""
    from runner.launch import cluster
    from runner.launch.plan import check_capacity, make_plan

    trial = make_plan(experiment, plan.output_dir, data_dir, address, uri)
    nodes = cluster.alive_nodes()
    check_capacity(trial, nodes)
    for parallel in range(plan.parallel_trials, 0, -1):
        try:
            check_capacity(replace(trial, workers=trial.workers * parallel), nodes)
        except SpecError:
            continue
        if parallel < plan.parallel_trials:
            raise SpecError(
                f"tune.parallel_trials {plan.parallel_trials} trials x {trial.workers} worker(s) of "
                f"{trial.cpus_per_worker:g} CPU{f' + {trial.gpus_per_worker:g} GPU' if trial.gpus_per_worker else ''} "
                f"do not fit the Ray cluster at once (room for {parallel} such trials); "
                f"lower it with -o tune.parallel_trials={parallel}, or join a bigger cluster with --address",
                field="tune.parallel_trials")
        return


def _sweep(experiment: Any, plan: SweepPlan, recipe: str, overrides: list[str], data_dir: str,
           address: str | None, uri: str, console: Console) -> SweepOutcome:
    from ray import tune

    from runner import problems
    from runner.problems import assets
    from runner.launch.tune_algorithms import search_algorithm, trial_scheduler
    from runner.launch.tune_cleanup import PlacementGroupReaper
    from runner.launch.tune_param_space import param_space
    from runner.launch.tune_trial import run_trial, trial_resources
    from runner.tracking import runs
    from runner.tracking import sweep as sweep_tracking

    with console.status("preparing data ..."):
        data = problems.build(experiment.problem, data_dir)  # once, before any trial starts
    # Every trial folder gets a copy (tune_trial.py), so `runner predict TRIAL_DIR` needs only that folder.
    sweep_assets = assets.write(data, plan.output_dir)
    try:
        parent = sweep_tracking.start_sweep_run(experiment, plan.output_dir, uri, data.fingerprint, {
            "search": plan.search, "scheduler": plan.scheduler.type, "objective": plan.objective,
            "mode": plan.mode, "trials": str(plan.trials)})
    except runs.TrackingError as exc:
        raise SpecError(str(exc), field="tracking.uri") from None
    context = {
        "recipe": recipe, "overrides": list(overrides), "trials_dir": plan.trials_dir, "data_dir": data_dir,
        "address": address, "tracking_uri": uri, "data_fingerprint": data.fingerprint,
        "data_test_examples": len(data.split("test")),
        "data_assets_of": plan.output_dir if sweep_assets is not None else None,
        "parent_run_id": parent.run_id, "objective": plan.objective, "direct": plan.trial_path == "direct",
    }
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context),
                                    trial_resources(experiment, plan.trial_path))
    restored = tune.Tuner.can_restore(plan.experiment_path)
    if restored:
        console.print(f"continuing the sweep in {plan.experiment_path} (finished trials are kept)", highlight=False)
        tuner = tune.Tuner.restore(plan.experiment_path, trainable=trainable, resume_unfinished=True,
                                   resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(plan.dimensions, grid=plan.search == "grid"),
            tune_config=tune.TuneConfig(
                metric=plan.objective, mode=plan.mode, search_alg=search_algorithm(plan),
                scheduler=trial_scheduler(plan), num_samples=plan.num_samples,
                trial_dirname_creator=trial_dirname,
                # A finished trial's actor (its process, imports and loaded data) runs the next trial.
                reuse_actors=plan.trial_path == "direct"),
            run_config=tune.RunConfig(name=plan.name, storage_path=plan.storage_path, verbose=1,
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=plan.keep_checkpoints),
                                      callbacks=[PlacementGroupReaper()]),
        )
    try:
        grid = tuner.fit()
    except BaseException:
        runs.client(uri).set_terminated(parent.run_id, status="KILLED")
        raise
    trials = summarize(grid, plan)
    best = best_trial(trials, plan.mode)
    return _finish(experiment, plan, recipe, trials, best, parent, restored)


def _finish(experiment: Any, plan: SweepPlan, recipe: str, trials: list[TrialSummary], best: TrialSummary | None,
            parent: Any, restored: bool) -> SweepOutcome:
    from runner.launch.tune_plot import PLOT_FILE, plot_sweep
    from runner.tracking import sweep as sweep_tracking

    plot_path = plot_sweep(trials, plan.dimensions, plan.objective, plan.mode, best,
                           os.path.join(plan.output_dir, PLOT_FILE))
    best_path = best_text = None
    best_metrics: dict[str, float] = {}
    best_tags: dict[str, str] = {}
    if best is not None:
        best_text = best_set_text(experiment, plan, recipe, best, len(trials))
        best_path = os.path.join(plan.output_dir, BEST_HPARAMS_FILE)
        with open(best_path, "w", encoding="utf-8") as f:
            f.write(best_text)
        link_best(plan.output_dir, best.trial_dir)
        shown = {plan.objective, "step", *TRIAL_METRICS}
        best_metrics = {k: float(v) for k, v in best.metrics.items()
                        if k in shown and isinstance(v, (int, float)) and not isinstance(v, bool)}
        best_tags = {"best_trial_id": best.trial_id, "best_spec_hash": best.spec_hash,
                     "best_mlflow_run_id": best.mlflow_run_id}
    outcomes = [sweep_tracking.TrialOutcome(t.mlflow_run_id, _mlflow_status(t.status),
                                            best is not None and t.trial_id == best.trial_id)
                for t in trials if t.mlflow_run_id]
    unfinished = any(t.status in ("pending", "unfinished") for t in trials)
    sweep_tracking.close_sweep(parent, outcomes, best_metrics, best_tags,
                               [p for p in (plot_path, best_path) if p], status="KILLED" if unfinished else "FINISHED")
    return SweepOutcome(plan, trials, best, best_path, best_text, plot_path, parent.run_id, restored)


def link_best(sweep_dir: str, trial_dir: str) -> None:
    """Point <sweep>/best at the best trial's run folder (relative, so the sweep folder can move)."""
    link = os.path.join(sweep_dir, BEST_LINK)
    tmp = link + ".tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.relpath(trial_dir, sweep_dir), tmp)
    os.replace(tmp, link)


def _mlflow_status(status: str) -> str:
    return "running" if status in ("pending", "unfinished") else status


def best_set_text(experiment: Any, plan: SweepPlan, recipe: str, best: TrialSummary, trial_count: int) -> str:
    """best_hparams.yaml: the best trial's hparams that differ from the recipe's set, which it extends."""
    from runner.run_dir import load_experiment
    from runner.specs.resolve import resolve_hparams

    trained = load_experiment(best.trial_dir)  # exactly what the best trial trained
    base = resolve_hparams(recipe_catalog(recipe), experiment.hparams_set, experiment.model)
    changed = changed_hparams(base.model_dump(mode="json"), trained.hparams.model_dump(mode="json"))
    info = BestTrial(sweep_hash=experiment.spec_hash, recipe=experiment.recipe, objective=plan.objective,
                     mode=plan.mode, value=float(best.objective), step=best.step, trial_id=best.trial_id,
                     trials=trial_count)
    return best_hparams_yaml(experiment.model.name, experiment.hparams_set, changed, info)
