"""benchmarks/gpu_check.sh refuses to run without a GPU: loudly, at once, writing no gpu_*.json."""

import os
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script would measure it")
def test_gpu_check_fails_loudly_without_a_gpu():
    results = ROOT / "benchmarks" / "results"
    before = {p.name: p.stat().st_mtime for p in results.glob("gpu_*.json")}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1
    assert "no CUDA GPU visible" in done.stderr and "nothing was measured" in done.stderr
    assert "gpu_mfu" not in done.stdout  # stopped before the first measurement
    assert {p.name: p.stat().st_mtime for p in results.glob("gpu_*.json")} == before
