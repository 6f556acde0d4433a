"""What a record says about where it ran: hardware, package versions, code commit.

Captured when the record is made, which is meant to be right after the run on the machine
that ran it (`runner run ... --record`, or `runner leaderboard add` on that machine). The code
commit and package versions come from runner/provenance.py (MLflow's tags use the same).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from runner.leaderboard.record import Hardware
from runner.provenance import PACKAGES, code_commit, package_versions  # noqa: F401  (a record's provenance)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def hardware() -> Hardware:
    gpu, count = None, 0
    if "torch" in sys.modules or _installed("torch"):
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            gpu = torch.cuda.get_device_name(0)
    return Hardware(cpu=cpu_model(), cores=os.cpu_count() or 1, gpu=gpu, gpu_count=count)


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False
