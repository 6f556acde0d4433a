"""A record of several seeds' runs: mean ± standard deviation, a tolerance from the spread, and each
seed reproduced against its own value. Three real (tiny) runs made by their own commands."""

import subprocess
import sys

import pytest

from runner.cli import main
from runner.leaderboard import build, reproduction
from runner.leaderboard.record import TOLERANCE_SDS, load_record, spread, write_record
from runner.leaderboard.seeds import record_from_seeds
from runner.specs.errors import SpecError

from test_leaderboard_reproduce import PROBLEM, RECIPE, _env

pytestmark = pytest.mark.slow

SEEDS = (3, 4, 5)
BASE = "OMP_NUM_THREADS=1 runner run catalog/recipes/lb_reverse_micro.yaml -o train.steps=5 --in-process"


def _command(seed: int, extra: str = "") -> str:
    return f"{BASE} -o train.seed={seed}{extra} --output-dir runs/s{seed}{extra.replace(' ', '').replace('=', '')}"


def _run(root, command, data_dir):
    _, _, *args = command.split()
    done = subprocess.run([sys.executable, "-m", "runner", *args], cwd=root, capture_output=True, text=True,
                          env={**_env(data_dir), "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / command.split("--output-dir ")[1]


@pytest.fixture(scope="module")
def seed_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "catalog" / "problems").mkdir(parents=True)
    (root / "catalog" / "recipes").mkdir()
    (root / "catalog" / "problems" / "lb_reverse_micro.yaml").write_text(PROBLEM)
    (root / "catalog" / "recipes" / "lb_reverse_micro.yaml").write_text(RECIPE)
    data_dir = root / "data"
    commands = [_command(seed) for seed in SEEDS]
    dirs = [_run(root, command, data_dir) for command in commands]
    return root, data_dir, dirs, commands


def test_a_record_of_three_seeds_holds_their_mean_spread_and_each_run(seed_runs, capsys, monkeypatch):
    root, data_dir, dirs, commands = seed_runs
    board = root / "board"
    # Given out of order: the record lists seeds in order, the lowest first.
    path = record_from_seeds([dirs[2], dirs[0], dirs[1]], "cpu", [commands[2], commands[0], commands[1]],
                             metric="neg_log_perplexity", data_dir=str(data_dir), leaderboard_dir=board)
    record = load_record(path)
    assert [s.seed for s in record.seeds] == list(SEEDS)
    assert record.command == commands[0] and record.experiment["train"]["seed"] == 3
    values = [s.value for s in record.seeds]
    assert len(set(values)) == 3  # seeds give other models
    mean, sd, tolerance = spread(values)
    assert record.value == mean and record.sd == sd and record.tolerance == TOLERANCE_SDS * sd > 0
    page = (board / "README.md").read_text()
    assert " ± " in page and "(3 seeds)" in page
    assert build.check(board) == []

    runs = []
    real_subprocess_run = reproduction.subprocess.run
    monkeypatch.setattr(reproduction.subprocess, "run",
                        lambda argv, **kw: runs.append(argv) or real_subprocess_run(argv, **kw))
    status = main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "cpu", "--data-dir", str(data_dir)])
    output = capsys.readouterr()
    assert status == 0, output.err
    assert len(runs) == 3 and [f"train.seed={s}" in " ".join(argv) for argv, s in zip(runs, SEEDS)] == [True] * 3
    for seed in SEEDS:
        assert f"ok: {path.name}#seed={seed}" in output.err
    # One seed alone, named as reproduce prints it (the file's stem is enough).
    runs.clear()
    status = main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "cpu", "--data-dir", str(data_dir),
                   "--record", f"{path.stem}#seed={SEEDS[1]}"])
    assert status == 0 and len(runs) == 1 and f"train.seed={SEEDS[1]}" in " ".join(runs[0])
    assert f"ok: {path.name}#seed={SEEDS[1]}" in capsys.readouterr().err
    status = main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "cpu", "--record", f"{path.name}#seed=99"])
    assert status == 2 and f"no such run: {path.name}#seed=99; the runs are: {path.name}#seed=3" in \
        capsys.readouterr().err

    # Recorded values 3 standard deviations off (the spread unchanged): every seed's reproduction fails.
    shifted = [s.model_copy(update={"value": s.value + 3 * sd}) for s in record.seeds]
    mean, _, tolerance = spread([s.value for s in shifted])
    write_record(record.model_copy(update={"seeds": shifted, "value": mean, "tolerance": tolerance}), board / "records")
    status = main(["leaderboard", "reproduce", "--dir", str(board), "--tier", "cpu", "--data-dir", str(data_dir),
                   "--record", path.name])
    assert status == 1 and "3 of 3 reproductions did not match" in capsys.readouterr().err


def test_a_hand_edited_mean_or_tolerance_is_refused_on_load(seed_runs, tmp_path):
    root, data_dir, dirs, commands = seed_runs
    path = record_from_seeds(dirs, "cpu", commands, metric="neg_log_perplexity", data_dir=str(data_dir),
                             leaderboard_dir=root / "board-edit", rebuild=False)
    record = load_record(path)
    write_record(record.model_copy(update={"value": record.value + 0.01, "tolerance": 1.0}), path.parent)
    with pytest.raises(SpecError) as err:
        load_record(path)
    assert "is not the mean of the seeds' values" in str(err.value)
    assert "a multi-seed record's tolerance comes from its spread" in str(err.value)
    other = record.seeds[1].model_copy(update={"spec_hash": record.spec_hash})
    write_record(record.model_copy(update={"seeds": [record.seeds[0], other, record.seeds[2]]}), path.parent)
    with pytest.raises(SpecError, match="may differ in train.seed and problem.test_speakers only"):
        load_record(path)


def test_runs_of_other_specs_too_few_seeds_or_a_repeated_seed_are_refused(seed_runs, capsys):
    root, data_dir, dirs, commands = seed_runs
    other = _command(6, " -o hparams.relu_dropout=0.2")
    other_dir = _run(root, other, data_dir)

    def refused(*args, tier="cpu"):
        status = main(["leaderboard", "add", *map(str, args), "--tier", tier, "--dir", str(root / "board-refuse"),
                       "--data-dir", str(data_dir)])
        assert status == 2
        return capsys.readouterr().err

    assert "but for train.seed: hparams.relu_dropout: 0.1 vs 0.2" in refused(
        dirs[0], dirs[1], other_dir, "--command", commands[0], "--command", commands[1], "--command", other)
    assert "needs at least 3" in refused(dirs[0], dirs[1])
    assert "seed 3 again" in refused(dirs[0], dirs[1], dirs[0], "--command", commands[0], "--command", commands[1],
                                     "--command", commands[0])
    assert "tolerance from their spread" in refused(*dirs, "--tolerance", "0.5")
    assert "cpu-ci records hold one run" in refused(*dirs, tier="cpu-ci")
    assert not (root / "board-refuse" / "records").exists()  # nothing half-written


def test_a_seed_trained_at_another_commit_says_so(seed_runs, tmp_path):
    import json
    import shutil

    root, data_dir, dirs, commands = seed_runs
    moved = tmp_path / "s4"
    shutil.copytree(dirs[1], moved)
    provenance = json.loads((moved / "provenance.json").read_text())
    assert len(provenance) == 1 and provenance[0]["code_commit"]  # each start wrote what code it ran
    provenance[0]["code_commit"] = "c" * 40
    (moved / "provenance.json").write_text(json.dumps(provenance))
    path = record_from_seeds([dirs[0], moved, dirs[2]], "cpu", commands, metric="neg_log_perplexity",
                             data_dir=str(data_dir), leaderboard_dir=root / "board-commits")
    record = load_record(path)
    first = json.loads((dirs[0] / "provenance.json").read_text())[0]
    assert (record.code_commit, record.code_dirty) == (first["code_commit"], first["code_dirty"])
    assert [s.code_commit for s in record.seeds] == [None, "c" * 40, None]  # only the one that differs
    assert f"seed=4 at {'c' * 12}" in (root / "board-commits" / "README.md").read_text()


def test_adding_the_same_spec_again_says_it_replaced_the_record(seed_runs, capsys):
    root, data_dir, dirs, commands = seed_runs
    argv = ["leaderboard", "add", *map(str, dirs), "--tier", "cpu", "--dir", str(root / "board-again"),
            "--data-dir", str(data_dir), "--metric", "neg_log_perplexity", "--no-build"]
    for command in commands:
        argv += ["--command", command]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "recorded" in first and "replaced" not in first
    value = load_record(first.split("recorded ")[1].split()[0].rstrip(";")).value
    assert main(argv) == 0
    assert f"it replaced the record of the same spec, metric and tier, whose value was {value}" in \
        capsys.readouterr().out
