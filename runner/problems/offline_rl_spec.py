"""Spec of the offline reinforcement-learning family (torch-free).

Trajectories either come from scripted behaviour policies run in a `gymnasium` environment
(generated and cached like any datagen: reproducible from `dataset.seed`), or from a
Minari / D4RL HDF5 file the user has on disk (`source.path`). The model is scored by rolling
it out in the same environment (`evaluation`), not on held-out trajectories.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runner.specs.base import Spec
from runner.specs.problem_base import ProblemSpec

# Environments with a scripted expert in runner/problems/offline_rl_policies.py. Discrete
# action spaces only: the models predict an action class.
EnvId = Literal["CartPole-v1", "Acrobot-v1", "MountainCar-v0"]
Quality = Literal["random", "medium", "expert", "mixed"]


class ScriptedDataset(Spec):
    """Episodes of a scripted behaviour policy (D4RL's naming): `expert` is the environment's
    hand-written controller; `medium` a weaker hand-written one (CartPole: it reacts to the
    pole's angular velocity only), or for an environment without one the expert taking a
    uniformly random action with probability `medium_epsilon`; `random` acts uniformly at random;
    `mixed` is 3/10 random, 6/10 medium and 1/10 expert episodes, so that most of its steps are
    not the expert's (behaviour cloning imitates the majority) while its best episodes are."""

    quality: Quality = Field("mixed", description="Which behaviour policy generates the episodes.")
    train_episodes: int = Field(300, ge=1, description="Episodes in the train split.")
    eval_episodes: int = Field(30, ge=1, description="Episodes in the eval split (teacher-forced eval loss).")
    test_episodes: int = Field(30, ge=1, description="Episodes in the test split (teacher-forced test metrics).")
    medium_epsilon: float = Field(0.5, ge=0.0, le=1.0, description="Random-action probability of `medium` where the environment has no medium controller.")
    noise: float = Field(0.0, ge=0.0, le=1.0,
                         description="Random-action probability of the expert and the medium controller: "
                         "noisier behaviour.")
    seed: int = Field(1, ge=0, description="Seeds the environments' resets and the policies' coins.")


class LocalTrajectories(Spec):
    """A Minari dataset folder (its data/main_data.hdf5: one group per episode) or a D4RL
    HDF5 file (flat observations/actions/rewards/terminals/timeouts arrays)."""

    path: str = Field(description="The Minari dataset folder, its main_data.hdf5, or a D4RL .hdf5 file.")
    format: Literal["minari", "d4rl"] = Field("minari", description="Layout of the HDF5 file.")
    eval_fraction: float = Field(0.1, gt=0, lt=1, description="Share of the episodes held out for eval.")
    test_fraction: float = Field(0.1, gt=0, lt=1, description="Share of the episodes held out for test.")


class RolloutEvaluation(Spec):
    """How the policy is scored: `episodes` rollouts, environment seeds seed, seed+1, ...,
    conditioned on `target_return` (return-conditioned models only)."""

    episodes: int = Field(20, ge=1, le=10000, description="Evaluation episodes.")
    seed: int = Field(1000, ge=0, description="Seed of the first evaluation episode (the next ones count up).")
    target_return: float | None = Field(
        None, description="Return the Decision Transformer is asked for; unset = the expert policy's mean "
        "return on the evaluation seeds.")


class OfflineRLProblem(ProblemSpec):
    """Offline RL on a gymnasium environment: learn a policy from fixed trajectories."""

    family: Literal["offline_rl"] = "offline_rl"
    env_id: EnvId = Field(description="The gymnasium environment (discrete actions).")
    dataset: ScriptedDataset = ScriptedDataset()
    source: LocalTrajectories | None = Field(
        None, description="Read trajectories from this file instead of generating them.")
    context_length: int = Field(20, ge=1, le=1000, description="Timesteps per training window (the DT paper's K).")
    return_scale: float = Field(
        100.0, gt=0, description="Returns-to-go are divided by this before the model sees them.")
    evaluation: RolloutEvaluation = RolloutEvaluation()

    @model_validator(mode="after")
    def _fractions(self) -> "OfflineRLProblem":
        if self.source is not None and self.source.eval_fraction + self.source.test_fraction >= 1:
            raise ValueError("source.eval_fraction + source.test_fraction must leave episodes to train on (below 1)")
        return self
