"""How the loop computes on its device: precision, TF32, torch.compile, host-to-device copies.

`train.precision` (resolved spec, also shown by `runner run --dry-run`):
- auto: bf16 autocast on a CUDA GPU with bf16 (Ampere and later), fp16 with a gradient scaler on
  an older one, fp32 on CPU (bf16 on CPU is slower there and changes the numbers: CPU runs keep
  their bit-exact fp32 results).
- bf16: autocast to bfloat16 on any device (on CPU too: tests use it to check the path).
- fp16: autocast to float16 plus `torch.amp.GradScaler` (fp16's range needs loss scaling); GPUs only.
- fp32: no autocast; on CUDA also no TF32, so fp32 means full fp32 matmuls.
Under autocast the weights and the optimizer state stay fp32 (mixed precision, as NVIDIA's and
fairseq's recipes do). TF32 is turned on for CUDA matmuls and convolutions outside fp32 mode:
the few fp32 matmuls left under autocast lose nothing a bf16 run has not already given up.

`train.compile: true` wraps the trained module (DDP included, after wrapping, as torch advises)
in `torch.compile`; evaluation and decoding use the plain module. Off by default: compiling
takes a minute or more and token-bucketed batches change shape, which costs recompiles until
torch marks the dimensions dynamic.

Batches go to a CUDA device from pinned host memory with non_blocking copies, so the copy of
the next micro-batch overlaps the GPU's work on this one.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' made concrete for this device: 'fp32', 'bf16' or 'fp16'."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision: unknown '{precision}'; expected one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


class Precision:
    """The loop's precision policy: its autocast context, backward and optimizer step."""

    def __init__(self, precision: str, device: torch.device | str):
        self.device = torch.device(device)
        self.name = resolve_precision(precision, self.device)
        if self.name == "fp16" and self.device.type != "cuda":
            raise ValueError("train.precision fp16 needs a CUDA GPU (its gradient scaler is CUDA's); "
                             "use bf16 or fp32 on CPU")
        if self.device.type == "cuda":
            allow = self.name != "fp32"
            torch.backends.cuda.matmul.allow_tf32 = allow
            torch.backends.cudnn.allow_tf32 = allow
        self.scaler = torch.amp.GradScaler("cuda") if self.name == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.name])

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Before clipping or measuring gradients: fp16's scaled gradients back to their true size."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimizer step (fp16: skipped by the scaler when a gradient overflowed)."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()


def compiled(module: torch.nn.Module, enabled: bool) -> torch.nn.Module:
    """`torch.compile(module)` when train.compile is on; the module itself otherwise."""
    return torch.compile(module) if enabled else module


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, Any]:
    """Move a collated batch to the device: pinned memory and non-blocking copies on CUDA."""
    if device.type != "cuda":
        return {k: v.to(device) for k, v in batch.items()}
    return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}

