"""`RaySession`: the training loop's Session inside a Ray Train worker.

  world_rank, world_size   from ray.train.get_context()
  device                   ray.train.torch.get_device() (this worker's GPU, or the CPU)
  report(metrics, checkpoint_dir, milestone)
                           for milestones, ray.train.report from every rank (Ray synchronises on
                           it); plain progress rows only reach the driver's display; only rank 0
                           passes a checkpoint, which Ray copies to the run's storage as
                           step_XXXXXXXX/ and then deletes from the worker's disk
  latest_checkpoint()      ray.train.get_checkpoint(): after a worker failure or a driver
                           restart, the newest checkpoint Ray persisted for this run

Rank 0 also sends each row to the driver's progress display through a Ray queue.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import ray.train
import torch

from runner.training import checkpoint as ckpt


class RaySession:
    def __init__(self, progress: Any = None):
        context = ray.train.get_context()
        self.world_rank = context.get_world_rank()
        self.world_size = context.get_world_size()
        self.device = _device()
        self.progress = progress  # a ray.util.queue.Queue read by the driver, or None
        self._downloaded: dict[str, str] = {}  # remote checkpoint path -> its copy on this worker

    @property
    def is_main(self) -> bool:
        return self.world_rank == 0

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None, milestone: bool = True) -> None:
        checkpoint, name = None, None
        if checkpoint_dir is not None:
            checkpoint = ray.train.Checkpoint.from_directory(checkpoint_dir)
            name = ckpt.checkpoint_name(int(ckpt.read_meta(checkpoint_dir)["step"]))
        # Only milestones (evals, checkpoints, the final row) go through ray.train.report: it is a
        # barrier across workers and waits for the controller's next poll, and nobody on the Ray
        # side reads plain progress rows (Tune takes eval rows; MLflow and the driver's display
        # get every row from rank 0 directly).
        if milestone:
            ray.train.report(dict(metrics), checkpoint=checkpoint, checkpoint_dir_name=name,
                             delete_local_checkpoint_after_upload=checkpoint is not None)
        if self.is_main and self.progress is not None:
            row = dict(metrics, time=time.time())
            if name:
                row["checkpoint"] = name
            self.progress.put(row)

    def latest_checkpoint(self) -> str | None:
        return local_checkpoint_dir(ray.train.get_checkpoint(), self._downloaded)


def _device() -> torch.device:
    import ray.train.torch

    return ray.train.torch.get_device()


def local_checkpoint_dir(checkpoint: Any, downloaded: dict[str, str]) -> str | None:
    """A folder on this machine holding `checkpoint` (a ray.train / ray.tune Checkpoint, or None).

    Remote storage (s3://, gs://, ...) is copied to local disk once per checkpoint; `downloaded`
    (remote path -> local copy) remembers the copies of one session.
    """
    if checkpoint is None:
        return None
    import pyarrow.fs

    if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem) and os.path.isdir(checkpoint.path):
        return checkpoint.path
    if checkpoint.path not in downloaded:
        downloaded[checkpoint.path] = checkpoint.to_directory(tempfile.mkdtemp(prefix="runner-restore-"))
    return downloaded[checkpoint.path]
