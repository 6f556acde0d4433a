"""Checkpoints: what a resumed run needs to continue exactly where it stopped.

A checkpoint is a directory:
  model.pt     the model's state_dict (all `average_checkpoints` needs)
  state.pt     optimizer, scheduler, step, data position, RNG states (python, numpy, torch, cuda)
  meta.json    step, epoch, batch index and spec_hash, readable without torch

Saving is atomic at the directory level: files are written to a staging directory, then
`persist` renames it into place (`os.replace` of a finished directory), so a crash leaves
either the previous checkpoints or the new one, never a half-written `step_*` directory.
Everything is loaded with `weights_only=True`: RNG states are stored as tensors and plain
Python values, so no pickled code runs when a checkpoint is read.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from runner.specs.errors import SpecError

MODEL_FILE = "model.pt"
STATE_FILE = "state.pt"
META_FILE = "meta.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")


@dataclass
class DataPosition:
    """Where the training stream stands: the next micro-batch is `batch_plan(epoch)[index]`."""

    epoch: int = 0
    index: int = 0


class CheckpointError(SpecError, ValueError):
    """A checkpoint directory that is missing files or cannot be read (bad input: the CLI exits 2)."""


# ---------------------------------------------------------------------------------------------
# RNG state, in a form torch.load(weights_only=True) accepts
# ---------------------------------------------------------------------------------------------

def capture_rng() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                  "has_gauss": has_gauss, "cached_gaussian": cached},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------------------------------
# Save / load one checkpoint
# ---------------------------------------------------------------------------------------------

def save_checkpoint(
    directory: str,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    step: int,
    position: DataPosition,
    spec_hash: str = "",
    scaler: Any = None,
) -> str:
    """Write a complete checkpoint into `directory` (created if missing); returns it.

    `scaler` is fp16's GradScaler, or None: its loss scale is state like the optimizer's (a resumed
    fp16 run that restarted from the default scale would skip its first steps to find it again).
    """
    os.makedirs(directory, exist_ok=True)
    torch.save(_unwrap(model).state_dict(), os.path.join(directory, MODEL_FILE))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "position": asdict(position),
            "rng": capture_rng(),
            **({"scaler": scaler.state_dict()} if scaler is not None else {}),
        },
        os.path.join(directory, STATE_FILE),
    )
    meta = {"step": step, "epoch": position.epoch, "index": position.index, "spec_hash": spec_hash}
    with open(os.path.join(directory, META_FILE), "w") as f:
        json.dump(meta, f)
    return directory


def new_staging_dir() -> str:
    """A fresh directory to save a checkpoint into before a session persists it."""
    return tempfile.mkdtemp(prefix="runner-checkpoint-")


def read_meta(directory: str) -> dict[str, Any]:
    path = os.path.join(directory, META_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint metadata ({e}); is this a runner checkpoint? "
                              "(a damaged checkpoint folder can be deleted: training resumes from the one before)"
                              ) from None
    if not isinstance(meta, dict) or isinstance(meta.get("step"), bool) or not isinstance(meta.get("step"), int):
        raise CheckpointError(f"{path}: checkpoint metadata without an integer 'step'; is this a runner checkpoint? "
                              "(a damaged checkpoint folder can be deleted)")
    return meta


def _torch_load(path: str, map_location) -> Any:
    """torch.load of one checkpoint file; a truncated or corrupt file is a CheckpointError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, KeyError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: cannot load the checkpoint file ({detail}); it is truncated or corrupt: delete "
                              "its step_* folder (training resumes from the one before) or pass another --checkpoint"
                              ) from None


def load_checkpoint(
    directory: str,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    map_location: torch.device | str = "cpu",
    scaler: Any = None,
) -> tuple[int, DataPosition]:
    """Restore model, optimizer, scheduler, RNG and (fp16) loss-scaler states; returns (step, data position)."""
    for name in (MODEL_FILE, STATE_FILE):
        if not os.path.isfile(os.path.join(directory, name)):
            raise CheckpointError(f"{directory}: checkpoint is missing {name}")
    weights = _torch_load(os.path.join(directory, MODEL_FILE), map_location)
    state = _torch_load(os.path.join(directory, STATE_FILE), "cpu")
    try:
        _unwrap(model).load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        if scaler is not None and state.get("scaler"):  # older checkpoints have none: the scaler starts afresh
            scaler.load_state_dict(state["scaler"])
        return int(state["step"]), DataPosition(**state["position"])
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(f"{directory}: the checkpoint does not fit this run's model and optimizer ({detail}); "
                              "delete the step_* folder to resume from the one before") from None


def load_model_state(directory: str, map_location: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    path = os.path.join(directory, MODEL_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(f"{directory}: checkpoint is missing {MODEL_FILE}")
    return _torch_load(path, map_location)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel (or the model itself)."""
    return getattr(model, "module", model)


# ---------------------------------------------------------------------------------------------
# A folder of checkpoints: step_00000100/, step_00000200/, ...
# ---------------------------------------------------------------------------------------------

def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


def list_checkpoints(root: str) -> list[str]:
    """Complete checkpoints under `root`, oldest first (staging leftovers are ignored)."""
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _STEP_DIR.match(name)
        if match and os.path.isfile(os.path.join(root, name, META_FILE)):
            found.append((int(match.group(1)), os.path.join(root, name)))
    return [path for _, path in sorted(found)]


def latest_checkpoint(root: str) -> str | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def persist(staged: str, root: str, keep: int) -> str:
    """Move a finished checkpoint directory into `root` atomically, then keep only the last `keep`.

    The name comes from the staged checkpoint's own step. A rename is atomic only within one
    filesystem, so the staged files are first copied next to their destination when needed.
    """
    if keep < 1:
        raise ValueError(f"keep_checkpoints must be >= 1, got {keep}")
    step = int(read_meta(staged)["step"])
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, checkpoint_name(step))
    partial = os.path.join(root, f".partial-{checkpoint_name(step)}-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        os.rename(staged, partial)
    except OSError:  # another filesystem (e.g. /tmp on tmpfs): copy, then rename within root
        shutil.copytree(staged, partial)
        shutil.rmtree(staged, ignore_errors=True)
    if os.path.exists(final):  # the same step saved again (a re-run): replace it
        shutil.rmtree(final)
    os.replace(partial, final)
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def average_checkpoints(paths: list[str]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the models in `paths` (T2T's avg_checkpoints).

    Floating-point tensors are averaged in float64 and cast back; integer buffers (counters,
    index tables) cannot be averaged and are taken from the last checkpoint.
    """
    if not paths:
        raise ValueError("average_checkpoints: no checkpoint paths given")
    states = [load_model_state(p) for p in paths]
    keys = list(states[-1])
    for path, state in zip(paths, states):
        if list(state) != keys:
            missing = sorted(set(keys) ^ set(state))
            raise CheckpointError(f"{path}: parameters differ from {paths[-1]} ({missing[:5]}); "
                                  "only checkpoints of one model can be averaged")
    averaged = {}
    for key in keys:
        last = states[-1][key]
        if last.is_floating_point():
            total = torch.zeros_like(last, dtype=torch.float64)
            for state in states:
                total += state[key].to(torch.float64)
            averaged[key] = (total / len(states)).to(last.dtype)
        else:
            averaged[key] = last.clone()
    return averaged
