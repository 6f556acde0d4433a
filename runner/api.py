"""The Python API beside the CLI, as T2T offered `registry.hparams(...)` then build and call.

    from runner import api
    experiment = api.resolve("catalog/recipes/reverse_cpu.yaml", ["train.steps=200"])
    data = api.build_problem(experiment)                  # datagen if needed (cached)
    model = api.build_model(experiment, data.info)        # a plain torch.nn.Module
    batch = data.collate([data.split("train")[i] for i in range(8)])
    logits = model(batch).logits
    metrics = api.train(experiment, "runs/reverse")       # the loop, in this process

Everything here imports torch lazily, so `from runner import api` stays cheap.
"""

from __future__ import annotations

import sys
from typing import Any

from runner.run_dir import RunDir, already_finished, default_data_dir
from runner.specs.experiment import Experiment
from runner.specs.resolve import resolve as _resolve

__all__ = ["resolve", "hparams", "build_problem", "build_model", "train"]


def resolve(recipe: str, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """A recipe (path or catalog name) plus `key=value` overrides -> the frozen Experiment."""
    return _resolve(recipe, overrides)


def hparams(name: str, overrides: dict[str, Any] | None = None):
    """An hparams set from the catalog by name, validated by its model's schema (T2T's registry.hparams)."""
    from runner.specs.catalog import Catalog
    from runner.specs.errors import Location
    from runner.specs.overrides import Override
    from runner.specs.resolve import load_hparams_chain, load_model, resolve_hparams

    cat = Catalog.for_file(None)
    chain, _ = load_hparams_chain(cat, name)
    model = load_model(cat, chain[0].model)
    extra = [Override(("hparams", *k.split(".")), v, Location(override=f"{k}={v}")) for k, v in (overrides or {}).items()]
    return resolve_hparams(cat, name, model, extra)


def build_problem(experiment: Experiment, data_dir: str | None = None):
    """The problem's data (generating and caching it on first use)."""
    from runner import problems

    return problems.build(experiment.problem, data_dir or default_data_dir())


def build_model(experiment: Experiment, info):
    """The torch module for the experiment's model and hparams."""
    from runner import registry

    return registry.build_model(experiment, info)


def train(experiment: Experiment, output_dir: str, data_dir: str | None = None, verbose: bool = True,
          track: bool = False) -> dict[str, float]:
    """Train and evaluate in this process; returns the final metrics (also in final_metrics.json).

    The same folder rules as a Ray run: a run that already finished here is not trained, evaluated
    or written again (its final metrics are returned), and a run that fails before its first
    training row leaves no claim on the folder. track=True tracks the run in MLflow as a Ray run
    is (tracking.uri, else MLFLOW_TRACKING_URI, else ./mlflow.db): params, tags, metrics, final
    files and plots; `runner run --in-process` does."""
    from runner.problems import assets
    from runner.training.loop import train as train_loop
    from runner.training.session import InProcessSession

    run_dir = RunDir(output_dir)
    run_dir.claim(experiment)
    finished = run_dir.final_metrics()
    if finished is not None:
        print(already_finished(run_dir, experiment), file=sys.stderr)
        return finished
    run_dir.note_start()
    tracked = None
    try:
        data = build_problem(experiment, data_dir)
        run_dir.write_data_facts(experiment.problem.name, data.fingerprint, len(data.split("test")))
        assets.write(data, output_dir)  # so `runner predict` / `export` need only the run folder
        session = InProcessSession(output_dir, keep_checkpoints=experiment.train.keep_checkpoints, verbose=verbose)
        if track:
            tracked, session = _tracked(experiment, output_dir, data.fingerprint, session, verbose)
        results = train_loop(experiment, data, session)
    except BaseException as exc:
        run_dir.release_if_unstarted()
        if tracked is not None:
            from runner.tracking import runs

            runs.finish(tracked, output_dir, status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    run_dir.write_results(results)
    if tracked is not None:
        _finish_tracked(tracked, output_dir, verbose)
    return results.metrics


def _tracked(experiment: Experiment, output_dir: str, fingerprint: str, session: Any, verbose: bool):
    """The run's MLflow run (new or continued) and the session that logs its rows to it."""
    from runner.tracking import runs
    from runner.tracking.metrics_logger import MetricsLogger
    from runner.tracking.session import TrackedSession
    from runner.tracking.uri import display, resolve_uri

    uri = resolve_uri(experiment.tracking.uri)
    tracked = runs.start_or_resume(experiment, output_dir, uri, fingerprint)
    if verbose:
        print(f"MLflow run {tracked.run_id} ({'continued' if tracked.resumed else 'new'}) at {display(uri)}",
              file=sys.stderr)
    return tracked, TrackedSession(session, MetricsLogger(uri, tracked.run_id))


def _finish_tracked(tracked: Any, output_dir: str, verbose: bool) -> None:
    from runner.run_plots import write_run_plots
    from runner.tracking import runs
    from runner.tracking.links import where_to_look

    write_run_plots(output_dir)  # plots/, logged with the final files
    runs.finish(tracked, output_dir, status="FINISHED")
    if verbose:
        for line in where_to_look(tracked.uri, tracked.experiment_id, tracked.run_id):
            print(line, file=sys.stderr)
