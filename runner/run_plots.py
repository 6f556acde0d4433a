"""A run's curves as PNG files in RUN_DIR/plots/ (RunDir.plots) (also logged to MLflow with the final files).

From the run's metrics.jsonl (the rows every session writes): `loss.png` (train_loss and
eval_loss) and `eval_metrics.png` (every other eval_<name> the run reported), each against the
global step (left) and against wall time since the run's first row (right; a resumed run's gap
shows as a jump). Written by the host at the end of a run; matplotlib, no torch.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from runner.run_dir import RunDir


def read_rows(run_dir: str | Path) -> list[dict[str, Any]]:
    path = RunDir(run_dir).file(RunDir.METRICS)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut short by a crash: the rest is still worth plotting
            continue
    return rows


def _series(rows: list[dict[str, Any]], key: str) -> list[tuple[int, float, float]]:
    """(step, seconds since the first row, value) of `key`, one point per step (the last one wins:
    a resumed run repeats steps)."""
    start = min((r["time"] for r in rows if isinstance(r.get("time"), (int, float))), default=None)
    points: dict[int, tuple[float, float]] = {}
    for r in rows:
        value = r.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and "step" in r:
            seconds = r["time"] - start if start is not None and isinstance(r.get("time"), (int, float)) else math.nan
            points[int(r["step"])] = (seconds, float(value))
    return [(step, s, v) for step, (s, v) in sorted(points.items())]


def write_run_plots(run_dir: str | Path) -> list[str]:
    """Write the run's plots (replacing older ones: they are views of metrics.jsonl); returns their paths."""
    rows = read_rows(run_dir)
    if not rows:
        return []
    eval_keys = sorted({k for r in rows for k in r if k.startswith("eval_") and k != "eval_loss"})
    figures = {"loss.png": ["train_loss", "eval_loss"], "eval_metrics.png": eval_keys}
    folder = RunDir(run_dir).plots
    folder.mkdir(exist_ok=True)
    written = []
    for name, keys in figures.items():
        series = {k: _series(rows, k) for k in keys}
        series = {k: v for k, v in series.items() if v}
        if series:
            written.append(_figure(folder / name, series, Path(run_dir).name))
    return written


def _figure(path: Path, series: dict[str, list[tuple[int, float, float]]], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = len(series)
    fig, axes = plt.subplots(rows, 2, figsize=(10, 2.8 * rows), squeeze=False, constrained_layout=True)
    for row, (key, points) in enumerate(series.items()):
        steps = [p[0] for p in points]
        seconds = [p[1] for p in points]
        values = [p[2] for p in points]
        style = {"marker": "o", "markersize": 3} if len(points) < 30 else {}
        axes[row][0].plot(steps, values, **style)
        axes[row][0].set_xlabel("step")
        axes[row][1].plot(seconds, values, **style)
        axes[row][1].set_xlabel("wall time (s)")
        for ax in axes[row]:
            ax.set_ylabel(key)
            ax.grid(alpha=0.3)
    fig.suptitle(title)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return str(path)
