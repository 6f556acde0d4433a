"""Optimizers from the shared training hparams (T2T names), built on torch.optim.

Every optimizer is created with base lr 1.0: the schedule (`schedules.build_scheduler`)
supplies the whole learning rate, as T2T's `learning_rate_schedule` does.

Weight decay never applies to 1-D parameters (biases, LayerNorm/RMSNorm scales): decaying
them towards zero only hurts, and every modern recipe (nanoGPT, fairseq, HF) excludes them.
"""

from __future__ import annotations

from typing import Any

import torch

from runner.training.adafactor import T2TAdafactor


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two groups: matrices/embeddings (decayed) and 1-D tensors (not decayed)."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: torch.nn.Module, hparams: Any, device: torch.device | str = "cpu") -> torch.optim.Optimizer:
    """The optimizer named by `hparams.optimizer`, base lr 1.0, for `model`'s trainable parameters."""
    device = torch.device(device)
    groups = parameter_groups(model, hparams.weight_decay)
    # Fused kernels on CUDA and CPU: one kernel per step for all parameters. Left to itself, torch
    # picks foreach on CUDA but a per-parameter loop on CPU (~7 small ops per parameter tensor,
    # each an OpenMP region: costly on a busy machine); HF's Trainer defaults to fused AdamW too.
    # benchmarks/throughput.py measured the change (see README, Benchmarks).
    fast = {"fused": True} if device.type in ("cuda", "cpu") else {}
    name = hparams.optimizer
    if name == "adam":
        # T2T's Adam: coupled L2 (weight decay added to the gradient), betas/epsilon from hparams.
        return torch.optim.Adam(
            groups,
            lr=1.0,
            betas=(hparams.optimizer_adam_beta1, hparams.optimizer_adam_beta2),
            eps=hparams.optimizer_adam_epsilon,
            **fast,
        )
    if name == "adamw":
        return torch.optim.AdamW(
            groups,
            lr=1.0,
            betas=(hparams.optimizer_adam_beta1, hparams.optimizer_adam_beta2),
            eps=hparams.optimizer_adam_epsilon,
            **fast,
        )
    if name == "adafactor":
        return T2TAdafactor(
            groups, lr=1.0,
            beta1=hparams.optimizer_adafactor_beta1,
            beta2=hparams.optimizer_adafactor_beta2,
            decay_type=hparams.optimizer_adafactor_decay_type,
            memory_exponent=hparams.optimizer_adafactor_memory_exponent,
            clipping_threshold=hparams.optimizer_adafactor_clipping_threshold,
            factored=hparams.optimizer_adafactor_factored,
            multiply_by_parameter_scale=hparams.optimizer_adafactor_multiply_by_parameter_scale,
        )
    if name == "sgd":
        return torch.optim.SGD(groups, lr=1.0, momentum=hparams.optimizer_momentum_momentum,
                               nesterov=getattr(hparams, "optimizer_momentum_nesterov", False), **fast)
    raise ValueError(f"hparams.optimizer: unknown optimizer '{name}'; expected one of adam, adamw, adafactor, sgd")
