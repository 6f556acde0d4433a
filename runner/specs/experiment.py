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

from runner.specs.hparams_base import TrainingHparams, unhashed_defaults
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

        # Plugins are code: import the ones an experiment names only once its values are known to be
        # the ones that were hashed (a hand-edited run folder or record names no module to import).
        modules = plugin_modules(data)
        if modules and not verified_before_import(data):
            raise ValueError("spec_hash does not match the experiment's values (was it edited by hand?); its "
                             f"plugins ({', '.join(map(str, modules))}) were not imported")
        registry.import_plugins(modules)
        problem_cls = registry.family(data["problem"]["family"]).config_class()
        hparams_cls = registry.model_for(data["model"]).config_class()
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
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping of the experiment's sections, got {type(data).__name__}")
    sections = [data, data.get("model"), data.get("problem")]
    found = [m for section in sections if isinstance(section, dict) for m in (section.get("plugins") or [])]
    return list(dict.fromkeys(found))


# train fields added after spec_hashes were published, with the default that is the behaviour from
# before they existed (runner/training/precision.py): hashed only once they leave it.
_TRAIN_ADDED_DEFAULTS = {"precision": "auto", "compile": False}


def canonical_json(experiment: Experiment) -> str:
    return _canonical(experiment.to_dict(), unhashed_defaults(type(experiment.hparams)),
                      unhashed_defaults(type(experiment.problem)))


def _canonical(data: dict[str, Any], added_defaults: dict[str, Any],
               added_problem_defaults: dict[str, Any] | None = None) -> str:
    data = {k: v for k, v in data.items() if k not in _NOT_HASHED}
    data = {k: ({kk: vv for kk, vv in v.items() if kk not in _NOTES} if isinstance(v, dict) else v)
            for k, v in data.items()}
    # A field added after results were recorded is hashed only once it leaves its default (the
    # behaviour from before it existed), so experiments recorded earlier keep their spec_hash.
    if isinstance(data.get("hparams"), dict):
        data["hparams"] = {k: v for k, v in data["hparams"].items()
                           if not (k in added_defaults and v == added_defaults[k])}
    if isinstance(data.get("train"), dict):
        data["train"] = {k: v for k, v in data["train"].items()
                         if not (k in _TRAIN_ADDED_DEFAULTS and v == _TRAIN_ADDED_DEFAULTS[k])}
    if added_problem_defaults and isinstance(data.get("problem"), dict):
        data["problem"] = {k: v for k, v in data["problem"].items()
                           if not (k in added_problem_defaults and v == added_problem_defaults[k])}
    return json.dumps(_no_negative_zero(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stored_hash(data: dict[str, Any], added_defaults: dict[str, Any] | None = None,
                added_problem_defaults: dict[str, Any] | None = None) -> str:
    """The hash of an experiment as stored (a run folder's experiment.yaml, a record's embedded spec),
    computed without validating it and without importing anything."""
    try:
        return hashlib.sha256(_canonical(data, added_defaults or {}, added_problem_defaults).encode("utf-8")).hexdigest()
    except (TypeError, ValueError, AttributeError):  # not JSON-able: it cannot match any hash
        return ""


def verified_before_import(data: Any) -> bool:
    """Whether a stored experiment's values hash to its spec_hash, judged before any plugin is imported
    (a built-in model's added hparams defaults are known without plugins; a plugin model's are not needed)."""
    if not isinstance(data, dict) or not isinstance(data.get("spec_hash"), str):
        return False
    if stored_hash(data) == data["spec_hash"]:
        return True
    from runner import registry

    try:
        hparams_cls = registry.model_for(data["model"]).config_class()
        problem_cls = registry.family(data["problem"]["family"]).config_class()
    except Exception:  # noqa: BLE001 - a plugin's model or family (not imported yet) or a malformed section
        return False
    return stored_hash(data, unhashed_defaults(hparams_cls), unhashed_defaults(problem_cls)) == data["spec_hash"]


def _no_negative_zero(value: Any) -> Any:
    """-0.0 is the same value as 0.0 and must hash the same (JSON would write '-0.0')."""
    if isinstance(value, float) and value == 0.0:
        return 0.0
    if isinstance(value, dict):
        return {k: _no_negative_zero(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_negative_zero(v) for v in value]
    return value


def make_experiment(*, recipe: str, problem: ProblemSpec, model: ModelSpec, hparams_set: str,
                    hparams: TrainingHparams, train: TrainSpec, decode: DecodeSpec | None = None,
                    resources: ResourcesSpec | None = None, tracking: TrackingSpec | None = None,
                    tune: TuneSpec | None = None, plugins: list[str] | tuple[str, ...] = (),
                    description: str = "") -> Experiment:
    """The one way to put a resolved Experiment together from its validated sections (resolve does
    it from YAML; tests and the API from objects): the global batch derived, the spec hashed."""
    resources = resources or ResourcesSpec()
    experiment = Experiment(
        recipe=recipe, description=description, problem=problem, model=model, hparams_set=hparams_set,
        hparams=hparams, train=train, decode=decode or DecodeSpec(), resources=resources, tune=tune,
        tracking=tracking or TrackingSpec(), plugins=list(plugins),
        global_batch=global_batch(hparams, train, resources),
    )
    return experiment.model_copy(update={"spec_hash": compute_hash(experiment)})


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
