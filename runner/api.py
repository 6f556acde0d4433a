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

from runner.run_dir import claim, default_data_dir
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

    return registry.model(experiment.model.implementation).build_fn()(experiment.hparams, info)


def train(experiment: Experiment, output_dir: str, data_dir: str | None = None, verbose: bool = True,
          track: bool = False) -> dict[str, float]:
    """Train and evaluate in this process; returns the final metrics (also in final_metrics.json).

    track=True tracks the run in MLflow as `runner run` does on Ray (tracking.uri, else
    MLFLOW_TRACKING_URI, else ./mlflow.db): params, tags, metrics, final files, plots."""
    from runner.problems import assets
    from runner.run_plots import write_run_plots
    from runner.training.loop import train as train_loop
    from runner.training.session import InProcessSession

    claim(output_dir, experiment)
    data = build_problem(experiment, data_dir)
    assets.write(data, output_dir)  # so `runner predict` / `export` need only the run folder
    session = InProcessSession(output_dir, keep_checkpoints=experiment.train.keep_checkpoints, verbose=verbose)
    if not track:  # the Python API and tests: no MLflow, no plots (matplotlib costs a second per run)
        return train_loop(experiment, data, session)
    from runner.tracking import runs
    from runner.tracking.links import where_to_look
    from runner.tracking.metrics_logger import MetricsLogger
    from runner.tracking.session import TrackedSession
    from runner.tracking.uri import display, resolve_uri

    uri = resolve_uri(experiment.tracking.uri)
    tracked = runs.start_or_resume(experiment, output_dir, uri, data.fingerprint)
    if verbose:
        print(f"MLflow run {tracked.run_id} ({'continued' if tracked.resumed else 'new'}) at {display(uri)}",
              file=sys.stderr)
    try:
        final = train_loop(experiment, data, TrackedSession(session, MetricsLogger(uri, tracked.run_id)))
    except BaseException as exc:
        runs.finish(tracked, output_dir, status="KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    write_run_plots(output_dir)
    runs.finish(tracked, output_dir, status="FINISHED")
    if verbose:
        for line in where_to_look(uri, tracked.experiment_id, tracked.run_id):
            print(line, file=sys.stderr)
    return final
