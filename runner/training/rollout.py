"""Rolling a trained policy out in its environment: the offline-RL evaluation, and `runner predict`.

All episodes run in lockstep, one environment each, so every step is one batched forward of the
model over the last `context_length` timesteps of each live episode. Episode i resets with seed
`seeds[i]`, so the same model and seeds give the same returns. The return-to-go fed to a
return-conditioned model starts at `target_return` and drops by each reward received (the
Decision Transformer's evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from runner.problems.offline_rl_policies import make_env


@dataclass(frozen=True)
class Rollouts:
    returns: list[float]
    lengths: list[int]


def target_return_of(data: Any, requested: float | None = None) -> float:
    """The return to condition on: `requested`, else the problem's evaluation.target_return,
    else the expert behaviour policy's mean return on the evaluation seeds."""
    if requested is None:
        requested = data.evaluation.target_return
    return float(data.references.expert_return if requested is None else requested)


@torch.no_grad()
def rollout(model: torch.nn.Module, info: Any, seeds: Sequence[int], target_return: float) -> Rollouts:
    """One greedy episode per seed; the policy acts through `model.act(batch)`."""
    n, k = len(seeds), info.context_length
    envs = [make_env(info.env_id) for _ in seeds]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        horizon = info.max_timestep
        states = np.zeros((n, horizon + 1, info.state_dim), dtype=np.float32)
        actions = np.zeros((n, horizon + 1), dtype=np.int64)  # action + 1; 0 = not taken yet
        rtg = np.zeros((n, horizon + 1), dtype=np.float32)
        returns, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
        alive = np.ones(n, dtype=bool)
        for i, (env, seed) in enumerate(zip(envs, seeds)):
            states[i, 0] = env.reset(seed=int(seed))[0]
            rtg[i, 0] = target_return
        t = 0
        while alive.any() and t < horizon:
            rows = np.flatnonzero(alive)
            lo = max(0, t + 1 - k)
            batch = {
                "states": torch.from_numpy(states[rows, lo:t + 1]).to(device),
                "returns_to_go": torch.from_numpy(rtg[rows, lo:t + 1] / info.return_scale).to(device),
                "timesteps": torch.arange(lo, t + 1, device=device).expand(len(rows), -1),
                "targets": torch.from_numpy(actions[rows, lo:t + 1]).to(device),
            }
            chosen = model.act(batch).cpu().numpy()
            for row, action in zip(rows, chosen):
                obs, reward, terminated, truncated, _ = envs[row].step(int(action))
                actions[row, t] = action + 1
                returns[row] += reward
                lengths[row] += 1
                states[row, t + 1] = obs
                rtg[row, t + 1] = rtg[row, t] - reward
                if terminated or truncated:
                    alive[row] = False
            t += 1
        return Rollouts([float(r) for r in returns], [int(x) for x in lengths])
    finally:
        model.train(was_training)
        for env in envs:
            env.close()
