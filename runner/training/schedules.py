"""Learning rate as a product of named factors, with Tensor2Tensor's arithmetic.

`learning_rate_schedule: "constant*linear_warmup*rsqrt_decay*rsqrt_hidden_size"` multiplies
the factors below, exactly as T2T's `utils/learning_rate.py` (`learning_rate_factor`) does:

  constant                learning_rate_constant
  linear_warmup           min(1, step / warmup_steps)
  exp_warmup              0.01 ** ((warmup_steps - step) / warmup_steps) before warmup_steps, then 1: the
                          warmup of T2T's "legacy" schedule (learning_rate_decay_scheme other than noam),
                          which T2T's lstm, resnet and shake-shake sets train with
  rsqrt_decay             1 / sqrt(max(step, warmup_steps))
  rsqrt_normalized_decay  sqrt(warmup_steps) / sqrt(max(step, warmup_steps))
  rsqrt_hidden_size       hidden_size ** -0.5
  cosine_decay            1 while step <= warmup_steps, then 0.5 * (1 + cos(pi * min(step, decay) / decay))
                          (the min() keeps the rate from rising again past decay)
  cosdecay                T2T's own factor of that name: cosine_decay without the min(), so past decay
                          steps the rate rises again, as T2T's did
  linear_decay            min(1, max(0, (train_steps - step) / decay_steps))

`decay` / `decay_steps` is `learning_rate_decay_steps`, or `train.steps` when that is 0.

Step numbering: the k-th optimizer update uses step k (1-based). T2T evaluated the schedule at
the global step *before* the update, so its first update ran at step 0 with a zero rate under
`linear_warmup`; starting at 1 makes every update count and keeps `rsqrt_decay` finite when
warmup is 0. The value for a given step is T2T's.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from runner.specs.hparams_base import SCHEDULE_FACTORS


class ScheduleError(ValueError):
    """A schedule that cannot be computed from the given hparams."""


def _factor(name: str, step: float, hp: Any, train_steps: int) -> float:
    warmup = hp.learning_rate_warmup_steps
    decay = hp.learning_rate_decay_steps or train_steps
    if name == "constant":
        return hp.learning_rate_constant
    if name == "linear_warmup":
        # T2T divides by warmup_steps; with 0 warmup min(1, step/0) is 1 for any step > 0.
        return 1.0 if warmup == 0 else min(1.0, step / warmup)
    if name == "exp_warmup":
        return 1.0 if step >= warmup else 0.01 ** ((warmup - step) / warmup)
    if name == "rsqrt_decay":
        return 1.0 / math.sqrt(max(step, warmup))
    if name == "rsqrt_normalized_decay":
        return math.sqrt(warmup) / math.sqrt(max(step, warmup))
    if name == "rsqrt_hidden_size":
        return hp.hidden_size**-0.5
    if name == "cosine_decay":
        if step <= warmup:
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step, decay) / decay))
    if name == "cosdecay":
        return 1.0 if step <= warmup else 0.5 * (1.0 + math.cos(math.pi * step / decay))
    if name == "linear_decay":
        return min(1.0, max(0.0, (train_steps - step) / decay))
    raise ScheduleError(f"unknown learning-rate factor '{name}'; expected one of {', '.join(SCHEDULE_FACTORS)}")


def parse_schedule(schedule: str) -> list[str]:
    """The factor names of a schedule string, stripped, in order."""
    names = [n.strip() for n in schedule.split("*") if n.strip()]
    unknown = [n for n in names if n not in SCHEDULE_FACTORS]
    if unknown or not names:
        raise ScheduleError(
            f"hparams.learning_rate_schedule '{schedule}': unknown factor(s) {unknown or [schedule]}; "
            f"expected factors joined by '*' from: {', '.join(SCHEDULE_FACTORS)}"
        )
    return names


def learning_rate_fn(hparams: Any, train_steps: int) -> Callable[[int], float]:
    """`step -> learning rate` for `hparams.learning_rate_schedule`; checks the hparams up front."""
    names = parse_schedule(hparams.learning_rate_schedule)
    if "rsqrt_hidden_size" in names and getattr(hparams, "hidden_size", None) is None:
        raise ScheduleError(
            "hparams.learning_rate_schedule uses 'rsqrt_hidden_size' but these hparams have no "
            "hidden_size; drop the factor or use a model with a hidden_size"
        )
    if ({"cosine_decay", "cosdecay", "linear_decay"} & set(names)) and not (hparams.learning_rate_decay_steps or train_steps):
        raise ScheduleError("cosine_decay/cosdecay/linear_decay need learning_rate_decay_steps > 0 or train.steps > 0")

    def rate(step: int) -> float:
        value = 1.0
        for name in names:
            value *= _factor(name, float(step), hparams, train_steps)
        return value

    return rate


def build_scheduler(optimizer: torch.optim.Optimizer, hparams: Any, train_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR whose rate at update k (1-based) is the schedule's value at step k.

    The optimizer's base lr must be 1.0 (`build_optimizer` does this): the lambda returns the
    whole rate, not a multiplier of some other base. LambdaLR's `last_epoch` counts completed
    updates, so it is saved and restored with the scheduler's state_dict.
    """
    for group in optimizer.param_groups:
        if group.get("initial_lr", group["lr"]) != 1.0:
            raise ScheduleError(f"build_scheduler expects the optimizer's base lr to be 1.0, found {group['lr']}")
    rate = learning_rate_fn(hparams, train_steps)
    # LambdaLR calls the lambda with the number of completed updates; the next update is +1.
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda completed: rate(completed + 1))
