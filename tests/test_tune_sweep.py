"""A real sweep of the CI recipe: Ray Tune + Ray Train + MLflow, killed halfway and resumed.

One test, so that the expensive part (Ray starting, trials training) is paid once:
1. `runner tune catalog/recipes/reverse_tune_cpu.yaml` (6 trials, 2 at a time, ASHA), shrunk
   further with -o, runs in its own process session;
2. once a trial has finished while others still run, the whole session is SIGKILLed (driver,
   embedded Ray, trials: a sweep that dies);
3. the same command again resumes it: finished trials are not trained again, the rest finish;
4. the best set written to best_hparams.yaml validates in a catalog and trains a few steps;
5. MLflow holds a parent run, one child per trial (mlflow.parentRunId), the best one tagged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import kill_session
from runner.cli import main

RECIPE = "catalog/recipes/reverse_tune_cpu.yaml"
# Still the recipe's problem, model, range and ASHA; fewer examples and steps (rung at step 20).
SHRINK = ["problem.train_size=300", "problem.eval_size=40", "problem.test_size=20", "train.steps=40",
          "train.eval_every=10", "decode.max_examples=5"]
ROOT = Path(__file__).resolve().parents[1]


def _command(out: Path) -> list[str]:
    args = [sys.executable, "-m", "runner", "tune", RECIPE, "--output-dir", str(out)]
    for override in SHRINK:
        args += ["-o", override]
    return args


def _trials(out: Path) -> dict[str, dict]:
    """trial id -> {"finished": bool, "starts": int, "final_mtime": float | None}."""
    found = {}
    for folder in sorted((out / "trials").glob("*")) if (out / "trials").is_dir() else []:
        info = json.loads((folder / "trial.json").read_text()) if (folder / "trial.json").is_file() else {}
        final = folder / "final_metrics.json"
        found[folder.name] = {"finished": final.is_file(), "starts": len(info.get("starts", [])),
                              "final_mtime": final.stat().st_mtime if final.is_file() else None}
    return found


@pytest.mark.slow
def test_sweep_dies_resumes_and_writes_a_best_set_that_trains(tmp_path, runner_data_dir):
    out = tmp_path / "sweep"
    env = dict(os.environ, RUNNER_DATA_DIR=runner_data_dir, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/mlflow.db")
    env.pop("RAY_ADDRESS", None)
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(_command(out), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        while True:
            trials = _trials(out)
            done = [t for t, s in trials.items() if s["finished"]]
            running = [t for t, s in trials.items() if not s["finished"] and s["starts"]]
            if done and running:
                break
            assert first.poll() is None, f"the sweep ended before it could be killed: {(tmp_path / 'first.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.5)
    finally:
        kill_session(first.pid)  # the driver, its embedded Ray and every trial: the sweep dies
        first.wait(timeout=60)
        log.close()
    before = _trials(out)
    finished_before = {t: s for t, s in before.items() if s["finished"]}

    second = subprocess.run(_command(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "continuing the sweep" in second.stderr
    after = _trials(out)
    assert len(after) >= 6
    for trial_id, state in finished_before.items():  # not trained again, not even restarted
        assert after[trial_id]["starts"] == 1 and after[trial_id]["final_mtime"] == state["final_mtime"]
    # Interrupted: started (trial.json records a start) but not finished. A folder claimed a moment
    # before the kill, without a recorded start yet, was not interrupted mid-training.
    resumed = [t for t, s in before.items() if s["starts"] and not s["finished"] and after[t]["finished"]]
    assert all(after[t]["starts"] == 2 for t in resumed), "a trial interrupted by the kill finished without resuming"
    assert resumed or set(after) - set(before), "the second run neither resumed nor started a trial"
    assert "stopped" in second.stdout, "ASHA stopped no trial"  # the trials table's status column

    best_file = out / "best_hparams.yaml"
    best = yaml.safe_load(best_file.read_text())
    assert best["model"] == "transformer" and best["extends"] == "transformer_algorithmic_cpu"
    assert set(best["hparams"]) >= {"learning_rate_constant"}
    assert (out / "tune_objective.png").stat().st_size > 1000

    catalog = tmp_path / "catalog" / "hparams"
    catalog.mkdir(parents=True)
    shutil.copy(best_file, catalog / "reverse_best.yaml")
    assert main(["validate", str(catalog / "reverse_best.yaml")]) == 0
    _trains_a_few_steps(str(catalog / "reverse_best.yaml"), tmp_path, runner_data_dir)
    _mlflow_has_parent_children_and_best(f"sqlite:///{tmp_path}/mlflow.db", len(after))
    _a_trial_predicts_from_its_own_folder(out, tmp_path)


def _a_trial_predicts_from_its_own_folder(out: Path, tmp_path: Path) -> None:
    """A trial folder is a run folder: `runner predict` reads its data_assets/, not the data cache."""
    trial = next(t for t in sorted((out / "trials").glob("*")) if (t / "final_metrics.json").is_file())
    assert (trial / "data_assets" / "meta.json").is_file()
    (tmp_path / "in.txt").write_text("0 1 1\n1 0 0 1\n")
    env = dict(os.environ, RUNNER_DATA_DIR=str(tmp_path / "no-cache-here"))
    done = subprocess.run([sys.executable, "-m", "runner", "predict", str(trial), str(tmp_path / "in.txt")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = done.stdout.splitlines()
    assert len(outputs) == 2 and all(set(line.split()) <= {"0", "1"} for line in outputs)


def _trains_a_few_steps(best_set: str, tmp_path: Path, data_dir: str) -> None:
    from runner import api

    experiment = api.resolve(RECIPE, [f"hparams={best_set}", *SHRINK, "train.steps=3", "train.eval_every=3"])
    metrics = api.train(experiment, str(tmp_path / "best_run"), data_dir, verbose=False)
    assert metrics["steps"] == 3.0 and metrics["loss"] > 0


def _mlflow_has_parent_children_and_best(uri: str, trial_count: int) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if r.data.tags.get("runner.sweep") == "true"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == trial_count
    best = [r for r in children if r.data.tags.get("best_trial") == "true"]
    assert len(best) == 1 and best[0].data.tags["tune.trial_id"] == parent.data.tags["best_trial_id"]
    assert parent.data.metrics["best_eval_neg_log_perplexity"] == pytest.approx(
        best[0].data.metrics["eval_neg_log_perplexity"])
    assert all(r.info.status in ("FINISHED", "KILLED") for r in children)
    assert {"tune_objective.png", "best_hparams.yaml"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
