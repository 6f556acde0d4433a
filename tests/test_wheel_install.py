"""A non-editable install works from any folder: the wheel carries the catalog.

The wheel is built from a copy of the sources (nothing written into the checkout) and installed
into a fresh virtualenv that sees this environment's installed dependencies through a `.pth`
line but not this checkout (no PYTHONPATH, no editable finder: a .pth inside a folder added by
another .pth is not processed). Every command then runs from an empty folder.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _sh(argv, cwd, env=None, timeout=180):
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("runner", "catalog"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    _sh([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", tmp / "dist", src], cwd=tmp)
    wheel = next((tmp / "dist").glob("runner-*.whl"))
    venv = tmp / "venv"
    _sh([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(_sh([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "installed_deps.pth").write_text("".join(f"{p}\n" for p in sorted(deps)))
    _sh([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RUNNER_CATALOG", "VIRTUAL_ENV")}
    env.update(RUNNER_DATA_DIR=str(tmp / "data"), MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}",
               OMP_NUM_THREADS="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    empty = tmp / "empty"
    empty.mkdir()
    return venv, env, empty


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    venv, env, empty = installed
    out = _sh(["runner", "--version"], empty, env).stdout
    assert f"shipped catalog: {venv.resolve()}" in out and str(ROOT) not in out, out
    where = _sh([venv / "bin" / "python", "-c", "import runner; print(runner.__file__)"], empty, env).stdout
    assert where.startswith(str(venv)), where


def test_list_show_validate_from_an_empty_folder(installed):
    venv, env, empty = installed
    listed = _sh(["runner", "list", "recipes"], empty, env).stdout
    shipped = sorted(p.stem for p in (ROOT / "catalog" / "recipes").glob("*.yaml"))
    assert all(name in listed for name in shipped), listed
    shown = yaml.safe_load(_sh(["runner", "show", "reverse_ci", "-o", "train.steps=3"], empty, env).stdout)
    assert shown["train"]["steps"] == 3 and len(shown["spec_hash"]) == 64
    count = len(list((ROOT / "catalog").glob("*/*.yaml")))
    assert f"{count} spec files valid" in _sh(["runner", "validate"], empty, env).stdout
    (empty / "mine.yaml").write_text((ROOT / "catalog" / "recipes" / "reverse_ci.yaml").read_text())
    assert "1 spec files valid" in _sh(["runner", "validate", "mine.yaml"], empty, env).stdout
    (empty / "mine.yaml").unlink()
    _sh(["runner", "cp", "reverse_ci", "mycat"], empty, env)
    assert "1 spec files valid" in _sh(["runner", "validate", "mycat"], empty, env).stdout
    assert "num_heads" in _sh(["runner", "describe", "hparams", "transformer"], empty, env).stdout
    shutil.rmtree(empty / "mycat")


def test_a_short_in_process_run_then_predict_and_export(installed):
    venv, env, empty = installed
    _sh(["runner", "run", "reverse_ci", "--in-process", "-o", "train.steps=4", "-o", "train.eval_every=2",
         "-o", "decode.max_examples=4", "--output-dir", "run"], empty, env, timeout=300)
    assert (empty / "run" / "final_metrics.json").is_file()
    assert (empty / "run" / "experiment.yaml").is_file()
    (empty / "in.txt").write_text("1 0 1 1\n0 0 1\n")
    predicted = _sh(["runner", "predict", "run", "in.txt"], empty, env).stdout
    assert len(predicted.splitlines()) == 2, predicted  # one output line per input line (untrained: maybe empty)
    _sh(["runner", "export", "run", "--to", "bundle", "--no-mlflow"], empty, env)
    assert (empty / "bundle").is_dir() and any((empty / "bundle").iterdir())
