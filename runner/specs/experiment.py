"""The resolved experiment: one frozen, fully explicit spec, and its `spec_hash`.

`spec_hash` is the sha256 of the canonical JSON (sorted keys, no whitespace) of every
*effective* value. Descriptions, the recipe's name, tracking settings and derived fields do
not change what is trained, so they are left out: the same experiment written in any key
order, formatting or file name hashes the same; any changed value hashes differently. The
hash names output folders, tags MLflow runs, keys resumption and identifies leaderboard rows.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import Field, SerializeAsAny, model_validator

from runner.models.hparams_base import TrainingHparams, unhashed_defaults
from runner.specs.base import PlainName, Spec
from runner.specs.problem_base import PROBLEM_NOTES, ProblemSpec
from runner.specs.schemas import DecodeSpec, ModelSpec, ResourcesSpec, TrackingSpec, TrainSpec, TuneSpec

_NOT_HASHED = ("recipe", "description", "tracking", "global_batch", "spec_hash", "replay_steps")
# Notes about a section that change nothing trained (the problem's T2T provenance).
_NOTES = ("description",) + PROBLEM_NOTES


class GlobalBatch(Spec):
    """How the batch that one optimizer step sees is made (derived; not hashed)."""

    per_worker: int
    workers: int
    gradient_accumulation_steps: int
    total: int
    unit: str = Field(description="'tokens' or 'examples'")
    formula: str


class Experiment(Spec):
    recipe: PlainName
    description: str = ""
    problem: SerializeAsAny[ProblemSpec]
    model: ModelSpec
    hparams_set: PlainName
    hparams: SerializeAsAny[TrainingHparams]
    train: TrainSpec
    decode: DecodeSpec
    resources: ResourcesSpec
    tune: TuneSpec | None = None
    tracking: TrackingSpec
    plugins: list[str] = Field(default_factory=list)
    global_batch: GlobalBatch
    spec_hash: str = ""
    # `runner run --replay-steps N`: train exactly N steps with the time budget off. Not hashed: it
    # repeats a time-budgeted run of this very spec (its LR schedule, data order and seeds) up to
    # the step that run reached, so a reproduction compares like with like on any machine speed.
    replay_steps: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _replay_needs_a_budget(self):
        if self.replay_steps is not None:
            if not self.train.time_budget_minutes:
                raise ValueError("replay_steps replays a time-budgeted run; this spec has no train.time_budget_minutes "
                                 "(set train.steps instead)")
            if self.replay_steps > self.train.steps:
                raise ValueError(f"replay_steps {self.replay_steps} is more than train.steps {self.train.steps}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Experiment":
        """Rebuild an experiment (e.g. inside a Ray worker) with the right subclasses."""
        from runner import registry

        registry.import_plugins(plugin_modules(data))
        problem_cls = registry.family(data["problem"]["family"]).config_class()
        hparams_cls = registry.model(data["model"]["implementation"]).config_class()
        fields = dict(data)
        fields["problem"] = problem_cls.model_validate(data["problem"])
        fields["hparams"] = hparams_cls.model_validate(data["hparams"])
        experiment = cls.model_validate(fields)
        if experiment.spec_hash != compute_hash(experiment):
            raise ValueError("spec_hash does not match the experiment's values (was it edited by hand?)")
        return experiment

    def with_changes(self, **sections: Any) -> "Experiment":
        """A copy with whole sections replaced and the hash recomputed."""
        updated = self.model_copy(update=sections)
        return updated.model_copy(update={"spec_hash": compute_hash(updated)})


def plugin_modules(experiment: "Experiment | dict[str, Any]") -> list[str]:
    """Every module the experiment needs imported: the recipe's, the model's and the problem's plugins."""
    data = experiment if isinstance(experiment, dict) else experiment.to_dict()
    found = list(data.get("plugins") or []) + list(data["model"].get("plugins") or []) \
        + list(data["problem"].get("plugins") or [])
    return list(dict.fromkeys(found))


def canonical_json(experiment: Experiment) -> str:
    data = experiment.to_dict()
    for key in _NOT_HASHED:
        data.pop(key, None)
    for section in data.values():
        if isinstance(section, dict):
            for note in _NOTES:
                section.pop(note, None)
    # A field added after results were recorded is hashed only once it leaves its default (the
    # behaviour from before it existed), so experiments recorded earlier keep their spec_hash.
    for name, default in unhashed_defaults(type(experiment.hparams)).items():
        if data["hparams"].get(name) == default:
            data["hparams"].pop(name)
    return json.dumps(_no_negative_zero(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _no_negative_zero(value: Any) -> Any:
    """-0.0 is the same value as 0.0 and must hash the same (JSON would write '-0.0')."""
    if isinstance(value, float) and value == 0.0:
        return 0.0
    if isinstance(value, dict):
        return {k: _no_negative_zero(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_negative_zero(v) for v in value]
    return value


def compute_hash(experiment: Experiment) -> str:
    return hashlib.sha256(canonical_json(experiment).encode("utf-8")).hexdigest()


def global_batch(hparams: TrainingHparams, train: TrainSpec, resources: ResourcesSpec) -> GlobalBatch:
    unit = getattr(type(hparams), "batch_unit", "tokens")
    total = hparams.batch_size * resources.workers * train.gradient_accumulation_steps
    return GlobalBatch(
        per_worker=hparams.batch_size,
        workers=resources.workers,
        gradient_accumulation_steps=train.gradient_accumulation_steps,
        total=total,
        unit=unit,
        formula=f"{hparams.batch_size} {unit}/worker x {resources.workers} workers x "
        f"{train.gradient_accumulation_steps} accumulation steps = {total} {unit} per optimizer step",
    )
