"""The run folder has one owner (runner/run_dir.py), and nothing finished in it is lost:
a finished run re-run by the same command is not trained, evaluated or rewritten (in-process and
on Ray alike), a run that failed before training leaves no claim on its folder, and a killed
datagen leaves no temporary folder behind for good."""

import fcntl
import json
import os

import pytest

from runner import api
from runner.cli import main
from runner.problems import cache
from runner.run_dir import FinalResults, RunDir, run_name
from runner.specs.errors import SpecError
from runner.specs.resolve import resolve

from conftest import TINY_OVERRIDES, TINY_RECIPE

QUICK = ["train.steps=4", "train.eval_every=2"]


def _experiment(*overrides):
    return resolve(TINY_RECIPE, TINY_OVERRIDES + QUICK + list(overrides))


def _cli_run(out, data_dir, *extra):
    argv = ["run", TINY_RECIPE, "--output-dir", str(out), "--data-dir", str(data_dir), *extra]
    for override in TINY_OVERRIDES + QUICK:
        argv += ["-o", override]
    return main(argv)


def _printed_metrics(stdout):
    """The final metrics' JSON that `runner run` prints last on stdout (after any progress lines)."""
    return json.loads(stdout[stdout.index("{\n"):])


def _snapshot(folder):
    """Every file's bytes in a run folder (checkpoints included)."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


# -- the folder's own rules -------------------------------------------------------------------------------
def test_the_run_name_and_default_folder_come_from_one_place():
    experiment = _experiment()
    assert run_name(experiment) == f"{experiment.recipe}-{experiment.spec_hash[:12]}"
    from runner.launch.plan import make_plan
    from runner.run_dir import default_output_dir

    assert default_output_dir(experiment) == os.path.join("runs", run_name(experiment))
    assert make_plan(experiment, "x", "d", None, "sqlite:///m.db").run_name == run_name(experiment)


def test_results_are_written_once_final_metrics_last_and_never_overwritten(tmp_path):
    run = RunDir(tmp_path / "run")
    run.write_results(FinalResults({"bleu": 27.5, "loss": float("nan")}, {"bleu": "nrefs:1"}, ["a b", "c\nd"]))
    assert run.final_metrics() == {"bleu": 27.5, "loss": None}
    assert run.signatures() == {"bleu": "nrefs:1"}
    assert run.file(RunDir.DECODED).read_text() == "a b\nc d\n"
    before = run.file(RunDir.FINAL_METRICS).read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        run.write_results(FinalResults({"bleu": 1.0}))
    assert run.file(RunDir.FINAL_METRICS).read_bytes() == before
    assert sorted(os.listdir(run.path)) == sorted([RunDir.FINAL_METRICS, RunDir.SIGNATURES, RunDir.DECODED])


def test_a_folder_whose_run_never_started_is_claimed_by_the_corrected_spec(tmp_path):
    folder = RunDir(tmp_path / "run")
    folder.claim(_experiment())  # as a run killed before its first row leaves it
    corrected = _experiment("train.seed=7")
    folder.claim(corrected)
    assert folder.load_experiment().spec_hash == corrected.spec_hash

    folder.append_row({"step": 1, "train_loss": 2.0})  # now it has trained: another spec is refused
    with pytest.raises(SpecError, match="another spec"):
        folder.claim(_experiment())


def test_the_data_fingerprint_is_stored_in_the_folder_and_read_by_the_leaderboard(tmp_path, monkeypatch):
    from runner.leaderboard import capture

    experiment = _experiment()
    run = RunDir(tmp_path / "run")
    run.write_data_facts(experiment.problem.name, "f" * 64, 40)
    monkeypatch.setattr(api, "build_problem", lambda *a, **k: pytest.fail("the data was rebuilt"))
    assert capture.data_fingerprint(experiment, None, run.path) == "f" * 64


def test_a_record_names_the_code_that_trained_the_run_not_the_code_checked_out_when_it_is_made(tmp_path):
    from runner.leaderboard.capture import run_provenance

    run = RunDir(tmp_path / "run")
    packages = {"python": "3.11.0", "torch": "2.4.0"}
    starts = [{"when": "t0", "code_commit": "a" * 40, "code_dirty": False, "packages": packages}]
    run.write_json(RunDir.PROVENANCE, starts)
    assert run_provenance(run.path, tmp_path) == ("a" * 40, False, packages)
    # Resumed at another commit: the result is not one commit's, so the record says dirty.
    run.write_json(RunDir.PROVENANCE, starts + [{**starts[0], "code_commit": "b" * 40}])
    assert run_provenance(run.path, tmp_path) == ("a" * 40, True, packages)
    (run.path / RunDir.PROVENANCE).write_text("[{")
    with pytest.raises(SpecError, match="provenance.json: unreadable"):
        run_provenance(run.path, tmp_path)


# -- issue 12, class 2: nothing finished is lost ----------------------------------------------------------------
def test_rerunning_a_finished_in_process_run_rewrites_nothing(tmp_path, capsys):
    out, data = tmp_path / "run", tmp_path / "data"
    assert _cli_run(out, data, "--in-process") == 0
    first = _printed_metrics(capsys.readouterr().out)
    before = _snapshot(out)
    assert {RunDir.FINAL_METRICS, RunDir.METRICS, RunDir.DATA, RunDir.EXPERIMENT} <= set(before)
    assert json.loads(before[RunDir.DATA])["test_examples"] == 40
    from runner.provenance import REPO_ROOT, code_commit

    (start,) = json.loads(before[RunDir.PROVENANCE])  # one start, this checkout's code
    assert start["code_commit"] == code_commit(REPO_ROOT)[0] and start["packages"]["torch"]

    assert _cli_run(out, data, "--in-process") == 0
    captured = capsys.readouterr()
    assert "already finished" in captured.err
    assert _printed_metrics(captured.out) == pytest.approx(first)
    assert _snapshot(out) == before  # final_metrics.json byte-identical; metrics.jsonl not appended to

    # A damaged result is one message before any training, not a whole re-run refused at its end.
    (out / RunDir.FINAL_METRICS).write_text('{"accuracy_per_sequence": 0.')
    damaged = _snapshot(out)
    assert _cli_run(out, data, "--in-process") == 2
    err = capsys.readouterr().err
    assert f"{RunDir.FINAL_METRICS}: this run finished, but its final metrics are not a JSON object" in err
    assert "Traceback" not in err
    assert _snapshot(out) == damaged


@pytest.mark.slow
def test_rerunning_a_finished_ray_run_rewrites_nothing(ray_local, runner_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    out = tmp_path / "run"
    assert _cli_run(out, runner_data_dir) == 0
    first = _printed_metrics(capsys.readouterr().out)
    final_bytes = (out / RunDir.FINAL_METRICS).read_bytes()
    rows = (out / RunDir.METRICS).read_bytes()
    assert RunDir(out).data_facts()["fingerprint"]

    assert _cli_run(out, runner_data_dir) == 0
    captured = capsys.readouterr()
    assert "already finished" in captured.err
    assert _printed_metrics(captured.out) == pytest.approx(first)
    assert (out / RunDir.FINAL_METRICS).read_bytes() == final_bytes
    assert (out / RunDir.METRICS).read_bytes() == rows


def test_a_run_that_fails_on_its_data_leaves_no_claim(tmp_path, capsys):
    out, data = tmp_path / "run", tmp_path / "data"
    bad = ["run", "multi30k_deen_ci", "--in-process", "--output-dir", str(out), "--data-dir", str(data),
           "-o", f"problem.source.path={tmp_path / 'missing'}", "-o", "problem.source.hub=null"]
    assert main(bad) == 2
    assert "not found" in capsys.readouterr().err
    assert not (out / RunDir.EXPERIMENT).exists()
    assert _cli_run(out, data, "--in-process") == 0  # the corrected command is not "another spec"


def test_a_run_whose_model_cannot_be_built_leaves_no_claim(tmp_path, monkeypatch):
    from runner.training import loop

    def cannot_build(experiment, info):
        raise RuntimeError("out of memory while building the model")

    out, data = str(tmp_path / "run"), str(tmp_path / "data")
    with monkeypatch.context() as patch:
        patch.setattr(loop, "build_model", cannot_build)
        with pytest.raises(RuntimeError, match="out of memory"):
            api.train(_experiment("hparams.hidden_size=64"), out, data, verbose=False)
    assert not os.path.exists(os.path.join(out, RunDir.EXPERIMENT))
    final = api.train(_experiment(), out, data, verbose=False)
    assert RunDir(out).final_metrics() == pytest.approx(final)


def test_a_killed_datagen_leaves_no_temporary_folder_for_good(tmp_path):
    experiment = _experiment()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    # What SIGKILL during datagen leaves: temporaries of this problem and of an older fingerprint.
    ours = data_dir / ".reverse-0123456789ab.tmp-x1"
    other = data_dir / ".reverse-ba9876543210.tmp-y2"
    for folder in (ours, other):
        (folder / "part").mkdir(parents=True)
    busy = data_dir / ".busy-aaaaaaaaaaaa.tmp-z3"  # a datagen that is still running elsewhere
    busy.mkdir()
    with open(data_dir / ".busy-aaaaaaaaaaaa.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        api.build_problem(experiment, str(data_dir))
    assert not ours.exists() and not other.exists()
    assert busy.exists()
    assert [p.name for p in data_dir.iterdir() if cache._TMP_MARK in p.name] == [busy.name]
