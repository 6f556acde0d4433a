"""Trajectories from files users already have: Minari datasets and D4RL HDF5 files.

Minari (Farama's successor to D4RL) stores a dataset as a folder with data/main_data.hdf5:
one group `episode_<i>` per episode holding `observations` [T+1, S] (the last one is the state
after the final step), `actions` [T], `rewards` [T], `terminations` [T] and `truncations` [T].
D4RL stores flat arrays over all steps: `observations` [N, S], `actions` [N], `rewards` [N],
`terminals` [N] and `timeouts` [N]; an episode ends at a step where either is set.
Errors name the file and the dataset that is wrong, and say what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runner.problems.offline_rl_policies import Episode
from runner.problems.offline_rl_spec import LocalTrajectories
from runner.problems.local_or_hub import find_local
from runner.specs.errors import Location, SpecError


def source_file(source: LocalTrajectories) -> Path:
    """The HDF5 file: `path` itself, or a Minari folder's data/main_data.hdf5."""
    found = find_local(source.path)
    if found is None:
        raise SpecError(f"trajectory file or folder '{source.path}' not found", field="problem.source.path")
    found = Path(found)
    if found.is_dir():
        for candidate in (found / "data" / "main_data.hdf5", found / "main_data.hdf5"):
            if candidate.is_file():
                return candidate
        raise SpecError(f"'{found}' is a folder without data/main_data.hdf5 (a Minari dataset folder has one)",
                        field="problem.source.path")
    return found


def _open(path: Path):
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise SpecError("reading Minari/D4RL files needs h5py: pip install h5py", field="problem.source") from None
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise SpecError(f"cannot read as HDF5 ({exc})", Location(str(path))) from None


def _array(group, name: str, path: Path, where: str) -> np.ndarray:
    if name not in group:
        raise SpecError(f"{where} has no '{name}' dataset (has: {', '.join(sorted(group.keys())) or 'nothing'})",
                        Location(str(path)))
    return np.asarray(group[name][()])


def _episode(obs, actions, rewards, state_dim: int, num_actions: int, path: Path, where: str) -> Episode:
    obs = np.asarray(obs, dtype=np.float32)
    if obs.ndim != 2 or obs.shape[1] != state_dim:
        raise SpecError(f"{where}: observations of shape {list(obs.shape)}, expected [steps, {state_dim}] for "
                        "this environment", Location(str(path)))
    actions = np.asarray(actions).reshape(-1)
    if len(actions) == 0 or len(actions) != len(obs) or len(rewards) != len(actions):
        raise SpecError(f"{where}: {len(obs)} observations, {len(actions)} actions and {len(rewards)} rewards; "
                        "they must be the same non-zero count", Location(str(path)))
    if not np.all(np.equal(np.mod(actions, 1), 0)) or actions.min() < 0 or actions.max() >= num_actions:
        raise SpecError(f"{where}: actions must be integers in 0..{num_actions - 1} (this environment's discrete "
                        f"actions), found {actions.min()}..{actions.max()}", Location(str(path)))
    return Episode(obs, actions.astype(np.int64), np.asarray(rewards, dtype=np.float32).reshape(-1))


def read_episodes(source: LocalTrajectories, state_dim: int, num_actions: int) -> list[Episode]:
    path = source_file(source)
    with _open(path) as f:
        if source.format == "minari":
            names = sorted((k for k in f.keys() if k.startswith("episode_")), key=lambda k: int(k.split("_")[1]))
            if not names:
                raise SpecError("no episode_<i> groups: not a Minari main_data.hdf5 (format: d4rl for flat arrays?)",
                                Location(str(path)))
            episodes = []
            for name in names:
                group = f[name]
                obs = _array(group, "observations", path, name)[:-1]  # drop the state after the last step
                episodes.append(_episode(obs, _array(group, "actions", path, name),
                                         _array(group, "rewards", path, name), state_dim, num_actions, path, name))
            return episodes
        obs = _array(f, "observations", path, "the file")
        actions, rewards = _array(f, "actions", path, "the file"), _array(f, "rewards", path, "the file")
        ends = _array(f, "terminals", path, "the file").astype(bool) | _array(f, "timeouts", path, "the file").astype(bool)
    stops = np.flatnonzero(ends) + 1
    if len(stops) == 0 or stops[-1] != len(ends):
        stops = np.append(stops, len(ends))  # a last episode cut off by the end of the file
    bounds = zip(np.concatenate([[0], stops[:-1]]), stops)
    return [_episode(obs[a:b], actions[a:b], rewards[a:b], state_dim, num_actions, path, f"episode {i} (steps {a}..{b - 1})")
            for i, (a, b) in enumerate(bounds)]


def split_episodes(episodes: list[Episode], source: LocalTrajectories) -> dict[str, list[Episode]]:
    """The last episodes go to test, the ones before them to eval (file order: reproducible)."""
    n = len(episodes)
    n_test, n_eval = max(1, round(n * source.test_fraction)), max(1, round(n * source.eval_fraction))
    if n - n_test - n_eval < 1:
        raise SpecError(f"{n} episodes are too few to split into train, eval and test", field="problem.source")
    return {"train": episodes[:n - n_test - n_eval], "eval": episodes[n - n_test - n_eval:n - n_test],
            "test": episodes[n - n_test:]}
