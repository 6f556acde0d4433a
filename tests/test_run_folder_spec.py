"""A run folder is reproducible on its own: its experiment.yaml is a valid input to show/validate/run."""

from pathlib import Path

import pytest
import yaml

from runner.cli import main
from runner.specs.resolve import resolve

ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(ROOT / "catalog" / "recipes" / "reverse_ci.yaml")


def _write_experiment(folder: Path, overrides=()) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = resolve(RECIPE, list(overrides)).to_dict()
    (folder / "experiment.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder / "experiment.yaml"


def test_experiment_yaml_resolves_to_the_same_spec(tmp_path, capsys):
    path = _write_experiment(tmp_path / "run", ["hparams.hidden_size=48"])
    original = resolve(RECIPE, ["hparams.hidden_size=48"])
    again = resolve(str(path))
    assert again == original and again.spec_hash == original.spec_hash
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["show", str(tmp_path / "run")]) == 0  # the folder stands for its experiment.yaml
    assert yaml.safe_load(capsys.readouterr().out)["spec_hash"] == original.spec_hash


def test_overrides_on_an_experiment_file_make_a_new_spec(tmp_path):
    path = _write_experiment(tmp_path / "run")
    changed = resolve(str(path), ["train.steps=7", "hparams.hidden_size=48"])
    assert changed.train.steps == 7 and changed.hparams.hidden_size == 48
    assert changed.spec_hash == resolve(RECIPE, ["train.steps=7", "hparams.hidden_size=48"]).spec_hash


def test_hand_edited_experiment_and_bad_values_are_named(tmp_path, capsys):
    path = _write_experiment(tmp_path / "run")
    text = path.read_text()
    path.write_text(text.replace("  steps: 40\n", "  steps: 41\n"))
    assert main(["validate", str(path)]) == 2
    assert "was it edited by hand?" in capsys.readouterr().err
    path.write_text(text)
    assert main(["show", str(path), "-o", "hparams.hidden_size=-1"]) == 2
    assert "-o hparams.hidden_size=-1: hparams.hidden_size:" in capsys.readouterr().err
    assert main(["show", str(path), "-o", "problem=other"]) == 2
    assert "holds its problem resolved" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--dry-run"]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_run_a_run_folder_resumes_in_it_to_identical_metrics(tmp_path, monkeypatch, capsys):
    """`runner run RUN_DIR/experiment.yaml` continues an interrupted run in that folder and ends
    with the metrics of the uninterrupted run; `runner run RUN_DIR` then finds it finished."""
    import json
    import shutil

    from runner.run_dir import checkpoint_roots

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    args = ["-o", "train.steps=6", "-o", "train.eval_every=3", "-o", "decode.max_examples=4"]
    assert main(["run", RECIPE, *args, "--in-process", "--output-dir", "whole"]) == 0
    assert "note: reverse_ci is a smoke test" in capsys.readouterr().err  # a *_ci recipe says so at the end
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    # "cut" as if the process had died after the step-3 checkpoint: no step-6 checkpoint, no final files.
    for root in checkpoint_roots(str(tmp_path / "cut")):
        shutil.rmtree(Path(root) / "step_00000006", ignore_errors=True)
    for name in ("final_metrics.json", "final_metrics_signatures.json", "decoded_test.txt"):
        (tmp_path / "cut" / name).unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["run", "cut/experiment.yaml", "--in-process"]) == 0
    assert "-> cut" in capsys.readouterr().err and not (tmp_path / "runs").exists()  # in place, not a new folder
    commands = (tmp_path / "cut" / "command.txt").read_text().splitlines()
    started = f"cd {tmp_path} && runner run {RECIPE} -o train.steps=6 -o train.eval_every=3 -o decode.max_examples=4 " \
              "--in-process --output-dir whole"
    assert commands[3] == started and "overrides: train.steps=6 train.eval_every=3 decode.max_examples=4" in commands[2]
    assert commands[5] == f"cd {tmp_path} && runner run cut/experiment.yaml --in-process" and len(commands) == 6
    whole, cut = (json.loads((tmp_path / d / "final_metrics.json").read_text()) for d in ("whole", "cut"))
    timing = {"train_seconds", "tokens_per_sec", "peak_memory_mb"}
    assert {k: v for k, v in cut.items() if k not in timing} == {k: v for k, v in whole.items() if k not in timing}
    assert (tmp_path / "cut" / "decoded_test.txt").read_text() == (tmp_path / "whole" / "decoded_test.txt").read_text()
    assert main(["run", "cut", "--in-process", "-o", "train.steps=6", "--dry-run"]) == 2  # in-process has no plan


def test_a_run_that_fails_before_training_leaves_no_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # the hub fallback fails at once
    recipe = str(ROOT / "catalog" / "recipes" / "multi30k_deen_ci.yaml")
    assert main(["run", recipe, "--in-process", "-o", "problem.source.path=nope", "--output-dir", "out"]) == 2
    assert "local data folder 'nope' not found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # neither the claim nor command.txt stays behind
