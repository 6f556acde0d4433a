"""Both trial paths on real Ray, tiny model: the loop in the trial's actor (one worker) and the
Ray Train run inside the trial (several workers) train the same trial to the same numbers.

The same sweep (one seeded random trial, FIFO) runs twice, once per path (the path is forced
through the plan; `resources:` picks it for users). Seeded random search samples the same
config both times, so the two trials are the same experiment, trained by the same loop.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from runner.specs.resolve import resolve

RECIPE = "catalog/recipes/reverse_tune_cpu.yaml"
SHRINK = ["problem.train_size=200", "problem.eval_size=40", "problem.test_size=20", "train.steps=6",
          "train.eval_every=3", "decode.max_examples=5", "tune.max_trials=1", "tune.parallel_trials=1",
          "tune.scheduler.type=fifo", "hparams.batch_size=256"]
# Measured, not trained: they differ between any two runs.
TIMING = {"train_seconds", "tokens_per_sec", "peak_memory_mb"}


def _sweep(tmp_path, runner_data_dir, path: str):
    from rich.console import Console

    from runner.launch.tune import run_sweep, sweep_plan

    experiment = resolve(RECIPE, SHRINK)
    plan = replace(sweep_plan(experiment, RECIPE, str(tmp_path / path)), trial_path=path)
    outcome = run_sweep(experiment, RECIPE, SHRINK, plan.output_dir, runner_data_dir,
                        console=Console(stderr=True, quiet=True), plan=plan)
    assert len(outcome.trials) == 1 and outcome.trials[0].status == "finished", outcome.trials
    trial = outcome.trials[0]
    final = json.loads((tmp_path / path / "trials" / trial.trial_id / "final_metrics.json").read_text())
    info = json.loads((tmp_path / path / "trials" / trial.trial_id / "ray_run.json").read_text())
    return outcome, {k: v for k, v in final.items() if k not in TIMING}, info


@pytest.mark.slow
def test_direct_and_train_paths_give_identical_results(tmp_path, runner_data_dir, ray_local, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    direct_sweep, direct_final, direct_info = _sweep(tmp_path, runner_data_dir, "direct")
    train_sweep, train_final, train_info = _sweep(tmp_path, runner_data_dir, "train")
    direct, train = direct_sweep.trials[0], train_sweep.trials[0]
    assert direct.config == train.config and direct.spec_hash == train.spec_hash
    # Only the Train path starts a Ray Train run (its storage under the trial's ray/); the direct
    # trial trained in the Tune actor itself.
    assert (tmp_path / "train" / "trials" / train.trial_id / "ray").is_dir()
    assert not (tmp_path / "direct" / "trials" / direct.trial_id / "ray").exists()
    assert direct_info["workers"][0]["pid"] != train_info["workers"][0]["pid"]
    assert direct_final == train_final  # bit-identical: the same loop, seed and data
    assert direct.objective == train.objective and direct.step == train.step == 6
    # The direct trial's folder is a run folder like any other: rows, checkpoints, MLflow run.
    folder = tmp_path / "direct" / "trials" / direct.trial_id
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval_loss" in r] == [3, 6, 6]
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step_00000003", "step_00000006"]
    assert json.loads((folder / "mlflow_run.json").read_text())["run_id"] == direct.mlflow_run_id
    _best_trial_becomes_a_record(tmp_path, runner_data_dir, direct_sweep, monkeypatch)


def _best_trial_becomes_a_record(tmp_path, data_dir, outcome, monkeypatch):
    """`<sweep>/best` is the best trial's run folder; `runner tune --record` makes it a leaderboard record
    whose command is the plain `runner run` that trains that trial."""
    import shutil
    from pathlib import Path

    from runner.cli.tune_commands import record_best
    from runner.leaderboard.commands import resolve_command
    from runner.leaderboard.record import load_record

    best_link = tmp_path / "direct" / "best"
    assert best_link.is_symlink() and best_link.resolve() == Path(outcome.best.trial_dir).resolve()
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copytree(Path(__file__).resolve().parents[1] / "catalog", repo / "catalog")  # a record's recipe is in its repo
    monkeypatch.setenv("RUNNER_LEADERBOARD", str(repo / "leaderboard"))
    record = load_record(record_best(outcome, "cpu", data_dir))
    assert record.spec_hash == outcome.best.spec_hash and record.mlflow_run_id == outcome.best.mlflow_run_id
    assert record.command.startswith("runner run catalog/recipes/reverse_tune_cpu.yaml")
    assert "hparams.learning_rate_constant=" in record.command
    assert resolve_command(record.command, repo).spec_hash == record.spec_hash
