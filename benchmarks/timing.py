"""Measuring two (or more) sides fairly on a shared, busy machine.

Every benchmark runs its sides back to back, ALTERNATING: round r runs the sides in an order
rotated by r (A B C, B C A, C A B, ...), so a burst of load from someone else's job, or a
warm cache left by the previous side, falls on every side about equally. Results are medians
over rounds, which a single slow round cannot move.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def rotated(names: Sequence[str], round_index: int) -> list[str]:
    """The sides in the order of round `round_index`: rotated by one place per round."""
    k = round_index % len(names) if names else 0
    return list(names[k:]) + list(names[:k])


def alternate(sides: dict[str, Callable[[], Any]], repetitions: int) -> dict[str, list[Any]]:
    """Call every side once per round for `repetitions` rounds, in rotated order; the
    measurements each side returned, in round order."""
    if repetitions < 1:
        raise ValueError(f"repetitions must be at least 1, got {repetitions}")
    names = list(sides)
    out: dict[str, list[Any]] = {name: [] for name in names}
    for r in range(repetitions):
        for name in rotated(names, r):
            out[name].append(sides[name]())
    return out


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no measurements")
    return float(statistics.median(values))


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def python_env(threads: int | None = None) -> dict[str, str]:
    """The environment for a child Python: the repository importable, and, when given, the same
    number of intra-op threads for every side (torch reads OMP_NUM_THREADS at start-up)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    if threads is not None:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_module_json(module: str, args: Sequence[str], threads: int | None = None, timeout: float = 1800) -> dict:
    """Run `python -m module args` in a fresh process; it prints one JSON object as its last
    stdout line, which is returned. A failure raises with the child's stderr tail."""
    cmd = [sys.executable, "-m", module, *args]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=python_env(threads), capture_output=True, text=True,
                          timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1])


def use_recipe_threads(experiment: Any) -> int:
    """Give torch in this process as many threads as the recipe reserves per worker, as Ray does
    for `runner run` (OMP_NUM_THREADS = resources.cpus_per_worker): an in-process figure then
    trains with the same parallelism as the command a user runs. Returns the thread count."""
    import torch

    threads = max(1, int(experiment.resources.cpus_per_worker))
    torch.set_num_threads(threads)
    return threads
