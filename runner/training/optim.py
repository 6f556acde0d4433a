"""Optimizers from the shared training hparams (T2T names), built on torch.optim.

Every optimizer is created with base lr 1.0: the schedule (`schedules.build_scheduler`)
supplies the whole learning rate, as T2T's `learning_rate_schedule` does.

By default (weight_decay_skips: 1d) weight decay never applies to 1-D parameters (biases,
LayerNorm/RMSNorm scales): decaying them towards zero only hurts, and every modern recipe
(nanoGPT, fairseq, HF) excludes them. T2T skipped only conv/dense biases; its conv-net sets
(resnet_50, shakeshake_*) say weight_decay_skips: biases.
"""

from __future__ import annotations

from typing import Any

import torch

from runner.training.adafactor import T2TAdafactor


def _is_layer_bias(model: torch.nn.Module, name: str, param: torch.Tensor) -> bool:
    """A conv/dense bias: 1-D, named 'bias', not a normalization layer's shift (T2T decays those)."""
    if param.ndim != 1 or not name.endswith("bias"):
        return False
    owner = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    return not isinstance(owner, (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm))


def parameter_groups(model: torch.nn.Module, weight_decay: float, skips: str = "1d") -> list[dict[str, Any]]:
    """Two groups: decayed and not. skips '1d' (ours): every 1-D tensor (biases, norm scales and
    shifts) is not decayed; 'biases' (T2T's weight_decay(skip_biases=True)): only conv/dense biases."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skipped = param.ndim < 2 if skips == "1d" else _is_layer_bias(model, name, param)
        (no_decay if skipped else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: torch.nn.Module, hparams: Any, device: torch.device | str = "cpu") -> torch.optim.Optimizer:
    """The optimizer named by `hparams.optimizer`, base lr 1.0, for `model`'s trainable parameters."""
    device = torch.device(device)
    groups = parameter_groups(model, hparams.weight_decay, getattr(hparams, "weight_decay_skips", "1d"))
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
