"""The driver's view of a Ray run: one live progress line instead of Ray's log lines.

Rank 0 puts every reported row into a Ray queue; a thread here reads it, keeps
`<output_dir>/metrics.jsonl` (the same file an in-process run writes), and shows

    ━━━━━━━━━━━━━━━━╺━━━━━━━━━  600/1500  train_loss 1.234 | 5.1k tok/s | ETA 2m10s

with each eval row printed once above it. The ETA is measured from the steps this attempt has
run (not from step 0), so a resumed run's estimate is not flattered by the restored steps.
"""

from __future__ import annotations

import math
import queue as queue_mod
import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from runner.run_dir import RunDir
from runner.training.session import progress_line


class ProgressDisplay:
    def __init__(self, rows: Any, total_steps: int, output_dir: str, console: Console | None = None):
        self.rows = rows  # anything with get(timeout=...) raising queue.Empty (a ray.util.queue.Queue)
        self.total_steps = total_steps
        self.run_dir = RunDir(output_dir)
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            # Two redraws a second are plenty for a line that changes every `log_every` steps;
            # rich's default of ten costs the driver CPU next to a training worker.
            console=self.console, transient=False, refresh_per_second=2,
        )
        self.task = self.progress.add_task("train", total=total_steps, info="starting workers ...")
        self.first: tuple[float, int] | None = None  # (time, step) of this attempt's first row
        self.last_row: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="runner-progress", daemon=True)

    def __enter__(self) -> "ProgressDisplay":
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._drain()
        self.progress.stop()

    def _pump(self) -> None:
        while not self._stop.is_set():
            self._take(timeout=0.5)

    def _drain(self) -> None:
        while self._take(timeout=0.05):
            pass

    def _take(self, timeout: float) -> bool:
        try:
            row = self.rows.get(timeout=timeout)
        except queue_mod.Empty:
            return False
        except Exception:  # noqa: BLE001 - the queue actor is gone (Ray shutting down): nothing more comes
            self._stop.set()
            return False
        self.show(row)
        return True

    def show(self, row: dict[str, Any]) -> None:
        self.run_dir.append_row(row)
        step = int(row.get("step", 0))
        now = float(row.get("time", time.time()))
        if self.first is None or step < self.first[1]:
            self.first = (now, step)
        if "train_loss" in row:
            self.last_row = row
        if any(k not in _TRAIN_KEYS for k in row):  # an eval, a checkpoint, or the final row
            self.progress.console.print(progress_line(row), soft_wrap=True, markup=False, highlight=False)
        self.progress.update(self.task, completed=min(step, self.total_steps), info=self._info(step, now))

    def _info(self, step: int, now: float) -> str:
        parts = []
        if "train_loss" in self.last_row:
            parts.append(f"train_loss {self.last_row['train_loss']:.4g}")
        if "tokens_per_sec" in self.last_row:
            parts.append(f"{_si(self.last_row['tokens_per_sec'])} tok/s")
        assert self.first is not None
        start_time, start_step = self.first
        if step > start_step and now > start_time and step < self.total_steps:
            seconds = (self.total_steps - step) * (now - start_time) / (step - start_step)
            parts.append(f"ETA {_duration(seconds)}")
        return " | ".join(parts)


# Keys of a plain training row; any other key makes the row worth a line of its own.
_TRAIN_KEYS = {"step", "epoch", "train_loss", "train_aux_loss", "learning_rate", "grad_norm",
               "tokens_per_sec", "peak_memory_mb", "time"}


def _si(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
