"""The driver killed mid-run: the same `runner run` command again resumes the Ray Train run from its
last checkpoint and continues the one MLflow run, with no missing or duplicated metric steps."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from runner.specs.resolve import resolve
from runner.tracking import runs

from conftest import TINY_OVERRIDES, TINY_RECIPE, kill_session

pytestmark = pytest.mark.slow

STEPS = ["train.steps=300", "train.eval_every=50"]


def _command(output_dir, data_dir):
    argv = [sys.executable, "-m", "runner", "run", TINY_RECIPE, "--output-dir", output_dir, "--data-dir", data_dir]
    for override in TINY_OVERRIDES + STEPS:
        argv += ["-o", override]
    return argv


def _env():
    env = dict(os.environ)
    for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS"):  # the embedded defaults: a local Ray, ./mlflow.db
        env.pop(name, None)
    return env


def test_a_killed_driver_resumes_from_the_last_checkpoint_into_the_same_mlflow_run(tmp_path, runner_data_dir):
    experiment = resolve(TINY_RECIPE, TINY_OVERRIDES + STEPS)
    out = str(tmp_path / "out")
    snapshot = os.path.join(out, "ray", f"{experiment.recipe}-{experiment.spec_hash[:12]}",
                            "checkpoint_manager_snapshot.json")
    with open(tmp_path / "first.log", "w") as log:
        # A session of its own, so the driver and the Ray it started can all be killed, and only them.
        driver = subprocess.Popen(_command(out, runner_data_dir), cwd=tmp_path, env=_env(), stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 300
            while not _has_checkpoint(snapshot):
                assert driver.poll() is None, (tmp_path / "first.log").read_text()
                assert time.monotonic() < deadline, "no checkpoint within 300 s"
                time.sleep(0.05)
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(timeout=30)
        finally:
            kill_session(driver.pid)  # the embedded Ray's processes, which outlive a SIGKILLed driver
    assert not os.path.exists(os.path.join(out, "final_metrics.json"))

    again = subprocess.Popen(_command(out, runner_data_dir), cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = again.communicate(timeout=600)
    finally:
        kill_session(again.pid)
    assert again.returncode == 0, stderr[-3000:]
    assert "(continued)" in stderr
    with open(os.path.join(out, "ray_run.json")) as f:
        assert json.load(f)["resumed_from_step"] >= 50
    with open(os.path.join(out, "final_metrics.json")) as f:
        assert json.load(f)["steps"] == 300

    client = runs.client(f"sqlite:///{tmp_path}/mlflow.db")
    found = client.search_runs([e.experiment_id for e in client.search_experiments()],
                               filter_string=f"tags.spec_hash = '{experiment.spec_hash}'")
    assert len(found) == 1
    run = found[0]
    assert run.info.run_id == runs.read_run_file(out)["run_id"] and run.info.status == "FINISHED"
    for key in ("train_loss", "eval_accuracy", "learning_rate"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == list(range(50, 301, 50)), key
    assert [m.step for m in client.get_metric_history(run.info.run_id, "accuracy")] == [300]  # the test value


def _has_checkpoint(snapshot):
    try:
        with open(snapshot) as f:
            return "step_" in f.read()
    except OSError:
        return False
