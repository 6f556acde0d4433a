"""Small helpers the sequence models share for reading batches and DataInfo with clear errors."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def require(batch: dict[str, Tensor], key: str, model: str) -> Tensor:
    """batch[key], or an error naming the model, the missing key and the keys the batch has."""
    if key not in batch:
        raise ValueError(f"{model} needs batch['{key}'], but the batch only has {sorted(batch)}")
    return batch[key]


def require_token_inputs(info: Any, model: str) -> None:
    """Token-id models reject problems whose inputs are features or pixels, before building."""
    kind = info.input_kind
    if kind != "tokens":
        raise ValueError(f"{model} reads token ids, but the problem's input_kind is '{kind}'; "
                         f"use a model made for '{kind}' inputs (e.g. speech_transformer for features)")


def sum_aux(*losses: Tensor | None) -> Tensor | None:
    """Sum of the auxiliary losses that exist (MoE stacks return one, dense stacks None)."""
    present = [loss for loss in losses if loss is not None]
    return sum(present[1:], present[0]) if present else None
