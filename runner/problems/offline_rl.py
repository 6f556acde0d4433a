"""Offline RL data: trajectories as fixed-length windows of (return-to-go, state, action).

Datagen runs the spec's scripted behaviour policy (offline_rl_policies.py) for each split's
episodes, or reads a Minari / D4RL file (offline_rl_files.py), and caches the episodes as one
npz per split (cache.py: fingerprinted, built whole or not at all). It also rolls the random and
the expert policy out on the evaluation seeds: their mean returns are the 0 and 100 of the
normalized return (runner/metrics/rl.py), stored in meta.json with the data.

Every timestep of every episode starts one training window of up to `context_length` steps
(the Decision Transformer samples window starts uniformly over timesteps; this enumerates
them); a window that runs past its episode's end is padded on the right, with target 0.
Actions are classes 1..A (0 is padding), so the shared cross-entropy and accuracy apply.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.problems import cache
from runner.problems.base import DataInfo, ProblemData, check_split_name, example_batches
from runner.problems.offline_rl_policies import (
    MEDIUMS, Episode, env_geometry, epsilon_policy, make_env, policy_returns, run_episode,
)
from runner.problems.offline_rl_spec import OfflineRLProblem
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)

_SPLITS = ("train", "eval", "test")
# A mixed dataset's episodes, in turn: 3 random, 6 medium, 1 expert in every 10. Behaviour cloning
# imitates the action most of the data's STEPS take in a state; expert episodes are the longest
# (CartPole: 500 steps against the medium's ~200), so with fewer of them the medium controller's
# steps outweigh the expert's, while the expert's episodes (the highest returns) are still there
# for a return-conditioned model to pick out.
MIXED_CYCLE = ("random", "medium", "medium", "random", "medium", "medium", "random", "medium", "medium", "expert")
_NOT_IN_FINGERPRINT = {"description": True, "metrics": True, "max_length": True, "context_length": True,
                       "return_scale": True, "evaluation": {"target_return"}}


@dataclass(frozen=True)
class TrajectoryInfo(DataInfo):
    """DataInfo plus what a policy model needs: the environment's shapes and the window length."""

    env_id: str = ""
    state_dim: int = 0
    num_actions: int = 0
    max_timestep: int = 0  # the environment's longest episode: timestep embeddings go up to it
    context_length: int = 1
    return_scale: float = 1.0


@dataclass(frozen=True)
class References:
    """Mean returns of the random and the expert behaviour policy on the evaluation seeds."""

    random_return: float
    expert_return: float


def returns_to_go(rewards: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For each step, the sum of its episode's rewards from that step on."""
    out = np.empty_like(rewards, dtype=np.float32)
    start = 0
    for n in lengths.tolist():
        out[start:start + n] = np.cumsum(rewards[start:start + n][::-1])[::-1]
        start += n
    return out


class TrajectoryData(ProblemData):
    def __init__(self, folder: Path, spec: OfflineRLProblem):
        meta = cache.read_meta(folder)
        self.fingerprint = meta["fingerprint"]
        self.references = References(**meta["references"])
        self.info = TrajectoryInfo(
            input_vocab_size=meta["num_actions"] + 1, target_vocab_size=meta["num_actions"] + 1,
            input_kind="trajectories", env_id=spec.env_id, state_dim=meta["state_dim"],
            num_actions=meta["num_actions"], max_timestep=meta["max_timestep"],
            context_length=spec.context_length, return_scale=spec.return_scale)
        self.evaluation = spec.evaluation
        self._splits: dict[str, dict[str, np.ndarray]] = {}
        self.folder = folder  # its meta.json is the run's data_assets/ (runner/problems/assets.py)

    def _load(self, split: str) -> dict[str, np.ndarray]:
        check_split_name(split)
        if split not in self._splits:
            with np.load(self.folder / f"{split}.npz") as f:
                arrays = {k: f[k] for k in f.files}
            lengths = arrays["lengths"]
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            arrays["rtg"] = returns_to_go(arrays["rewards"], lengths)
            arrays["episode_end"] = np.repeat(starts + lengths, lengths)  # flat index one past the episode
            arrays["timestep"] = np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
            self._splits[split] = arrays
        return self._splits[split]

    def split(self, name: str) -> Sequence[tuple[str, int]]:
        """One window per step of every episode: (split, flat index of its first step)."""
        return _Windows(name, len(self._load(name)["actions"]))

    def episode_returns(self, split: str) -> np.ndarray:
        arrays = self._load(split)
        ends = np.cumsum(arrays["lengths"])
        return np.add.reduceat(arrays["rewards"], ends - arrays["lengths"]) if len(ends) else np.zeros(0)

    def batch_plan(self, split, batch_size, max_length, seed, epoch, shuffle):
        return example_batches(len(self.split(split)), batch_size, seed, epoch, shuffle)

    def collate(self, examples: Sequence[tuple[str, int]]) -> dict[str, Any]:
        """states [B, K, S] float, returns_to_go [B, K] (scaled), timesteps [B, K], targets [B, K]
        (action + 1; 0 past the episode's end)."""
        import torch

        splits = {split for split, _ in examples}
        if len(splits) != 1:
            raise ValueError(f"a batch of windows must come from one split, got {sorted(splits)}")
        arrays, k = self._load(splits.pop()), self.info.context_length
        starts = np.asarray([start for _, start in examples], dtype=np.int64)
        index = starts[:, None] + np.arange(k)[None, :]  # [B, K] flat steps
        valid = index < arrays["episode_end"][starts][:, None]
        index = np.where(valid, index, starts[:, None])  # any in-range index; masked below
        states = np.where(valid[..., None], arrays["observations"][index], 0.0).astype(np.float32)
        return {
            "states": torch.from_numpy(states),
            "returns_to_go": torch.from_numpy(np.where(valid, arrays["rtg"][index] / self.info.return_scale, 0.0)
                                              .astype(np.float32)),
            "timesteps": torch.from_numpy(np.where(valid, np.minimum(arrays["timestep"][index], self.info.max_timestep),
                                                   0).astype(np.int64)),
            "targets": torch.from_numpy(np.where(valid, arrays["actions"][index] + 1, 0).astype(np.int64)),
        }


class _Windows(Sequence):
    """A split's windows without materializing them: item i is (split, i)."""

    def __init__(self, split: str, n: int):
        self.name, self.n = split, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [(self.name, j) for j in range(self.n)[i]]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        return (self.name, i % self.n)


def locate(spec: OfflineRLProblem, data_dir: str | Path) -> cache.Located:
    spec_data = spec.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT)
    hashes = None
    if spec.source is not None:
        from runner.problems.offline_rl_files import source_file

        path = source_file(spec.source)
        hashes = cache.content_hashes([path], Path(data_dir))
        origin = f"{spec.source.format} file {path}"
    else:
        origin = f"generated ({spec.dataset.quality} {spec.env_id}, seed {spec.dataset.seed}; no download)"
    fp = cache.fingerprint(spec_data, hashes)
    return cache.Located(None, "generated" if spec.source is None else "local", origin, spec_data, fp,
                         cache.cache_folder(Path(data_dir), spec.name, fp))


def build(spec: OfflineRLProblem, data_dir: str | Path) -> TrajectoryData:
    at = locate(spec, data_dir)
    cache.ensure(at.folder, lambda: _generate(spec, at.folder, at.fingerprint, at.spec_data))
    return TrajectoryData(at.folder, spec)


def from_assets(spec: OfflineRLProblem, folder: Path) -> TrajectoryData:
    """Shapes and reference returns from a run's data_assets/meta.json; no split is read."""
    return TrajectoryData(folder, spec)


def scripted_episodes(spec: OfflineRLProblem, split: str, n: int) -> list[Episode]:
    """`n` episodes of the spec's behaviour policy; split i uses reset seeds from its own range."""
    d = spec.dataset
    split_index = _SPLITS.index(split)
    rng = np.random.default_rng([d.seed, split_index])
    env = make_env(spec.env_id)
    try:
        num_actions = int(env.action_space.n)
        # quality -> (random-action probability, controller)
        levels = {"random": (1.0, None), "expert": (d.noise, None),
                  "medium": ((d.noise, MEDIUMS[spec.env_id]) if spec.env_id in MEDIUMS
                             else (d.medium_epsilon + (1 - d.medium_epsilon) * d.noise, None))}
        qualities = [d.quality] * n if d.quality != "mixed" else [MIXED_CYCLE[i % len(MIXED_CYCLE)] for i in range(n)]
        reset_base = 1_000_000 * (split_index + 1) + 10_000 * d.seed  # far from the evaluation seeds
        return [run_episode(env, epsilon_policy(spec.env_id, levels[q][0], rng, num_actions, levels[q][1]),
                            reset_base + i) for i, q in enumerate(qualities)]
    finally:
        env.close()


def _write_split(folder: Path, split: str, episodes: list[Episode]) -> int:
    if not episodes:
        raise SpecError(f"the {split} split has no episodes", field="problem.source")
    np.savez(folder / f"{split}.npz",
             observations=np.concatenate([e.observations for e in episodes]).astype(np.float32),
             actions=np.concatenate([e.actions for e in episodes]).astype(np.int64),
             rewards=np.concatenate([e.rewards for e in episodes]).astype(np.float32),
             lengths=np.asarray([len(e.actions) for e in episodes], dtype=np.int64))
    return len(episodes)


def _generate(spec: OfflineRLProblem, folder: Path, fp: str, spec_data: dict) -> None:
    started = time.perf_counter()
    state_dim, num_actions, max_timestep = env_geometry(spec.env_id)
    if spec.source is not None:
        from runner.problems.offline_rl_files import read_episodes, split_episodes

        splits = split_episodes(read_episodes(spec.source, state_dim, num_actions), spec.source)
    else:
        sizes = {"train": spec.dataset.train_episodes, "eval": spec.dataset.eval_episodes,
                 "test": spec.dataset.test_episodes}
        splits = {split: scripted_episodes(spec, split, n) for split, n in sizes.items()}
    seeds = evaluation_seeds(spec)
    references = {"random_return": float(np.mean(policy_returns(spec.env_id, 1.0, seeds, spec.dataset.seed))),
                  "expert_return": float(np.mean(policy_returns(spec.env_id, spec.dataset.noise, seeds,
                                                                spec.dataset.seed)))}
    meta = {"fingerprint": fp, "problem": spec.name, "family": spec.family, "has_inputs": True,
            "source": spec.env_id, "spec": spec_data, "state_dim": state_dim, "num_actions": num_actions,
            "max_timestep": max_timestep, "references": references}
    with cache.atomic_folder(folder, meta) as tmp:
        counts = {split: _write_split(tmp, split, episodes) for split, episodes in splits.items()}
        meta.update(splits=counts, datagen_seconds=round(time.perf_counter() - started, 3))
    log.info("datagen: %s: %s episodes in %.1f s", spec.name, counts, time.perf_counter() - started)


def evaluation_seeds(spec: OfflineRLProblem) -> list[int]:
    return [spec.evaluation.seed + i for i in range(spec.evaluation.episodes)]
