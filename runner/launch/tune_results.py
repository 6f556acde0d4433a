"""What a finished (or interrupted) sweep says, trial by trial, as plain data.

Tune's ResultGrid gives each trial's last result; each trial's own folder
(`<sweep>/trials/<trial_id>`, named by `trial_dirname`) adds its spec_hash, MLflow run and how
many times it started (a trial resumed after a re-launch started more than once).

A trial's status:
  finished   reached train.steps
  stopped    ended early by the scheduler (ASHA / median stopping)
  error      raised (Tune keeps the error; see the trial's folder and Ray's logs)
  pending    never reported: not started, or interrupted before its first eval
  unfinished reported, then the sweep ended before it did (re-run the command to resume it)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from runner.launch.tune_plan import SweepPlan
from runner.launch.tune_lineage import final_segment_dir, read_trial_file


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    config: dict[str, Any]
    objective: float | None
    step: int | None
    status: str
    trial_dir: str
    spec_hash: str = ""
    mlflow_run_id: str = ""
    starts: int = 0
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    segments: int = 1               # PBT: run folders (and MLflow runs) the trial trained in


def trial_dirname(trial: Any) -> str:
    """Tune's folder for a trial is named by its id, like the trial's own folder under trials/."""
    return trial.trial_id


def summarize(result_grid: Any, plan: SweepPlan) -> list[TrialSummary]:
    summaries = []
    for result in result_grid:
        trial_id = os.path.basename(result.path.rstrip("/"))
        metrics = dict(result.metrics or {})
        info = read_trial_file(os.path.join(plan.trials_dir, trial_id)) or {}
        trial_dir = final_segment_dir(plan.trials_dir, trial_id)  # under PBT: its last segment's folder
        value = metrics.get(plan.objective)
        step = metrics.get("step")
        summaries.append(TrialSummary(
            trial_id=trial_id,
            config={k: result.config[k] for k in sorted(result.config)},
            objective=float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None,
            step=int(step) if step is not None else None,
            status=_status(result, metrics, plan),
            trial_dir=trial_dir,
            spec_hash=info.get("spec_hash", ""),
            mlflow_run_id=info.get("mlflow_run_id", ""),
            starts=len(info.get("starts", [])),
            error=_error_line(result.error),
            metrics=metrics,
            segments=max(1, len(info.get("segments") or [])),
        ))
    return sorted(summaries, key=lambda s: s.trial_id)


def _status(result: Any, metrics: dict[str, Any], plan: SweepPlan) -> str:
    if result.error is not None:
        return "error"
    step = metrics.get("step")
    if step is None:
        return "pending"
    if step >= plan.steps:
        return "finished"
    return "stopped" if metrics.get("done") else "unfinished"


def _error_line(error: BaseException | None) -> str:
    if error is None:
        return ""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def best_trial(summaries: list[TrialSummary], mode: str) -> TrialSummary | None:
    """The trial with the best last objective value (ties: the earlier trial)."""
    scored = [s for s in summaries if s.objective is not None]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda s: s.objective)


def trial_steps(summaries: list[TrialSummary]) -> int:
    """Compute spent: optimizer steps summed over trials (an early-stopped trial counts its own)."""
    return sum(s.step or 0 for s in summaries)
