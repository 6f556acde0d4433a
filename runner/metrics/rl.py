"""Offline-RL metrics, from the returns of evaluation rollouts (runner/training/rollout.py)."""

from __future__ import annotations

import numpy as np

from runner.metrics.base import MetricValue, RolloutOutputs


def normalized_return(outputs: RolloutOutputs) -> MetricValue:
    """100 x (return - random policy's) / (expert behaviour policy's - random policy's), averaged
    over the episodes; `std` is the standard deviation over the episodes (D4RL's normalization)."""
    span = outputs.expert_return - outputs.random_return
    if span == 0:
        raise ValueError(f"the expert and the random policy have the same mean return ({outputs.expert_return}) "
                         "on the evaluation seeds, so a normalized return is undefined")
    scores = 100.0 * (np.asarray(outputs.returns, dtype=np.float64) - outputs.random_return) / span
    return MetricValue(float(scores.mean()), outputs.signature, std=float(scores.std()))


def episode_return(outputs: RolloutOutputs) -> MetricValue:
    """The undiscounted return per episode, averaged; `std` over the episodes."""
    returns = np.asarray(outputs.returns, dtype=np.float64)
    return MetricValue(float(returns.mean()), outputs.signature, std=float(returns.std()))
