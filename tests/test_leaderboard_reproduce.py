"""A record of a real (tiny) run, and `reproduce` re-running its command and matching it bit for bit.

One module-scoped run made by its own `runner run ... --in-process` command in a subprocess
(the way a user makes it, and isolated from torch settings other tests may change), then:
record it, reproduce it (a second subprocess run), and judge tampered records against it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli import main
from runner.leaderboard import build, capture, reproduction
from runner.leaderboard.record import load_record, write_record
from runner.leaderboard.tables import Entry
from runner.run_dir import load_experiment
from runner.specs.errors import SpecError

pytestmark = pytest.mark.slow

PROBLEM = """\
family: algorithmic
generator: reverse
num_symbols: 2
train_length: 5
eval_length: 5
train_size: 48
eval_size: 8
test_size: 12
metrics: [accuracy_per_sequence, accuracy, neg_log_perplexity]
"""

RECIPE = """\
problem: lb_reverse_micro
model: transformer
hparams: transformer_tiny
overrides:
  hparams.hidden_size: 32
  hparams.filter_size: 64
  hparams.num_heads: 2
  hparams.num_encoder_layers: 1
  hparams.num_decoder_layers: 1
  hparams.learning_rate_warmup_steps: 4
  hparams.batch_size: 256
train: {steps: 6, eval_steps: 1, eval_every: 6, seed: 3}
decode: {beam_size: 1}
"""

# One CPU thread: the bit-exact result then does not depend on the machine's core count.
COMMAND = ("OMP_NUM_THREADS=1 runner run catalog/recipes/lb_reverse_micro.yaml -o train.steps=5 --in-process "
           "--output-dir runs/micro")


def _env(data_dir: Path) -> dict:
    return {**os.environ, "RUNNER_DATA_DIR": str(data_dir), "MLFLOW_TRACKING_URI": f"sqlite:///{data_dir}/mlflow.db"}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """(leaderboard dir, run dir, data dir) after one real run of COMMAND from the repository root."""
    root = tmp_path_factory.mktemp("repo")
    (root / "catalog" / "problems").mkdir(parents=True)
    (root / "catalog" / "recipes").mkdir()
    (root / "catalog" / "problems" / "lb_reverse_micro.yaml").write_text(PROBLEM)
    (root / "catalog" / "recipes" / "lb_reverse_micro.yaml").write_text(RECIPE)
    data_dir = root / "data"
    assignment, _, *args = COMMAND.split()
    env = {**_env(data_dir), "OMP_NUM_THREADS": assignment.partition("=")[2]}
    done = subprocess.run([sys.executable, "-m", "runner", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "leaderboard", root / "runs" / "micro", data_dir


@pytest.fixture(scope="module")
def recorded(real_run):
    """The run recorded twice: its headline metric, and a float that depends on every weight's bits."""
    board, run_dir, data_dir = real_run
    path = capture.record_from_run(run_dir, "cpu-ci", COMMAND, data_dir=str(data_dir), leaderboard_dir=board)
    capture.record_from_run(run_dir, "cpu-ci", COMMAND, metric="neg_log_perplexity", data_dir=str(data_dir),
                            leaderboard_dir=board)
    return board, run_dir, data_dir, path


def test_record_from_a_real_run_holds_what_the_run_reported(recorded):
    board, run_dir, data_dir, path = recorded
    record = load_record(path)
    final = json.loads((run_dir / "final_metrics.json").read_text())
    assert record.metric == "accuracy_per_sequence"  # the headline, though the problem lists three
    assert record.value == final["accuracy_per_sequence"]
    assert record.steps == 5 and record.wall_time_seconds == final["train_seconds"]
    assert record.tier == "cpu-ci" and record.tolerance == 0
    assert "(decode: greedy; whole test split (12 examples))" in record.signature
    # --in-process runs are tracked too: the record names the run's MLflow run (a local database: no page)
    assert record.command == COMMAND and record.mlflow_run_id == json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    assert record.mlflow_url is None
    assert record.packages["torch"] and record.packages["python"] and record.hardware.cores >= 1
    assert (board / "README.md").is_file() and build.check(board) == []


def test_reproduce_reruns_the_command_and_matches_bit_for_bit(recorded, capsys, monkeypatch):
    board, _, data_dir, path = recorded
    runs = []
    real_run = reproduction.subprocess.run
    monkeypatch.setattr(reproduction.subprocess, "run",
                        lambda argv, **kw: runs.append((argv, kw["env"])) or real_run(argv, **kw))
    status = main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "cpu-ci", "--data-dir", str(data_dir)])
    output = capsys.readouterr()
    assert status == 0, output.err
    nlp = path.name.replace("accuracy_per_sequence", "neg_log_perplexity")
    assert path.name in output.out and nlp in output.out and "ok" in output.out
    assert f"ok: {path.name}" in output.err and f"ok: {nlp}" in output.err and "bit-exact" in output.err
    assert len(runs) == 1  # both records are judged against one re-run
    argv, env = runs[0]
    assert argv[-2] == "--output-dir" and "runs/micro" not in argv and env["OMP_NUM_THREADS"] == "1"


def test_reproduce_fails_when_the_rerun_differs(recorded, tmp_path, capsys):
    board, _, data_dir, path = recorded
    copy = tmp_path / "repo" / "leaderboard"
    shutil.copytree(board.parent / "catalog", copy.parent / "catalog")
    record = load_record(board / "records" / path.name.replace("accuracy_per_sequence", "neg_log_perplexity"))
    write_record(record.model_copy(update={"value": record.value * (1 + 1e-12)}), copy / "records")
    status = main(["leaderboard", "reproduce", "--dir", str(copy), "--data-dir", str(data_dir)])
    output = capsys.readouterr()
    assert status == 1 and "expected a bit-exact match" in output.out and "1 of 1 reproductions" in output.err


def test_a_record_whose_value_differs_from_the_run_is_a_mismatch(recorded):
    board, run_dir, data_dir, path = recorded
    record = load_record(path)
    tampered = Entry(path.name, record.model_copy(update={"value": record.value + 1e-9}))
    result = reproduction.compare(tampered, run_dir, str(data_dir), seconds=0.0)
    assert not result.ok and result.reproduced == record.value and "bit-exact" in result.note
    honest = reproduction.compare(Entry(path.name, record), run_dir, str(data_dir), seconds=0.0)
    assert honest.ok


def test_other_data_or_another_spec_is_a_mismatch(recorded):
    board, run_dir, data_dir, path = recorded
    record = load_record(path)
    other_data = Entry(path.name, record.model_copy(update={"data_fingerprint": "cd" * 32}))
    assert "different data" in reproduction.compare(other_data, run_dir, str(data_dir), 0.0).note
    other_spec = Entry(path.name, record.model_copy(update={"spec_hash": "ef" * 32}))
    assert "not the record's" in reproduction.compare(other_spec, run_dir, str(data_dir), 0.0).note


def test_reproduce_reports_a_failing_command(recorded, tmp_path, capsys):
    board, _, data_dir, path = recorded
    copy = tmp_path / "leaderboard"
    write_record(load_record(path), copy / "records")
    broken = copy.parent / "catalog" / "recipes"  # the copy's repo root has no catalog: the command cannot run
    assert not broken.exists()
    results = reproduction.reproduce(copy, "cpu-ci", data_dir=str(data_dir))
    assert len(results) == 1 and not results[0].ok and "exited with status 2" in results[0].note


def test_reproduce_with_nothing_to_run_fails(recorded, capsys):
    board = recorded[0]
    assert main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "gpu"]) == 1
    assert "no gpu records to reproduce" in capsys.readouterr().err


def test_a_command_that_trains_something_else_is_refused(real_run):
    board, run_dir, data_dir = real_run
    with pytest.raises(SpecError, match="resolves to spec_hash .* not the run's"):
        capture.make_record(run_dir, "cpu-ci", COMMAND.replace("steps=5", "steps=6"), metric=None, tolerance=None,
                            mlflow_run_id=None, data_dir=str(data_dir), root=board.parent)


def test_the_command_is_derived_from_the_recipe_when_not_given(real_run):
    board, run_dir, data_dir = real_run
    record = capture.make_record(run_dir, "cpu", None, metric="neg_log_perplexity", tolerance=None,
                                 mlflow_run_id=None, data_dir=str(data_dir), root=board.parent)
    assert record.command == ("runner run catalog/recipes/lb_reverse_micro.yaml -o train.steps=5 "
                              f"--output-dir runs/lb_reverse_micro-{record.spec_hash[:12]}")
    assert record.tolerance == 0.05 and record.signature.startswith("minus the mean NLL")


def test_unusable_run_folders_are_clear_errors(real_run, tmp_path):
    board, run_dir, data_dir = real_run
    kwargs = dict(metric=None, tolerance=None, mlflow_run_id=None, data_dir=str(data_dir), root=board.parent)
    with pytest.raises(SpecError, match="no experiment.yaml here"):
        capture.make_record(tmp_path, "cpu-ci", COMMAND, **kwargs)
    with pytest.raises(SpecError, match="unknown tier 'laptop'"):
        capture.make_record(run_dir, "laptop", COMMAND, **kwargs)
    with pytest.raises(SpecError, match="the run reported no 'bleu'"):
        capture.make_record(run_dir, "cpu-ci", COMMAND, **{**kwargs, "metric": "bleu"})
    with pytest.raises(SpecError, match="cpu-ci records are reproduced bit-exactly"):
        capture.make_record(run_dir, "cpu-ci", COMMAND, **{**kwargs, "tolerance": 0.1})
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "experiment.yaml").write_text((run_dir / "experiment.yaml").read_text())
    with pytest.raises(SpecError, match="no final_metrics.json here: the run has not finished"):
        capture.make_record(unfinished, "cpu-ci", COMMAND, **kwargs)


def test_a_bleu_without_its_signature_is_refused(real_run):
    _, run_dir, _ = real_run
    experiment = load_experiment(str(run_dir))
    with pytest.raises(SpecError, match="wrote no signature"):
        capture.signature_of("bleu", {}, experiment, run_dir)
    signed = capture.signature_of("bleu", {"bleu": "nrefs:1|case:mixed|tok:13a"}, experiment, run_dir)
    assert signed == "nrefs:1|case:mixed|tok:13a (decode: greedy; whole test split)"
    partial = experiment.with_changes(decode=experiment.decode.model_copy(update={"max_examples": 5}))
    assert capture.signature_of("bleu", {"bleu": "sig"}, partial, run_dir, 12) == \
        "sig (decode: greedy; first 5 of 12 test examples)"
    assert capture.signature_of("bleu", {"bleu": "sig"}, partial, run_dir, 4) == \
        "sig (decode: greedy; whole test split (4 examples))"


def test_the_mlflow_run_id_is_read_from_the_run_folder(real_run, tmp_path):
    board, run_dir, data_dir = real_run
    tracked = tmp_path / "tracked"
    shutil.copytree(run_dir, tracked)
    (tracked / "mlflow_run.json").write_text(json.dumps({"run_id": "0123abcd", "uri": "sqlite:///x.db"}))
    record = capture.make_record(tracked, "cpu-ci", COMMAND, metric=None, tolerance=None, mlflow_run_id=None,
                                 data_dir=str(data_dir), root=board.parent)
    assert record.mlflow_run_id == "0123abcd" and record.mlflow_url is None
    (tracked / "mlflow_run.json").write_text(json.dumps({"run_id": "0123abcd", "uri": "http://mlflow.lab:5000",
                                                         "experiment_id": "4"}))
    record = capture.make_record(tracked, "cpu-ci", COMMAND, metric=None, tolerance=None, mlflow_run_id=None,
                                 data_dir=str(data_dir), root=board.parent)
    assert record.mlflow_url == "http://mlflow.lab:5000/#/experiments/4/runs/0123abcd?workflowType=machine_learning"


# A time budget of 0.6 s: how many steps fit depends on the machine and its load.
BUDGET_COMMAND = ("OMP_NUM_THREADS=1 runner run catalog/recipes/lb_reverse_micro.yaml -o train.steps=100000 "
                  "-o train.time_budget_minutes=0.01 -o train.eval_every=100000 --in-process --output-dir runs/budget")


def test_a_time_budgeted_record_is_reproduced_by_replaying_its_steps(real_run, tmp_path, capsys, monkeypatch):
    board, _, data_dir = real_run
    root = board.parent
    assignment, _, *args = BUDGET_COMMAND.split()
    done = subprocess.run([sys.executable, "-m", "runner", *args], cwd=root, capture_output=True, text=True,
                          env={**_env(data_dir), "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    budget_board = root / "budget-board"
    path = capture.record_from_run(root / "runs" / "budget", "cpu", BUDGET_COMMAND, metric="neg_log_perplexity",
                                   tolerance=0.0, data_dir=str(data_dir), leaderboard_dir=budget_board)
    record = load_record(path)
    assert 0 < record.steps < 100000  # stopped by the budget
    assert reproduction.replay_steps(record) == record.steps

    runs = []
    real_subprocess_run = reproduction.subprocess.run
    monkeypatch.setattr(reproduction.subprocess, "run",
                        lambda argv, **kw: runs.append(argv) or real_subprocess_run(argv, **kw))
    status = main(["leaderboard", "reproduce", "--dir", str(budget_board), "--tier", "cpu",
                   "--data-dir", str(data_dir)])
    output = capsys.readouterr()
    assert status == 0, output.err
    assert runs[0][-2:] == ["--replay-steps", str(record.steps)]
    assert f"bit-exact (replayed {record.steps} steps, time budget off)" in output.err
