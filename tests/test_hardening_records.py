"""Issue 12, class 1: no code runs that the user did not name.

A leaderboard record's command may set only thread counts and carry only spec options; `check`
refuses anything else, and `reproduce` never starts a process for such a record (a
`sitecustomize.py` trap on the record's PYTHONPATH would leave a marker if it did). Plugins named
in a record's embedded spec or a run folder's experiment.yaml are not imported before the spec's
hash is verified.
"""

from pathlib import Path

import pytest
import yaml

from runner.cli import main
from runner.leaderboard.commands import parse
from runner.leaderboard.reproduction import run_command
from runner.specs.errors import SpecError
from runner.specs.experiment import Experiment
from test_leaderboard_pages import add, board, make_record  # noqa: F401 - `board` is a fixture

TRAP = "import pathlib\npathlib.Path({marker!r}).write_text('code ran')\n"


def _trap(tmp_path: Path, module: str) -> Path:
    """A folder holding `module`.py that writes a marker file when imported; returns the marker path."""
    folder = tmp_path / "evil"
    folder.mkdir(exist_ok=True)
    marker = tmp_path / f"{module}.ran"
    (folder / f"{module}.py").write_text(TRAP.format(marker=str(marker)))
    return marker


def _set_command(path: Path, command: str) -> None:
    data = yaml.safe_load(path.read_text())
    data["command"] = command
    path.write_text(yaml.safe_dump(data, sort_keys=True, width=1 << 20))


@pytest.mark.parametrize("prefix", [
    "PYTHONPATH={evil}", "LD_PRELOAD={evil}/x.so", "OMP_NUM_THREADS=1 PYTHONSTARTUP={evil}/sitecustomize.py",
    "OMP_NUM_THREADS=$(touch {evil}/x)", "pythonpath={evil}",
])
def test_hostile_environment_prefix_fails_check_and_reproduce_starts_nothing(board, tmp_path, capsys, prefix):
    marker = _trap(tmp_path, "sitecustomize")
    record = make_record(board)
    path = add(board, record)
    command = prefix.format(evil=tmp_path / "evil") + " " + record.command
    _set_command(path, command)

    assert main(["leaderboard", "check", "--dir", str(board)]) == 2
    err = capsys.readouterr().err
    assert path.name in err and "command" in err and "Traceback" not in err
    assert "thread counts" in err or "expected `runner run" in err, err

    assert main(["leaderboard", "reproduce", "--dir", str(board)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not marker.exists(), "reproduce ran the record's code"
    with pytest.raises(SpecError):
        run_command(command, tmp_path / "out", board, None)
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    ("--address 10.0.0.1:6379", "remove --address"),
    ("--data-dir /tmp/elsewhere", "remove --data-dir"),
    ("--record cpu", "remove --record"),
])
def test_record_command_carries_only_spec_options(extra, message):
    with pytest.raises(SpecError, match=message):
        parse(f"OMP_NUM_THREADS=1 runner run catalog/recipes/reverse_cpu.yaml {extra}")


def test_thread_counts_are_allowed():
    run = parse("OMP_NUM_THREADS=1 MKL_NUM_THREADS=2 runner run catalog/recipes/reverse_cpu.yaml -o train.steps=3")
    assert run.env == (("OMP_NUM_THREADS", "1"), ("MKL_NUM_THREADS", "2"))
    with pytest.raises(SpecError, match="thread counts"):
        parse("OMP_NUM_THREADS=all runner run catalog/recipes/reverse_cpu.yaml")


def test_recipe_outside_the_repository_is_refused(board, tmp_path, capsys):
    record = make_record(board)
    path = add(board, record)
    outside = tmp_path.parent / "elsewhere.yaml"
    _set_command(path, f"runner run {outside} --output-dir runs/x")
    with pytest.raises(SpecError, match="outside the repository"):
        run_command(f"runner run {outside}", tmp_path / "out", board, None)
    assert main(["leaderboard", "check", "--dir", str(board)]) != 0


def test_plugins_of_an_edited_embedded_spec_are_not_imported(board, tmp_path, monkeypatch, capsys):
    marker = _trap(tmp_path, "evil_plugin_issue12")
    monkeypatch.syspath_prepend(str(tmp_path / "evil"))
    record = make_record(board)
    path = add(board, record)
    data = yaml.safe_load(path.read_text())
    data["experiment"]["plugins"] = ["evil_plugin_issue12"]
    path.write_text(yaml.safe_dump(data, sort_keys=True, width=1 << 20))

    assert main(["leaderboard", "check", "--dir", str(board)]) == 2
    assert "edited by hand" in capsys.readouterr().err
    assert not marker.exists(), "a plugin named by an unverified spec was imported"

    # A run folder's experiment.yaml: the same rule through Experiment.from_dict.
    with pytest.raises(ValueError, match="spec_hash does not match"):
        Experiment.from_dict(data["experiment"])
    assert not marker.exists()


def test_plugins_of_an_edited_run_folder_are_not_imported(tmp_path, monkeypatch, capsys):
    from runner.specs.resolve import resolve

    marker = _trap(tmp_path, "evil_runfolder_issue12")
    monkeypatch.syspath_prepend(str(tmp_path / "evil"))
    recipe = Path(__file__).resolve().parents[1] / "catalog" / "recipes" / "reverse_ci.yaml"
    data = resolve(str(recipe)).to_dict()
    data["plugins"] = ["evil_runfolder_issue12"]  # spec_hash left as it was: the file was edited
    run = tmp_path / "run"
    run.mkdir()
    (run / "experiment.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    for args in (["show", str(run)], ["validate", str(run / "experiment.yaml")],
                 ["run", str(run), "--in-process"], ["decode", str(run), "--from-file", str(run / "experiment.yaml"),
                                                     "--to-file", str(tmp_path / "out.txt")]):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("edited by hand" in err or "not imported" in err), err
        assert not marker.exists(), f"{args}: a plugin named by an unverified run folder was imported"
