"""A Session wrapper that sends the main worker's reports to MLflow, so the loop never imports it.

    session = TrackedSession(RaySession(...), MetricsLogger(uri, run_id))   # rank 0 only
    train(experiment, data, session)

Rows are committed (written to MLflow) right before the report that carries a checkpoint, and
with the final row; see metrics_logger.py for why that order gives no missing or duplicated steps.
"""

from __future__ import annotations

from typing import Any


class TrackedSession:
    def __init__(self, inner: Any, logger: Any):
        self.inner = inner
        self.logger = logger

    # The Session protocol's attributes, read through to the wrapped session.
    @property
    def world_rank(self) -> int:
        return self.inner.world_rank

    @property
    def world_size(self) -> int:
        return self.inner.world_size

    @property
    def device(self):
        return self.inner.device

    @property
    def is_main(self) -> bool:
        return self.inner.is_main

    def report(self, metrics: dict[str, Any], checkpoint_dir: str | None = None, milestone: bool = True) -> None:
        self.logger.add(metrics)
        if checkpoint_dir is not None or metrics.get("done"):
            self.logger.flush()
        self.inner.report(metrics, checkpoint_dir, milestone)

    def latest_checkpoint(self) -> str | None:
        return self.inner.latest_checkpoint()
