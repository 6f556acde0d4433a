"""Sampling from autoregressive models: temperature, top-k, top-p (nucleus), a seed, several
samples per input. Used by `runner predict` for language models and image generation.

    sample(model, batch, *, max_length, ...) -> list[list[int]]     token models (encode/decode)
    sample_images(model, num_images, *, ...) -> np.ndarray          image_transformer, int [N, H, W, C]

Both run the model's incremental step functions (runner/models/incremental.py), so each new
token costs one step, not a pass over the whole prefix. The same seed gives the same samples
on the same device; `top_k=1` is greedy decoding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from runner.training.decode import (
    EOS_ID, PAD_ID, NextTokenLogits, decode_autocast, encoder_inputs, memory_rows, strip_ids,
)


def check_sampling_settings(max_length: int, temperature: float, top_k: int, top_p: float, num_samples: int) -> None:
    """One clear message per bad setting (raised as ValueError; the CLI reports it with exit 2)."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature} (use top_k=1 for greedy)")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 = no top-k filtering), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 = no nucleus filtering), got {top_p}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """logits [N, V] / temperature, with -inf outside the top_k tokens (0 = all) and outside the
    nucleus: the smallest set of most likely tokens whose probability reaches top_p (1 = all).
    The most likely token is always kept."""
    logits = logits.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # probability of the more likely tokens
        drop_sorted = mass_before >= top_p
        drop_sorted[:, 0] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None  # torch's global RNG
    return torch.Generator(device=device).manual_seed(int(seed))


def _draw(logits: Tensor, temperature: float, top_k: int, top_p: float, generator: torch.Generator | None) -> Tensor:
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


@torch.no_grad()
def sample(
    model: Any, batch: dict[str, Tensor], *, max_length: int, temperature: float = 1.0, top_k: int = 0,
    top_p: float = 1.0, num_samples: int = 1, seed: int | None = None, cached: bool = True,
    prompt: Sequence[int] = (),
) -> list[list[int]]:
    """`num_samples` sampled continuations for each row of `batch`, up to `max_length` tokens.

    `batch` is what model.encode takes (its "targets" are never read): a translation /
    summarisation batch with "inputs", or for a plain language model any batch whose first
    dimension is the number of rows, e.g. {"targets": torch.zeros(n, 1, dtype=torch.long)}.
    Returns len(rows) * num_samples id lists (no start symbol, no EOS); row b's samples are
    at b * num_samples ... b * num_samples + num_samples - 1. A sample ends at EOS.
    `prompt`: target tokens forced (the same for every row) before drawing starts, e.g. the
    beginning of a language model's text; the returned lists leave it out.
    """
    check_sampling_settings(max_length, temperature, top_k, top_p, num_samples)
    was_training = model.training
    model.eval()
    try:
        with decode_autocast(next(model.parameters()).device):
            return _sample(model, batch, max_length, temperature, top_k, top_p, num_samples, seed, cached,
                           list(prompt))
    finally:
        model.train(was_training)


def _sample(model: Any, batch: dict[str, Tensor], max_length: int, temperature: float, top_k: int, top_p: float,
            num_samples: int, seed: int | None, cached: bool, prompt: list[int]) -> list[list[int]]:
    inputs = encoder_inputs(batch)
    if not inputs and "targets" in batch:  # a plain language model: only the number of rows is read
        inputs = {"targets": batch["targets"][:, :0]}
    memory = model.encode(inputs)
    rows = memory_rows(memory) * num_samples
    device = next(iter(memory.values())).device
    generator = _generator(seed, device)
    stepper = NextTokenLogits(model, memory, num_samples, cached)
    logits = stepper.first
    prefix = torch.full((rows, 1), PAD_ID, dtype=torch.long, device=device)
    for token in prompt:  # forced through the same incremental decoder, nothing drawn
        prefix = torch.cat([prefix, torch.full((rows, 1), token, dtype=torch.long, device=device)], dim=1)
        logits = stepper.next_logits(prefix)
    finished = torch.zeros(rows, dtype=torch.bool, device=device)
    for step in range(max_length):
        token = _draw(logits, temperature, top_k, top_p, generator)
        token = torch.where(finished, torch.full_like(token, PAD_ID), token)
        prefix = torch.cat([prefix, token[:, None]], dim=1)
        finished |= token == EOS_ID
        if step + 1 == max_length or bool(finished.all()):
            break
        logits = stepper.next_logits(prefix)
    return [strip_ids(row[1 + len(prompt):]) for row in prefix.tolist()]


@torch.no_grad()
def sample_images(
    model: Any, num_images: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
    seed: int | None = None, batch_size: int = 16, cached: bool = True, progress: Any = None,
) -> np.ndarray:
    """`num_images` images generated sub-pixel by sub-pixel (raster order) by an
    image_transformer: an int64 array [N, H, W, C] of intensities in [0, levels).
    `batch_size` images are generated together; `progress(n)` is called after each step with
    the number of sub-pixels it drew."""
    check_sampling_settings(1, temperature, top_k, top_p, 1)
    if num_images < 0 or batch_size < 1:
        raise ValueError(f"num_images must be >= 0 and batch_size >= 1, got {num_images} and {batch_size}")
    device = next(model.parameters()).device
    generator = _generator(seed, device)
    was_training = model.training
    model.eval()
    images = []
    try:
        with decode_autocast(device):
            for start in range(0, num_images, batch_size):
                count = min(batch_size, num_images - start)
                images.append(_generate_image_batch(model, count, temperature, top_k, top_p, generator, cached,
                                                    progress))
    finally:
        model.train(was_training)
    height, width, channels = model.image_shape
    if not images:
        return np.zeros((0, height, width, channels), dtype=np.int64)
    return torch.cat(images).view(num_images, height, width, channels).cpu().numpy()


def _generate_image_batch(model: Any, count: int, temperature: float, top_k: int, top_p: float,
                          generator: torch.Generator | None, cached: bool, progress: Any) -> Tensor:
    device = next(model.parameters()).device
    values = torch.zeros(count, model.length, dtype=torch.long, device=device)
    logits, state = model.start_generation(count) if cached else (model.logits_after(values[:, :0]), None)
    for position in range(model.length):
        values[:, position] = _draw(logits, temperature, top_k, top_p, generator)
        if progress is not None:
            progress(count)
        if position + 1 == model.length:
            break
        if cached:
            logits, state = model.decode_step(state, values[:, position])
        else:
            logits = model.logits_after(values[:, :position + 1])
    return values
