"""A trial's record (trial.json) and, under PBT, its segments: which run folder a start trains in.

Without PBT a trial is one run folder, `<sweep>/trials/<trial_id>/`. Under PBT a trial changes
hparams mid-run: an *exploit* restarts it from a better trial's checkpoint under perturbed
hparams. A run folder holds one spec, and MLflow params cannot change, so each exploit opens a
new *segment*: its own run folder `<sweep>/trials/<trial_id>-seg<k>/` (experiment.yaml with the
new hparams) and its own MLflow child run, tagged with where it came from (the parent trial and
the step of the exploit). The trial's own folder keeps `trial.json`:

    {"trial_id", "config", "spec_hash", "mlflow_run_id", "starts": [time, ...],
     "segments": [{"dir", "spec_hash", "mlflow_run_id", "config", "parent_trial", "exploit_step",
                   "from_checkpoint", "parent_run_id"}, ...]}

where the top-level spec_hash / mlflow_run_id are the current (last) segment's.

A start is an exploit when Tune hands the trial a checkpoint saved by *another* trial (Tune's
checkpoint folders sit under the trial that saved them, named by trial id, see
tune_results.trial_dirname) that is not the one the current segment already started from (a
restarted sweep hands the same clone again: that continues the segment).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from runner.run_dir import write_json_atomic

TRIAL_FILE = "trial.json"


@dataclass(frozen=True)
class Segment:
    index: int
    dir: str                       # absolute run folder of this segment
    parent_trial: str | None = None
    exploit_step: int | None = None
    from_checkpoint: str | None = None
    parent_run_id: str | None = None

    @property
    def is_exploit(self) -> bool:
        return self.parent_trial is not None


def read_trial_file(trial_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(trial_dir, TRIAL_FILE)) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def segment_dir(trials_dir: str, trial_id: str, index: int) -> str:
    return os.path.join(trials_dir, trial_id if index == 0 else f"{trial_id}-seg{index}")


def checkpoint_owner(checkpoint_path: str | None) -> str | None:
    """The trial id that saved a Tune checkpoint (its folder's parent is named by the trial id)."""
    if not checkpoint_path:
        return None
    return os.path.basename(os.path.dirname(os.path.normpath(checkpoint_path))) or None


def current_segment(trials_dir: str, trial_id: str, checkpoint_path: str | None,
                    checkpoint_step: int | None = None) -> Segment:
    """The segment this start trains in: the last one, or a new one after an exploit."""
    info = read_trial_file(os.path.join(trials_dir, trial_id)) or {}
    segments = info.get("segments") or []
    owner = checkpoint_owner(checkpoint_path)
    last = segments[-1] if segments else None
    exploit = (owner is not None and owner != trial_id
               and (last is None or last.get("from_checkpoint") != checkpoint_path))
    if not exploit:
        index = len(segments) - 1 if segments else 0
        if last is None:
            return Segment(0, segment_dir(trials_dir, trial_id, 0))
        return Segment(index, segment_dir(trials_dir, trial_id, index), last.get("parent_trial"),
                       last.get("exploit_step"), last.get("from_checkpoint"), last.get("parent_run_id"))
    index = len(segments)
    parent_info = read_trial_file(os.path.join(trials_dir, owner)) or {}
    return Segment(index, segment_dir(trials_dir, trial_id, index), owner, checkpoint_step, checkpoint_path,
                   parent_info.get("mlflow_run_id"))


def record_start(trials_dir: str, trial_id: str, segment: Segment, config: dict[str, Any], spec_hash: str,
                 run_id: str) -> str | None:
    """Append this start to trial.json; returns the MLflow run of the segment it replaces (or None)."""
    trial_dir = os.path.join(trials_dir, trial_id)
    info = read_trial_file(trial_dir) or {"trial_id": trial_id, "config": config, "starts": [], "segments": []}
    info.setdefault("segments", [])
    replaced = None
    entry = {"dir": os.path.basename(segment.dir), "spec_hash": spec_hash, "mlflow_run_id": run_id,
             "config": config, "parent_trial": segment.parent_trial, "exploit_step": segment.exploit_step,
             "from_checkpoint": segment.from_checkpoint, "parent_run_id": segment.parent_run_id}
    if segment.index < len(info["segments"]):
        info["segments"][segment.index] = entry
    else:
        if info["segments"]:
            replaced = info["segments"][-1].get("mlflow_run_id")
        info["segments"].append(entry)
    info["starts"].append(time.time())
    info["spec_hash"], info["mlflow_run_id"] = spec_hash, run_id
    os.makedirs(trial_dir, exist_ok=True)
    write_json_atomic(os.path.join(trial_dir, TRIAL_FILE), info)
    return replaced


def final_segment_dir(trials_dir: str, trial_id: str) -> str:
    """The run folder holding the trial's outcome: its last segment's (the trial's own without PBT)."""
    info = read_trial_file(os.path.join(trials_dir, trial_id)) or {}
    segments = info.get("segments") or []
    return os.path.join(trials_dir, segments[-1]["dir"]) if segments else os.path.join(trials_dir, trial_id)
