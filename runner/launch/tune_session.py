"""`TuneSession`: the training loop's Session when a Tune trial runs the loop itself (one worker).

A single-worker trial needs no Ray Train: the loop runs in the trial's own actor, and the
session speaks to Tune directly.

  world_rank, world_size   0 and 1
  device                   the trial's GPU when Tune gave it one, else the CPU
  report(metrics, checkpoint_dir, milestone)
                           every row goes to the run folder's metrics.jsonl; a checkpoint is
                           moved into the run folder's checkpoints/ (the last K kept, as an
                           in-process run keeps them); rows that carry the objective go to
                           `ray.tune.report`, with the newest checkpoint not yet handed to Tune
                           as a `ray.tune.Checkpoint` (Tune copies it into its own storage,
                           where PBT and a restarted trial find it)
  latest_checkpoint()      `ray.tune.get_checkpoint()`: after a restart, this trial's newest
                           checkpoint; after a PBT exploit, the better trial's checkpoint

Only rows with the objective reach Tune: Tune checks that every result names it, and
schedulers compare trials on it. The loop's `done: 1` is dropped, because for Tune `done`
means "stop this trial now", before its final files are written.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import ray.tune
import torch

from runner.launch.session import local_checkpoint_dir
from runner.run_dir import RunDir
from runner.training import checkpoint as ckpt
from runner.training.session import default_device


class TuneSession:
    world_rank = 0
    world_size = 1

    def __init__(self, output_dir: str, objective: str, keep_checkpoints: int, device: torch.device | None = None):
        self.run_dir = RunDir(output_dir)
        self.objective = objective
        self.keep_checkpoints = keep_checkpoints
        self.device = device if device is not None else default_device()
        self._unreported: str | None = None  # newest checkpoint Tune has not been given yet
        self._downloaded: dict[str, str] = {}

    @property
    def is_main(self) -> bool:
        return True

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None, milestone: bool = True) -> None:
        row = dict(metrics)
        if checkpoint_dir is not None:
            self._unreported = ckpt.persist(checkpoint_dir, self.run_dir.checkpoints, self.keep_checkpoints)
            row["checkpoint"] = self._unreported
        row["time"] = time.time()
        self.run_dir.append_row(row)
        if self.objective not in metrics:
            return
        checkpoint = ray.tune.Checkpoint.from_directory(self._unreported) if self._unreported else None
        self._unreported = None
        ray.tune.report({k: v for k, v in metrics.items() if k != "done"}, checkpoint=checkpoint)

    def latest_checkpoint(self) -> str | None:
        checkpoint = ray.tune.get_checkpoint()
        if checkpoint is not None and not _inside(checkpoint.path, ray.tune.get_context().get_trial_dir()):
            # PBT's exploit hands over another trial's checkpoint, which that trial may delete
            # (num_to_keep) while this one still reads it: train from a copy of our own.
            if checkpoint.path not in self._downloaded:
                self._downloaded[checkpoint.path] = checkpoint.to_directory(tempfile.mkdtemp(prefix="runner-exploit-"))
            return self._downloaded[checkpoint.path]
        return local_checkpoint_dir(checkpoint, self._downloaded)


def _inside(path: str, folder: str | None) -> bool:
    """Whether `path` lies in `folder` (a trial's own folder); False when the folder is unknown."""
    if not folder:
        return False
    return os.path.abspath(path).startswith(os.path.abspath(folder).rstrip(os.sep) + os.sep)
