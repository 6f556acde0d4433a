"""Tensor2Tensor's Adafactor (utils/adafactor.py, Shazeer & Stern 2018), for `optimizer: adafactor`.

torch.optim.Adafactor is a different algorithm in the details that decide a run: its epsilon1
defaults to the dtype's eps (T2T: 1e-30, added to the squared gradient), it caps the relative
step at min(lr, 1/sqrt(step)) (T2T applies the learning rate it is given: the schedule), it has
no update clipping (T2T: clipping_threshold 1.0) and its decay is 1 - step^-0.8 only. This is
T2T's update, step for step:

  decay  = 1 - step^-memory_exponent ("pow"), or beta2 (1 - beta2^(step-1)) / (1 - beta2^step) ("adam")
  g2     = grad^2 + 1e-30
  v      = decay v + (1 - decay) g2           (factored for matrices: row and column means of g2,
                                              v = outer(v_row, v_col) / mean(v_row))
  x      = grad / sqrt(v), divided by max(1, rms(x) / clipping_threshold)
  scale  = lr * max(rms(param), 1e-3) when multiply_by_parameter_scale, else lr
  param -= scale * x                          (or its beta1 moving average when beta1 > 0)

`step` counts updates from 1 (T2T's global step before the update, plus one). Weight decay is
added to the gradient (T2T adds it to the loss). A conv weight [out, in, kh, kw] is factored over
(in, out) for each kernel position, as T2T factors TF's [kh, kw, in, out] over its last two axes.
"""

from __future__ import annotations

import torch

EPSILON1 = 1e-30  # T2T's, added to the squared gradient
EPSILON2 = 1e-3   # T2T's, the floor of the parameter scale


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.pow(2).mean().sqrt()


def _matrices(t: torch.Tensor) -> torch.Tensor:
    """A view whose last two axes are the factored (in, out) axes: [out, in] -> [in, out];
    [out, in, kh, kw] -> [kh*kw, in, out]."""
    if t.ndim == 2:
        return t.t()
    return t.reshape(t.shape[0], t.shape[1], -1).permute(2, 1, 0)


class T2TAdafactor(torch.optim.Optimizer):
    def __init__(self, params, lr: float = 1.0, *, beta1: float = 0.0, beta2: float = 0.999,
                 decay_type: str = "pow", memory_exponent: float = 0.8, clipping_threshold: float = 1.0,
                 factored: bool = True, multiply_by_parameter_scale: bool = True, weight_decay: float = 0.0):
        if decay_type not in ("pow", "adam"):
            raise ValueError(f"optimizer_adafactor_decay_type '{decay_type}': expected 'pow' or 'adam'")
        defaults = dict(lr=lr, beta1=beta1, beta2=beta2, decay_type=decay_type, memory_exponent=memory_exponent,
                        clipping_threshold=clipping_threshold, factored=factored,
                        multiply_by_parameter_scale=multiply_by_parameter_scale, weight_decay=weight_decay)
        super().__init__(params, defaults)

    @staticmethod
    def _decay(group: dict, step: int) -> float:
        if group["decay_type"] == "adam":
            beta2 = group["beta2"]
            return beta2 * (1.0 - beta2 ** (step - 1)) / (1.0 - beta2**step)
        return 1.0 - step ** (-group["memory_exponent"])

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                self._update(param, group)
        return loss

    def _update(self, param: torch.Tensor, group: dict) -> None:
        grad = param.grad.float()
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * param.float()
        state = self.state[param]
        factored = group["factored"] and param.ndim >= 2
        if not state:
            state["step"] = 0
            if factored:
                shape = _matrices(grad).shape
                state["v_row"] = torch.zeros(shape[:-1], dtype=torch.float32, device=param.device)
                state["v_col"] = torch.zeros(shape[:-2] + shape[-1:], dtype=torch.float32, device=param.device)
            else:
                state["v"] = torch.zeros_like(grad)
            if group["beta1"]:
                state["m"] = torch.zeros_like(grad)
        state["step"] += 1
        decay = self._decay(group, state["step"])
        squared = grad * grad + EPSILON1
        if factored:
            g, g2 = _matrices(grad), _matrices(squared)
            state["v_row"].mul_(decay).add_(g2.mean(dim=-1), alpha=1.0 - decay)
            state["v_col"].mul_(decay).add_(g2.mean(dim=-2), alpha=1.0 - decay)
            row = (state["v_row"] / state["v_row"].mean(dim=-1, keepdim=True)).rsqrt()
            col = state["v_col"].rsqrt()
            x = g * row.unsqueeze(-1) * col.unsqueeze(-2)
            x = x.t() if param.ndim == 2 else x.permute(2, 1, 0).reshape(grad.shape)
        else:
            state["v"].mul_(decay).add_(squared, alpha=1.0 - decay)
            x = grad * state["v"].rsqrt()
        if group["clipping_threshold"]:
            x = x / torch.clamp(_rms(x) / group["clipping_threshold"], min=1.0)
        scale = group["lr"]
        if group["multiply_by_parameter_scale"]:
            scale = scale * torch.clamp(_rms(param.float()), min=EPSILON2)
        subtrahend = scale * x
        if group["beta1"]:
            state["m"].mul_(group["beta1"]).add_(subtrahend, alpha=1.0 - group["beta1"])
            subtrahend = state["m"]
        param.sub_(subtrahend.to(param.dtype))
