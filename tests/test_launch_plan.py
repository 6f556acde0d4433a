"""The launch plan without Ray: capacity check, shrink advice, and --dry-run starting nothing."""

import os
import subprocess
import sys

import pytest

from runner.launch.plan import check_capacity, make_plan
from runner.specs.errors import SpecError
from runner.specs.resolve import resolve

from conftest import TINY_OVERRIDES, TINY_RECIPE


def _plan(tmp_path, *overrides):
    experiment = resolve(TINY_RECIPE, TINY_OVERRIDES + list(overrides))
    return make_plan(experiment, str(tmp_path / "out"), str(tmp_path / "data"), None, "sqlite:///x.db")


def test_eight_gpu_workers_on_a_two_cpu_machine_fail_with_the_shrink_overrides(tmp_path):
    plan = _plan(tmp_path, "resources.workers=8", "resources.accelerator=gpu", "resources.gpus_per_worker=1",
                 "train.gradient_accumulation_steps=1")
    with pytest.raises(SpecError) as err:
        check_capacity(plan, [{"CPU": 2.0}])
    message = str(err.value)
    assert "8 workers x (1 CPU, 1 GPU) = 8 CPU, 8 GPU" in message
    assert "has 2 CPU, 0 GPU on 1 alive node" in message
    assert ("-o resources.workers=2 -o resources.accelerator=cpu -o resources.gpus_per_worker=0 "
            "-o train.gradient_accumulation_steps=4") in message


def test_capacity_is_counted_per_node(tmp_path):
    plan = _plan(tmp_path, "resources.workers=2", "resources.cpus_per_worker=2")
    check_capacity(plan, [{"CPU": 2.0}, {"CPU": 2.0}])  # one worker per node: fits
    with pytest.raises(SpecError, match=r"room for 0 such workers.*resources.cpus_per_worker=1"):
        check_capacity(plan, [{"CPU": 1.0}, {"CPU": 1.0}])  # 2 CPUs in all, but no node holds a worker


def test_run_name_and_storage_come_from_the_spec(tmp_path):
    plan = _plan(tmp_path)
    other = _plan(tmp_path, "train.seed=2")
    assert plan.run_name.startswith("reverse_transformer_cpu-") and plan.run_name != other.run_name
    assert plan.storage_path == os.path.join(str(tmp_path / "out"), "ray")
    assert plan.backend == "gloo"


def test_dry_run_prints_the_plan_and_starts_nothing(tmp_path):
    out = tmp_path / "out"
    argv = ["run", TINY_RECIPE, "--dry-run", "--output-dir", str(out), "-o", "resources.workers=2"]
    for override in TINY_OVERRIDES:
        argv += ["-o", override]
    code = (
        "import sys\n"
        "from runner.cli import main\n"
        f"rc = main({argv!r})\n"
        "assert rc == 0, rc\n"
        "assert 'ray' not in sys.modules and 'torch' not in sys.modules and 'mlflow' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for expected in ("nothing started", "2 x (1 CPU), torch.distributed backend gloo",
                     "128 tokens/worker x 2 workers x 1 accumulation steps = 256 tokens",
                     f"{out}/ray/reverse_transformer_cpu-", "sqlite:///", "embedded local Ray"):
        assert expected in done.stdout, (expected, done.stdout)
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()
