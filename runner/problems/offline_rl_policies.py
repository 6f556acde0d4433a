"""Scripted behaviour policies and episode rollouts in gymnasium environments (no torch).

Each supported environment has a hand-written expert controller; the quality levels of a
generated dataset are that expert with some probability of a uniformly random action instead
(runner/problems/offline_rl_spec.py). Everything is seeded: an episode's reset takes its own
seed and the policy's coin flips come from one numpy Generator, so a dataset is a pure function
of the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def _cartpole(obs: np.ndarray) -> int:
    # Push toward the side the pole is falling to, with damping on its angular velocity and a
    # weak pull back to the centre: balances for the whole 500-step episode.
    return int(obs[2] + 0.5 * obs[3] + 0.05 * obs[0] + 0.2 * obs[1] > 0)


def _acrobot(obs: np.ndarray) -> int:
    # Torque in the direction the second link already swings: pumps energy in.
    return 2 if obs[5] > 0 else 0


def _mountain_car(obs: np.ndarray) -> int:
    # Accelerate in the direction of motion: builds momentum until the car reaches the flag.
    return 2 if obs[1] > 0 else 0


def _cartpole_medium(obs: np.ndarray) -> int:
    # Reacts to the pole's angular velocity only: keeps it up for a while but lets the cart
    # drift off the track (about 40% of the expert's return), a systematically different policy.
    return int(obs[3] > 0)


# Weaker hand-written controllers; an environment without one uses the epsilon-expert as medium.
MEDIUMS: dict[str, Callable[[np.ndarray], int]] = {"CartPole-v1": _cartpole_medium}

EXPERTS: dict[str, Callable[[np.ndarray], int]] = {
    "CartPole-v1": _cartpole, "Acrobot-v1": _acrobot, "MountainCar-v0": _mountain_car,
}


@dataclass
class Episode:
    observations: np.ndarray  # [T, state_dim] float32
    actions: np.ndarray  # [T] int64
    rewards: np.ndarray  # [T] float32

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())


def make_env(env_id: str):
    import gymnasium as gym

    return gym.make(env_id)


def env_geometry(env_id: str) -> tuple[int, int, int]:
    """(state_dim, number of actions, longest episode) of a discrete-action environment."""
    env = make_env(env_id)
    try:
        return int(env.observation_space.shape[0]), int(env.action_space.n), int(env.spec.max_episode_steps)
    finally:
        env.close()


def epsilon_policy(env_id: str, epsilon: float, rng: np.random.Generator, num_actions: int,
                   controller: Callable[[np.ndarray], int] | None = None) -> Callable[[np.ndarray], int]:
    """The controller (default: the expert), replaced by a uniformly random action with probability `epsilon`."""
    expert = controller or EXPERTS[env_id]

    def act(obs: np.ndarray) -> int:
        if epsilon > 0 and rng.random() < epsilon:
            return int(rng.integers(num_actions))
        return expert(obs)

    return act


def run_episode(env, policy: Callable[[np.ndarray], int], seed: int) -> Episode:
    obs, _ = env.reset(seed=int(seed))
    observations, actions, rewards = [], [], []
    done = False
    while not done:
        action = policy(obs)
        observations.append(np.asarray(obs, dtype=np.float32))
        actions.append(action)
        obs, reward, terminated, truncated, _ = env.step(action)
        rewards.append(float(reward))
        done = terminated or truncated
    return Episode(np.stack(observations), np.asarray(actions, dtype=np.int64), np.asarray(rewards, dtype=np.float32))


def policy_returns(env_id: str, epsilon: float, seeds: Sequence[int], coin_seed: int) -> list[float]:
    """Returns of the epsilon-expert on the given reset seeds (epsilon 1 = the random policy)."""
    env = make_env(env_id)
    try:
        num_actions = int(env.action_space.n)
        rng = np.random.default_rng([coin_seed, 7])
        return [run_episode(env, epsilon_policy(env_id, epsilon, rng, num_actions), s).ret for s in seeds]
    finally:
        env.close()
