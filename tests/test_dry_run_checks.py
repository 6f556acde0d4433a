"""`runner run --dry-run` checks resources, data and budget before anything trains (exit 2 when it cannot run)."""

import gzip
import os
import stat
from pathlib import Path

import pytest

from runner import api
from runner.cli import main
from runner.launch import preflight
from runner.launch.run import run_on_ray
from runner.specs.errors import SpecError

ROOT = Path(__file__).resolve().parents[1]
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port: the hub is unreachable, deterministically


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return tmp_path


def test_capacity_error_comes_from_the_dry_run(here, capsys, monkeypatch):
    monkeypatch.setattr(preflight, "gpu_count", lambda: 0)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # the hub is not probed: only resources fail
    assert main(["run", "ende_big", "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert "fits" in out and "NO" in out and f"{os.cpu_count()} CPU, 0 GPU on 1 node" in out
    assert "asks for 8 workers x (4 CPU, 1 GPU)" in err and "-o resources.accelerator=cpu" in err
    assert "Traceback" not in err and not (here / "runs").exists()


def test_gpus_are_counted_without_torch(tmp_path, monkeypatch):
    smi = tmp_path / "bin" / "nvidia-smi"
    smi.parent.mkdir()
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: a)'\necho 'GPU 1: NVIDIA H100 (UUID: b)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{smi.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert preflight.gpu_count() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert preflight.gpu_count() == 1
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert preflight.gpu_count() == 0  # no nvidia-smi: no GPU


def test_data_source_and_cache_are_reported(here, capsys):
    args = ["run", str(ROOT / "catalog" / "recipes" / "reverse_ci.yaml"), "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "generated (reverse, seed 1; no download)" in out and "not cached yet" in out
    api.build_problem(api.resolve(args[1]))  # datagen into the cache folder the dry run named
    assert main(args) == 0
    assert "cached: datagen is skipped" in capsys.readouterr().out


def test_local_files_present_or_missing(here, capsys, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", CLOSED)
    folder = here / "pairs"
    folder.mkdir()
    for split in ("train", "val", "test_2016_flickr"):  # the file names the catalog problem expects
        for side, line in (("de", "ein haus\n"), ("en", "a house\n")):
            with gzip.open(folder / f"{split}.{side}.gz", "wt") as f:
                f.write(line)
    recipe = str(ROOT / "catalog" / "recipes" / "multi30k_deen_ci.yaml")
    files = []
    assert main(["run", recipe, "--dry-run", "-o", f"problem.source.path={folder}", *files]) == 0
    assert f"local files in {folder} (present)" in capsys.readouterr().out
    # A mistyped folder is named as missing, not blamed on the unreachable hub it falls back to.
    assert main(["run", recipe, "--dry-run", "-o", "problem.source.path=pairz", *files]) == 2
    out, err = capsys.readouterr()
    assert "local folder 'pairz' not found" in out
    assert "error: problem.source.path: local folder 'pairz' not found (looked for" in err
    assert "dataset hub is unreachable" in err  # ... and then why the fallback cannot help
    (folder / "test_2016_flickr.en.gz").unlink()
    assert main(["run", recipe, "--dry-run", "-o", f"problem.source.path={folder}", *files]) == 2
    assert "missing test split" in capsys.readouterr().err


def test_datagen_names_the_missing_folder_before_the_hub(here, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", CLOSED)
    experiment = api.resolve(str(ROOT / "catalog" / "recipes" / "multi30k_deen_ci.yaml"),
                             ["problem.source.path=no_such_folder"])
    with pytest.raises(SpecError) as error:
        api.build_problem(experiment)
    message = str(error.value)
    assert message.startswith("problem.source.path: local data folder 'no_such_folder' not found"), message
    assert "hub dataset 'bentrevett/multi30k' was tried instead and failed" in message


def test_time_budget_row(here, capsys):
    assert main(["run", "digits_cpu", "--dry-run"]) == 0
    assert "or 10 minutes of training if sooner" in capsys.readouterr().out


@pytest.mark.slow
def test_dry_run_checks_a_running_cluster(here, ray_local):
    experiment = api.resolve(str(ROOT / "catalog" / "recipes" / "reverse_ci.yaml"), ["resources.workers=3"])
    with pytest.raises(SpecError) as error:  # the session's Ray has 2 CPUs
        run_on_ray(experiment, str(here / "out"), address="127.0.0.1:6379", dry_run=True)
    assert "the Ray cluster has 2 CPU" in str(error.value) and "-o resources.workers=2" in str(error.value)
    assert not (here / "out").exists()
