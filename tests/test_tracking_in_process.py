"""`runner run --in-process` is tracked like a Ray run: an MLflow run in the model-training view,
eval_* history and test values under plain names, plots in the run folder and as artifacts,
and where to look printed at the end."""

from __future__ import annotations

import json

from runner.cli import main
from runner.tracking.links import where_to_look
from tests.conftest import TINY_OVERRIDES


def test_in_process_run_is_tracked_with_plots_and_links(tmp_path, capsys, monkeypatch):
    from runner.tracking import runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    out = tmp_path / "run"
    argv = ["run", "catalog/recipes/reverse_transformer_cpu.yaml", "--in-process", "--output-dir", str(out),
            "--data-dir", str(tmp_path / "data")]
    for override in TINY_OVERRIDES + ["train.steps=4", "train.eval_every=2"]:
        argv += ["-o", override]
    assert main(argv) == 0
    printed = capsys.readouterr()
    final = json.loads(printed.out[printed.out.index("{\n"):])  # after the in-process progress lines
    headline = next(iter(final))
    assert headline == "accuracy_per_sequence" and f"{headline} on the test split:" in printed.err
    assert f"mlflow ui --backend-store-uri {uri}" in printed.err and "?workflowType=machine_learning" in printed.err

    remembered = runs.read_run_file(str(out))
    client = runs.client(uri)
    run = client.get_run(remembered["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "eval_accuracy")] == [2, 4]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "accuracy")] == [4]  # the test value
    assert run.data.metrics["accuracy"] == final["accuracy"] and run.data.metrics["eval_accuracy"] == final["eval_accuracy"]
    assert {"loss.png", "eval_metrics.png"} <= {p.name for p in (out / "plots").iterdir()}
    assert {"plots/loss.png", "plots/eval_metrics.png"} <= {a.path for a in client.list_artifacts(run.info.run_id, "plots")}


def test_a_server_run_prints_its_page():
    lines = where_to_look("http://mlflow.example:5000/", "7", "abc123")
    assert lines == ["MLflow run page: http://mlflow.example:5000/#/experiments/7/runs/abc123"
                     "?workflowType=machine_learning"]  # MLflow 3 opens it in the model-training view
