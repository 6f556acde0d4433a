"""Offline RL: generated and file-backed trajectories, the Decision Transformer and behaviour
cloning, rollout evaluation (normalized return) and `runner predict` of a policy."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from runner import api
from runner.metrics import compute_rollout_metrics
from runner.metrics.base import RolloutOutputs
from runner.problems import offline_rl
from runner.problems.offline_rl_policies import EXPERTS
from runner.problems.offline_rl_spec import OfflineRLProblem
from runner.specs.errors import SpecError
from runner.training.evaluate import policy_rollouts

CI_RECIPE = "catalog/recipes/decision_transformer_cartpole_cpu_ci.yaml"


def _spec(**over):
    fields = {"name": "rl_test", "env_id": "CartPole-v1", "metrics": ["normalized_return"], "context_length": 4,
              "dataset": {"quality": "mixed", "train_episodes": 10, "eval_episodes": 2, "test_episodes": 2, "seed": 3},
              "evaluation": {"episodes": 3, "seed": 1000}}
    fields.update(over)
    return OfflineRLProblem.model_validate(fields)


def test_generated_data_is_cached_reproducible_and_mixed(tmp_path):
    data = offline_rl.build(_spec(), tmp_path / "a")
    again = offline_rl.build(_spec(), tmp_path / "b")
    assert data.fingerprint == again.fingerprint
    for split in ("train", "eval", "test"):
        assert np.array_equal(data._load(split)["observations"], again._load(split)["observations"])
    assert offline_rl.build(_spec(), tmp_path / "a").folder == data.folder  # reused, not regenerated
    other = offline_rl.build(_spec(dataset={"quality": "mixed", "train_episodes": 10, "eval_episodes": 2,
                                            "test_episodes": 2, "seed": 4}), tmp_path / "a")
    assert other.fingerprint != data.fingerprint
    # mixed: 3 random, 6 medium, 1 expert in 10; the tenth episode is the expert's full 500 steps
    returns = data.episode_returns("train")
    assert returns[9] == 500 and max(returns[:9]) < 500 and min(returns[[0, 3, 6]]) < min(returns[[1, 2, 4]])
    assert data.references.expert_return == 500 and data.references.random_return < 50
    # the evaluation's target return is not part of the data
    assert offline_rl.build(_spec(evaluation={"episodes": 3, "seed": 1000, "target_return": 250.0}),
                            tmp_path / "a").fingerprint == data.fingerprint


def test_windows_pad_past_the_episode_end_and_carry_returns_to_go(tmp_path):
    data = offline_rl.build(_spec(), tmp_path)
    arrays = data._load("train")
    last = int(arrays["lengths"][0]) - 2  # a window starting two steps before episode 0 ends
    batch = data.collate([data.split("train")[i] for i in (0, last)])
    assert batch["states"].shape == (2, 4, 4) and batch["targets"].shape == (2, 4)
    assert batch["targets"][1, 2:].tolist() == [0, 0] and (batch["targets"][1, :2] > 0).all()
    assert batch["timesteps"][1, :2].tolist() == [last, last + 1]
    episode_return = float(arrays["rewards"][: arrays["lengths"][0]].sum())
    assert batch["returns_to_go"][0, 0].item() == pytest.approx(episode_return / 100.0)
    assert batch["returns_to_go"][1, :2].tolist() == pytest.approx([0.02, 0.01])
    assert torch.equal(batch["targets"][0], torch.from_numpy(arrays["actions"][:4] + 1))


def _hparams(condition_on_return=True):
    from runner.models.decision_transformer_hparams import DecisionTransformerHparams

    return DecisionTransformerHparams(hidden_size=16, filter_size=32, num_decoder_layers=2, num_heads=2,
                                      condition_on_return=condition_on_return, layer_prepostprocess_dropout=0.0,
                                      attention_dropout=0.0, relu_dropout=0.0)


def test_decision_transformer_is_causal_and_bc_ignores_returns(tmp_path):
    from runner.models.decision_transformer import build

    data = offline_rl.build(_spec(), tmp_path)
    batch = data.collate(data.split("train")[0:3])
    torch.manual_seed(0)
    for condition in (True, False):
        model = build(_hparams(condition), data.info).eval()
        base = model(batch).logits
        changed = dict(batch, targets=batch["targets"].clone())
        changed["targets"][:, 2] = 3 - changed["targets"][:, 2]  # flip the action taken at step 2
        out = model(changed).logits
        assert torch.allclose(out[:, :3], base[:, :3], atol=1e-6)  # a_2 is predicted without seeing a_2
        assert not torch.allclose(out[:, 3], base[:, 3])
        other_returns = model(dict(batch, returns_to_go=batch["returns_to_go"] * 3)).logits
        assert torch.allclose(other_returns, base, atol=1e-6) != condition


class _Expert(torch.nn.Module):
    """A 'model' that acts as the scripted expert on the last state of its context."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def act(self, batch):
        return torch.tensor([EXPERTS["CartPole-v1"](s[-1].numpy()) for s in batch["states"]])


def test_rollout_of_the_expert_scores_100_and_the_metric_normalizes(tmp_path):
    data = offline_rl.build(_spec(), tmp_path)
    outputs = policy_rollouts(_Expert(), data)
    assert outputs.returns == [500.0, 500.0, 500.0]
    values, signatures = compute_rollout_metrics(["normalized_return", "episode_return"], outputs)
    assert values["normalized_return"] == pytest.approx(100.0) and values["normalized_return_std"] == 0
    assert signatures["normalized_return"].startswith("env=CartPole-v1|episodes=3|seeds=1000..1002|target_return=500|")
    half = RolloutOutputs([10.0, 30.0], random_return=10.0, expert_return=30.0, signature="s")
    values, _ = compute_rollout_metrics(["normalized_return"], half)
    assert values["normalized_return"] == pytest.approx(50.0) and values["normalized_return_std"] == pytest.approx(50.0)


def _episodes_like_minari(rng, n, steps):
    return [(rng.normal(size=(steps + 1, 4)).astype(np.float32), rng.integers(0, 2, size=steps),
             np.ones(steps, dtype=np.float32)) for _ in range(n)]


def test_minari_and_d4rl_files_are_read_split_and_checked(tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    episodes = _episodes_like_minari(rng, 10, 7)
    minari = tmp_path / "cartpole-test-v0" / "data"
    minari.mkdir(parents=True)
    with h5py.File(minari / "main_data.hdf5", "w") as f:
        for i, (obs, actions, rewards) in enumerate(episodes):
            group = f.create_group(f"episode_{i}")
            group["observations"], group["actions"], group["rewards"] = obs, actions, rewards
            group["terminations"] = np.eye(1, 7, 6, dtype=bool)[0]
            group["truncations"] = np.zeros(7, dtype=bool)
    data = offline_rl.build(_spec(source={"path": str(tmp_path / "cartpole-test-v0"), "format": "minari"}),
                            tmp_path / "cache")
    assert [len(data._load(s)["lengths"]) for s in ("train", "eval", "test")] == [8, 1, 1]
    assert np.array_equal(data._load("test")["observations"], episodes[9][0][:-1])

    d4rl = tmp_path / "cartpole.hdf5"
    with h5py.File(d4rl, "w") as f:
        f["observations"] = np.concatenate([e[0][:-1] for e in episodes])
        f["actions"] = np.concatenate([e[1] for e in episodes])
        f["rewards"] = np.concatenate([e[2] for e in episodes])
        f["terminals"] = np.tile(np.eye(1, 7, 6, dtype=bool)[0], 10)
        f["timeouts"] = np.zeros(70, dtype=bool)
    data = offline_rl.build(_spec(source={"path": str(d4rl), "format": "d4rl"}), tmp_path / "cache")
    assert data._load("train")["lengths"].tolist() == [7] * 8

    with h5py.File(d4rl, "a") as f:
        del f["timeouts"]
    with pytest.raises(SpecError, match="has no 'timeouts' dataset"):
        offline_rl.build(_spec(source={"path": str(d4rl), "format": "d4rl"}), tmp_path / "cache")
    with pytest.raises(SpecError, match="not found"):
        offline_rl.build(_spec(source={"path": str(tmp_path / "missing.hdf5")}), tmp_path / "cache")


@pytest.mark.slow
def test_ci_recipe_trains_scores_rollouts_and_predict_plays_the_policy(tmp_path):
    experiment = api.resolve(CI_RECIPE, [])
    run_dir = tmp_path / "run"
    final = api.train(experiment, str(run_dir), str(tmp_path / "data"), verbose=False)
    for key in ("normalized_return", "normalized_return_std", "episode_return", "episode_return_std", "accuracy"):
        assert key in final, key
    signatures = json.loads((run_dir / "final_metrics_signatures.json").read_text())
    assert "episodes=2|seeds=1000..1001" in signatures["normalized_return"]
    out = subprocess.run([sys.executable, "-m", "runner", "predict", str(run_dir), "--episodes", "2",
                          "--target-return", "300", "--format", "jsonl"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["input"] for line in lines] == ["CartPole-v1 seed 1000, target return 300",
                                                 "CartPole-v1 seed 1001, target return 300"]
    assert all(line["output"].startswith("return ") for line in lines)
    bad = subprocess.run([sys.executable, "-m", "runner", "predict", str(run_dir), "--episodes", "0"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--episodes must be in [1, 10000]" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_behaviour_cloning_ci_recipe_trains_through_ray_and_mlflow(ray_local, runner_data_dir, tmp_path, monkeypatch):
    from runner.launch import run_on_ray

    experiment = api.resolve("catalog/recipes/behaviour_cloning_cartpole_cpu_ci.yaml", [])
    assert experiment.hparams.condition_on_return is False
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    final = run_on_ray(experiment, str(tmp_path / "run"), runner_data_dir)
    assert {"normalized_return", "normalized_return_std", "episode_return"} <= set(final)
    assert json.loads((tmp_path / "run" / "final_metrics.json").read_text()) == pytest.approx(final)
    assert (tmp_path / "run" / "mlflow_run.json").is_file()
