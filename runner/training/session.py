"""Where the training loop runs: the small interface between `loop.train` and its host.

The loop never asks whether it is inside a Ray Train worker or a plain Python process; it
talks to a `Session`:

  world_rank, world_size   this worker's rank and the number of data-parallel workers
  device                   the torch.device this worker trains on
  is_main                  world_rank == 0: the worker that writes checkpoints and returns the
                           decoded output (the host writes the final files: runner/run_dir.py)
  report(metrics, checkpoint_dir=None, milestone=True)
                           record one row of metrics. Every worker calls it at the same steps;
                           only the main worker passes a checkpoint_dir: a finished checkpoint
                           directory the session takes ownership of (persists it, and may
                           delete the original). `milestone` is the same on every worker: True
                           for rows that carry an eval, a checkpoint or the final result (Ray
                           Train synchronises the workers on those), False for plain progress
                           rows, which a session may show without a cluster round trip.
  latest_checkpoint()      the directory of the newest persisted checkpoint, or None

`InProcessSession` runs in the current process (tests, debugging, `runner run --local`).
The Ray Train session in `runner/launch/` implements the same names over `ray.train`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, Protocol, runtime_checkable

import torch

from runner.run_dir import RunDir
from runner.training import checkpoint as ckpt


@runtime_checkable
class Session(Protocol):
    world_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool: ...

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None, milestone: bool = True) -> None: ...

    def latest_checkpoint(self) -> str | None: ...


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


class InProcessSession:
    """One worker in this process: checkpoints under `output_dir/checkpoints/step_*`,
    metrics appended to `output_dir/metrics.jsonl` (RunDir's writer), one progress line per report on stdout."""

    world_rank = 0
    world_size = 1

    def __init__(
        self,
        output_dir: str,
        keep_checkpoints: int = 5,
        device: torch.device | str | None = None,
        verbose: bool = True,
    ):
        self.run_dir = RunDir(output_dir)
        self.output_dir = self.run_dir.absolute
        self.checkpoint_root = self.run_dir.checkpoints
        self.keep_checkpoints = keep_checkpoints
        self.device = torch.device(device) if device is not None else default_device()
        self.verbose = verbose
        os.makedirs(self.output_dir, exist_ok=True)

    @property
    def is_main(self) -> bool:
        return self.world_rank == 0

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None, milestone: bool = True) -> None:
        row = dict(metrics)
        if checkpoint_dir is not None:
            row["checkpoint"] = ckpt.persist(checkpoint_dir, self.checkpoint_root, self.keep_checkpoints)
        row["time"] = time.time()
        self.run_dir.append_row(row)
        if self.verbose:
            print(progress_line(row), file=sys.stdout, flush=True)

    def latest_checkpoint(self) -> str | None:
        return ckpt.latest_checkpoint(self.checkpoint_root)


# Keys shown first, in this order; the rest follow alphabetically.
_PROGRESS_FIRST = ("step", "epoch", "train_loss", "learning_rate", "eval_loss", "eval_neg_log_perplexity",
                   "eval_accuracy")
_PROGRESS_SKIP = {"time", "checkpoint"}


def progress_line(row: dict[str, Any]) -> str:
    """`step 100 | train_loss 3.214 | learning_rate 1.2e-04 | ...` for a metrics row."""
    keys = [k for k in _PROGRESS_FIRST if k in row]
    keys += sorted(k for k in row if k not in keys and k not in _PROGRESS_SKIP)
    parts = [f"{k} {_short(row[k])}" for k in keys]
    if row.get("checkpoint"):
        parts.append(f"saved {os.path.basename(row['checkpoint'])}")
    return " | ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if math.isfinite(value) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.4g}"
