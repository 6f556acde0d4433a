"""Issue 12, classes 3-8 from the command line: odd files, odd values, broken run folders and caches,
unusable tracking URIs, vacuous commands. Each: exit 2 (or 1 for a failed run), one message, no
traceback, nothing written, and bounded time and memory (the subprocess cases run under an
address-space limit and a timeout that a regression would hit).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from runner.cli import main

ROOT = Path(__file__).resolve().parents[1]
RECIPE = str(ROOT / "catalog" / "recipes" / "reverse_ci.yaml")
TINY = """\
problem: p
model: transformer
hparams: transformer_tiny
train: {steps: 10, eval_every: 5}
"""
PROBLEM = "family: algorithmic\ngenerator: reverse\ntrain_size: 10\neval_size: 10\ntest_size: 10\n"


def limited(args: list[str], cwd: Path, memory_gib: float = 1.5, timeout: float = 60, env=None, argv_bytes=None):
    """`python -m runner ARGS` under an address-space limit and a timeout; (status, stderr, seconds)."""
    def limit():
        size = int(memory_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    started = time.perf_counter()
    command = argv_bytes or [sys.executable, "-m", "runner", *args]
    proc = subprocess.run(command, cwd=cwd, preexec_fn=limit, capture_output=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    return proc.returncode, proc.stderr.decode("utf-8", "backslashreplace"), time.perf_counter() - started


def _catalog(tmp_path: Path) -> Path:
    (tmp_path / "recipes").mkdir()
    (tmp_path / "problems").mkdir()
    (tmp_path / "hparams").mkdir()
    (tmp_path / "problems" / "p.yaml").write_text(PROBLEM)
    (tmp_path / "recipes" / "r.yaml").write_text(TINY)
    return tmp_path


def _fails(args: list[str], capsys, *expected: str, status: int = 2) -> str:
    code = main(args)
    err = capsys.readouterr().err
    assert code == status, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err
    return err


# -- class 3: bounded work for any input -------------------------------------------------------

@pytest.mark.parametrize("kind, expected", [
    ("fifo", "this is a named pipe, not a regular file"),
    ("dev_zero", "this is a device, not a regular file"),
    ("loop", "Too many levels of symbolic links"),
    ("folder", "folder"),
    ("huge", "a spec file may be at most 1,048,576 bytes"),
])
def test_special_and_huge_spec_files_are_refused_before_reading(tmp_path, kind, expected):
    cat = _catalog(tmp_path)
    bad = cat / "recipes" / "bad.yaml"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "dev_zero":
        bad.symlink_to("/dev/zero")
    elif kind == "loop":
        bad.symlink_to(cat / "recipes" / "bad.yaml")
    elif kind == "folder":
        bad.mkdir()
    else:
        bad.write_text("description: " + "x" * (2 << 20) + "\n")
    before = sorted(p.name for p in cat.rglob("*"))
    for args in (["validate", "recipes/bad.yaml"], ["show", "recipes/bad.yaml"]):
        status, err, seconds = limited(args, cat, timeout=60)
        assert status == 2 and "Traceback" not in err and expected in err, err
        assert "recipes/bad.yaml" in err and seconds < 60
    # An unrelated broken file does not break a command that never reads it.
    (cat / "hparams" / "zero.yaml").symlink_to("/dev/zero")
    status, err, _ = limited(["show", "recipes/r.yaml"], cat, timeout=60)
    assert status == 0, err
    assert sorted(p.name for p in cat.rglob("*")) == before + ["zero.yaml"]


def test_alias_bomb_is_refused_under_a_memory_limit(tmp_path):
    cat = _catalog(tmp_path)
    lines = ["a: &a [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(9)]
    (cat / "recipes" / "bomb.yaml").write_text("\n".join(lines) + "\n")  # 10^10 values if expanded
    status, err, seconds = limited(["validate", "recipes/bomb.yaml"], cat, memory_gib=1.0, timeout=30)
    assert status == 2 and "expands to more than 100,000 values" in err and "recipes/bomb.yaml:" in err, err


def test_deep_nesting_is_refused(tmp_path):
    cat = _catalog(tmp_path)
    (cat / "recipes" / "deep.yaml").write_text("a: " + "[" * 50_000 + "]" * 50_000 + "\n")
    status, err, _ = limited(["validate", "recipes/deep.yaml"], cat, timeout=60)
    assert status == 2 and "Traceback" not in err and "recipes/deep.yaml:" in err, err


def test_absurdly_long_data_line_is_refused_under_a_memory_limit(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for split in ("train", "val", "test"):
        for side in ("de", "en"):
            (source / f"{split}.{side}").write_text("ein kleiner satz\n" * 5)
    with open(source / "train.de", "wb") as f:  # one 200 MiB line
        for _ in range(200):
            f.write(b"a" * (1 << 20))
    (tmp_path / "problems").mkdir()
    (tmp_path / "problems" / "long.yaml").write_text(yaml.safe_dump({
        "family": "text2text", "metrics": ["bleu"],
        "source": {"path": str(source), "format": "text", "input_field": "de", "target_field": "en",
                   "files": {"train": "train.{field}", "eval": "val.{field}", "test": "test.{field}"}},
        "vocab": {"type": "bpe", "size": 300, "min_frequency": 1}}))
    status, err, _ = limited(["datagen", "problems/long.yaml", "--data-dir", "data"], tmp_path, memory_gib=3.0,
                             timeout=240)
    assert status == 2 and "Traceback" not in err, err
    assert f"{source / 'train.de'}:1: the line is longer than 1,048,576 bytes" in err
    assert not [p for p in (tmp_path / "data").iterdir() if p.is_dir()] if (tmp_path / "data").exists() else True


def test_unreachable_tracking_server_is_reported_quickly(tmp_path, capsys):
    started = time.perf_counter()
    _fails(["runs", "--tracking-uri", "http://127.0.0.1:9"], capsys, "cannot reach the MLflow tracking server")
    assert time.perf_counter() - started < 30


# -- class 4: no silent reinterpretation ---------------------------------------------------------

def test_negative_zero_hashes_like_zero():
    from runner.specs.resolve import resolve

    hashes = {resolve(RECIPE, [f"hparams.weight_decay={v}"]).spec_hash for v in ("0.0", "-0.0", "0")}
    assert len(hashes) == 1


def test_non_finite_training_loss_fails_the_run(tmp_path, monkeypatch, capsys):
    import torch

    from runner.training import loop

    real = loop.micro_step_loss

    def poisoned(*args, **kwargs):
        loss, share, aux = real(*args, **kwargs)
        return loss * float("nan"), share * float("nan"), aux

    monkeypatch.setattr(loop, "micro_step_loss", poisoned)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    torch.manual_seed(0)
    err = _fails(["run", RECIPE, "-o", "train.steps=4", "-o", "train.eval_every=2", "-o", "train.log_every=2",
                  "--in-process", "--output-dir", "out"], capsys, "the training loss became nan", status=1)
    assert "stopped rather than reported as finished" in err
    assert not (tmp_path / "out" / "final_metrics.json").exists()


# -- class 5: one message, exit 2, for every bad file --------------------------------------------

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A tiny finished in-process run (two checkpoints) to damage copies of."""
    folder = tmp_path_factory.mktemp("trained")
    env = {"RUNNER_DATA_DIR": str(folder / "data"), "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        status = main(["run", RECIPE, "-o", "train.steps=4", "-o", "train.eval_every=2", "-o", "decode.max_examples=4",
                       "--in-process", "--output-dir", str(folder / "run")])
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert status == 0
    return folder / "run"


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def _checkpoints(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob("step_*") if p.is_dir())


@pytest.mark.parametrize("damage, expected", [
    ("experiment_truncated", "experiment.yaml"),
    ("experiment_binary", "experiment.yaml"),
    ("model_truncated", "cannot load the checkpoint file"),
    ("meta_truncated", "cannot read checkpoint metadata"),
    ("meta_not_object", "checkpoint metadata without an integer 'step'"),
    ("assets_truncated", "data_assets"),
])
def test_damaged_run_folder_is_one_message(trained_run, tmp_path, capsys, damage, expected):
    run = _copy(trained_run, tmp_path)
    last = _checkpoints(run)[-1]
    if damage == "experiment_truncated":
        text = (run / "experiment.yaml").read_text()
        (run / "experiment.yaml").write_text(text[: len(text) // 2] + "\n  - [unclosed")
    elif damage == "experiment_binary":
        (run / "experiment.yaml").write_bytes(b"\x00\xff\xfe" * 100)
    elif damage == "model_truncated":
        data = (last / "model.pt").read_bytes()
        (last / "model.pt").write_bytes(data[: len(data) // 3])
    elif damage == "meta_truncated":
        (last / "meta.json").write_text('{"step": ')
    elif damage == "meta_not_object":
        (last / "meta.json").write_text("[1, 2]")
    else:
        (run / "data_assets" / "meta.json").write_text('{"vocab')
    (tmp_path / "in.txt").write_text("1 2 3\n")
    commands = [["decode", str(run), "--from-file", str(tmp_path / "in.txt"), "--to-file", str(tmp_path / "o.txt")]]
    if damage.startswith("experiment"):
        commands.append(["run", str(run), "--in-process"])  # resume reads the folder's experiment.yaml
    elif not damage.startswith("assets"):
        commands.append(["average", str(run), "--last", "2"])
    for args in commands:
        _fails(args, capsys, expected)
    assert not (tmp_path / "o.txt").exists() and not (run / "averaged").exists()


@pytest.mark.parametrize("to_file, expected", [
    ("missing/folder/out.txt", "does not exist; create it first"),
    (".", "this is a folder; expected a file path"),
    ("x" * 300, "file systems allow at most 255"),
])
def test_bad_to_file_fails_before_decoding(tmp_path, monkeypatch, capsys, to_file, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("1 2 3\n")
    # The run folder does not exist: the path check comes first, before anything is loaded or decoded.
    _fails(["decode", "no-run", "--from-file", "in.txt", "--to-file", to_file], capsys, "--to-file", expected)


@pytest.mark.parametrize("output_dir, expected", [
    ("afile", "this is a file, not a folder"),
    ("afile/below", "is a file, so no folder can be made below it"),
    ("y" * 300, "file systems allow at most 255"),
])
def test_bad_output_dir_fails_before_training(tmp_path, monkeypatch, capsys, output_dir, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    _fails(["run", RECIPE, "--in-process", "--output-dir", output_dir], capsys, "--output-dir", expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_damaged_data_cache_is_rebuilt(tmp_path):
    from runner import problems
    from runner.specs.resolve import resolve

    spec = resolve(RECIPE, ["problem.train_size=20", "problem.eval_size=5", "problem.test_size=5"]).problem
    first = problems.build(spec, tmp_path)
    folder = Path(first.folder)
    victim = next(p for p in sorted(folder.iterdir()) if p.name != "meta.json" and p.is_file())
    victim.write_bytes(victim.read_bytes()[:3])  # truncated
    again = problems.build(spec, tmp_path)
    assert len(again.split("train")) == len(first.split("train"))
    (folder / "meta.json").write_text('{"fingerpr')  # cut short
    assert len(problems.build(spec, tmp_path).split("test")) == len(first.split("test"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [folder.name]


def test_non_utf8_override_bytes(tmp_path):
    cat = _catalog(tmp_path)
    command = [sys.executable.encode(), b"-m", b"runner", b"show", b"recipes/r.yaml", b"-o", b"train.steps=\xff\xfe"]
    status, err, _ = limited([], cat, argv_bytes=command)
    assert status == 2 and "Traceback" not in err and "not valid UTF-8 text" in err, err


def test_corrupt_wav_is_a_spec_error(tmp_path):
    from runner.problems.audio import read_wav
    from runner.specs.errors import SpecError

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 7)
    with pytest.raises(SpecError, match="bad.wav: cannot read as a WAV file"):
        read_wav(bad)


@pytest.mark.parametrize("limit", ["0", "-3", "abc", "1e3", "99999999999"])
def test_bad_runs_limit(tmp_path, monkeypatch, capsys, limit):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "--limit", limit])
    assert exit_info.value.code == 2 and "--limit" in capsys.readouterr().err


@pytest.mark.parametrize("uri, expected", [
    ("foo://host/x", "unknown tracking URI scheme 'foo'"),
    ("sqlite:///notadb.txt", "is not a SQLite database"),
    ("sqlite:///missing.db", "no MLflow database at"),
])
def test_unusable_tracking_uri(tmp_path, monkeypatch, capsys, uri, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notadb.txt").write_text("hello")
    _fails(["runs", "--tracking-uri", uri], capsys, expected)
    _fails(["compare", "abc", "--tracking-uri", uri], capsys, expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notadb.txt"]


# -- class 7: vacuous success is failure ---------------------------------------------------------

def test_runs_does_not_create_a_database(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _fails(["runs"], capsys, "no MLflow database at", "does not create one")
    assert list(tmp_path.iterdir()) == []


def test_missing_runner_catalog_and_empty_leaderboard(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RUNNER_CATALOG", str(tmp_path / "nope"))
    _fails(["validate"], capsys, "RUNNER_CATALOG names")
    monkeypatch.delenv("RUNNER_CATALOG")
    for action in ("check", "reproduce", "refresh"):
        _fails(["leaderboard", action, "--dir", str(tmp_path)], capsys, "no records/ folder here")
    assert list(tmp_path.iterdir()) == []


# -- class 8: recipes without train: --------------------------------------------------------------

def test_recipe_without_train_uses_the_defaults(tmp_path, monkeypatch, capsys):
    cat = _catalog(tmp_path)
    (cat / "recipes" / "r.yaml").write_text("problem: p\nmodel: transformer\nhparams: transformer_tiny\n")
    monkeypatch.chdir(cat)
    assert main(["validate", "recipes/r.yaml"]) == 0
    capsys.readouterr()
    assert main(["show", "recipes/r.yaml"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    from runner.specs.schemas import TrainSpec

    assert shown["train"] == TrainSpec().model_dump()
