"""MLflow tracking on a real sqlite store: one run per training run, metrics committed with
checkpoints and never duplicated across a resume, and `runner runs` / `runner compare`."""

import json
import shutil

import pytest

from runner.cli import main
from runner.run_dir import RunDir
from runner.specs.resolve import resolve
from runner.tracking import runs
from runner.tracking.metrics_logger import MetricsLogger
from runner.tracking.params import MAX_PARAM_VALUE, flatten
from runner.tracking.session import TrackedSession
from runner.tracking.uri import absolute, is_local

from conftest import TINY_OVERRIDES, TINY_RECIPE


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def _experiment(*overrides):
    return resolve(TINY_RECIPE, TINY_OVERRIDES + list(overrides))


def _steps(uri, run_id, key):
    return [m.step for m in runs.client(uri).get_metric_history(run_id, key)]


class RecordingSession:
    """The wrapped session: records, at each report, which train_loss steps MLflow already holds."""

    world_rank, world_size, device, output_dir = 0, 1, "cpu", "/nonexistent"
    is_main = True

    def __init__(self, uri, run_id):
        self.uri, self.run_id, self.seen = uri, run_id, []

    def report(self, metrics, checkpoint_dir=None, milestone=True):
        self.seen.append((metrics["step"], checkpoint_dir, _steps(self.uri, self.run_id, "train_loss")))

    def latest_checkpoint(self):
        return None


def test_metrics_are_committed_with_checkpoints_and_never_duplicated(uri, tmp_path):
    run = runs.start_or_resume(_experiment(), str(tmp_path / "out"), uri, "fp")
    inner = RecordingSession(uri, run.run_id)
    session = TrackedSession(inner, MetricsLogger(uri, run.run_id))
    session.report({"step": 1, "train_loss": 2.0})
    session.report({"step": 2, "train_loss": 1.5, "accuracy": 0.5}, checkpoint_dir="ckpt-2")
    session.report({"step": 3, "train_loss": 1.4})  # then the worker dies: step 3 was never committed
    assert inner.seen == [(1, None, []), (2, "ckpt-2", [1, 2]), (3, None, [1, 2])]

    # The restarted worker resumes from the step-2 checkpoint (and replays step 2, as it would
    # after a crash between writing the rows and Ray persisting the checkpoint).
    resumed = TrackedSession(RecordingSession(uri, run.run_id), MetricsLogger(uri, run.run_id))
    resumed.report({"step": 2, "train_loss": 1.5, "accuracy": 0.5}, checkpoint_dir="ckpt-2")
    resumed.report({"step": 3, "train_loss": 1.3})
    resumed.report({"step": 4, "train_loss": 1.2, "accuracy": 0.75, "epoch": 1}, checkpoint_dir="ckpt-4")
    resumed.report({"step": 4, "accuracy": 0.75, "test_accuracy": 0.7, "done": 1, "checkpoint": "x"})

    assert _steps(uri, run.run_id, "train_loss") == [1, 2, 3, 4]
    assert [m.value for m in runs.client(uri).get_metric_history(run.run_id, "train_loss")] == [2.0, 1.5, 1.3, 1.2]
    assert _steps(uri, run.run_id, "accuracy") == [2, 4]
    assert _steps(uri, run.run_id, "test_accuracy") == [4]
    assert "done" not in runs.client(uri).get_run(run.run_id).data.metrics


def test_a_relaunch_continues_the_same_run(uri, tmp_path):
    experiment = _experiment("hparams.hidden_size=64")
    out = tmp_path / "out"
    first = runs.start_or_resume(experiment, str(out), uri, "fp")
    assert not first.resumed
    again = runs.start_or_resume(experiment, str(out), uri, "fp")
    assert (again.run_id, again.resumed) == (first.run_id, True)
    RunDir(out).append_row({"step": 1, "train_loss": 2.0})  # the run trained ...
    (out / runs.RUN_FILE).unlink()  # ... and its id file was lost: found by its spec_hash + output_dir tags
    assert runs.start_or_resume(experiment, str(out), uri, "fp").run_id == first.run_id
    # The folder deleted to start over: the same spec in the same place is a new run, not the old one
    # continued (its metrics would mix with the old run's).
    shutil.rmtree(out)
    fresh = runs.start_or_resume(experiment, str(out), uri, "fp")
    assert not fresh.resumed and fresh.run_id != first.run_id
    elsewhere = runs.start_or_resume(experiment, str(tmp_path / "elsewhere"), uri, "fp")
    assert elsewhere.run_id != first.run_id

    recorded = runs.client(uri).get_run(first.run_id)
    assert recorded.data.params["hparams.hidden_size"] == "64"
    assert recorded.data.params["problem.train_size"] == "200"
    assert recorded.data.params["problem.metrics"] == json.dumps(list(experiment.problem.metrics))
    for tag in ("spec_hash", "problem", "model", "hparams_set", "recipe", "code_commit", "data_fingerprint",
                "ray_version", "torch_version", "python_version"):
        assert recorded.data.tags[tag], tag
    assert recorded.data.tags["spec_hash"] == experiment.spec_hash
    artifacts = [a.path for a in runs.client(uri).list_artifacts(first.run_id)]
    assert runs.SPEC_ARTIFACT in artifacts


def test_params_are_flattened_and_long_values_cut():
    flat = flatten({"a": {"b": 1, "c": [1, 2], "description": "skipped"}, "long": "x" * 10_000})
    assert flat["a.b"] == "1" and flat["a.c"] == "[1, 2]" and "a.description" not in flat
    assert len(flat["long"]) == MAX_PARAM_VALUE and flat["long"].endswith("see experiment.yaml]")


def test_tracking_uris_are_made_absolute_for_workers(tmp_path):
    assert absolute("sqlite:///mlflow.db", str(tmp_path)) == f"sqlite:///{tmp_path}/mlflow.db"
    assert absolute("sqlite:////abs/m.db", str(tmp_path)) == "sqlite:////abs/m.db"
    assert absolute("http://host:5000", str(tmp_path)) == "http://host:5000"
    assert is_local("sqlite:////abs/m.db") and is_local("/tmp/mlruns") and not is_local("http://host:5000")


def test_runs_and_compare_commands(uri, tmp_path, capsys):
    made = []
    for size in (16, 48):
        out = tmp_path / f"out{size}"
        run = runs.start_or_resume(_experiment(f"hparams.hidden_size={size}"), str(out), uri, "fp")
        logger = MetricsLogger(uri, run.run_id)
        logger.add({"step": 5, "accuracy": size / 100, "test_accuracy": size / 200})
        logger.flush()
        (out / "final_metrics.json").write_text(json.dumps({"accuracy": size / 200}))
        runs.finish(run, str(out))
        made.append(run.run_id)
    capsys.readouterr()

    assert main(["runs", "--tracking-uri", uri, "--problem", "algorithmic_reverse_binary40"]) == 0
    listing = capsys.readouterr().out
    assert made[0][:8] in listing and made[1][:8] in listing and "FINISHED" in listing and "0.24" in listing
    assert main(["runs", "--tracking-uri", uri, "--problem", "no_such_problem"]) == 0
    assert "no runner runs" in capsys.readouterr().out

    assert main(["compare", made[0][:10], made[1], "--tracking-uri", uri]) == 0
    shown = capsys.readouterr().out
    assert "hparams.hidden_size" in shown and "16" in shown and "48" in shown
    assert "train.steps" not in shown.split("metrics")[0]  # equal params are not listed as differing
    assert "test_accuracy" in shown and "0.08" in shown and "0.24" in shown
    assert "final_metrics.json" in [a.path for a in runs.client(uri).list_artifacts(made[0])]

    assert main(["compare", "ffffffffff", "--tracking-uri", uri]) == 2
    assert "no runner run with id or prefix 'ffffffffff'" in capsys.readouterr().err
