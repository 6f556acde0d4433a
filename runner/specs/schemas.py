"""Pydantic schemas of the spec kinds that are not owned by a model or problem family.

- `ModelSpec` (catalog/models/*.yaml): names an implementation in the registry.
- `HparamsSetSpec` (catalog/hparams/*.yaml): values for one model's typed hparams; may `extends:`.
- `HparamsRangeSpec` (catalog/hparams/*.yaml with `kind: hparams_range`): a T2T-style search space.
- `RecipeSpec` (catalog/recipes/*.yaml): problem + model + hparams + overrides + train + resources
  + decode + tune + tracking.
Problem specs are per family (`runner/problems/*_spec.py`); hparams schemas are per model.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from runner.specs.base import PlainName, Spec
from runner.specs.metric_names import METRIC_MODES
from runner.specs.problem_base import differs_from_t2t_field, t2t_source_field


class ModelSpec(Spec):
    name: PlainName = Field("", description="Filled in from the file stem.")
    description: str = ""
    implementation: str = Field("", description="Registry key of the torch implementation; default: the name.")
    plugins: list[str] = Field(default_factory=list,
                               description="Python modules that register the implementation (a user's own model).")


class HparamsSetSpec(Spec):
    kind: Literal["hparams_set"] = "hparams_set"
    name: PlainName = ""
    description: str = ""
    model: str = Field(description="The catalog model these values are for.")
    extends: str | None = Field(None, description="Another set to inherit from; this set overrides a few values.")
    t2t_source: str | None = t2t_source_field()
    differs_from_t2t: str | None = differs_from_t2t_field()
    hparams: dict[str, Any] = Field(default_factory=dict)


class FloatRange(Spec):
    type: Literal["float"]
    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _bounds(self):
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log-scale range must be positive; low is {self.low} (use scale: linear, or low > 0)")
        return self


class IntRange(FloatRange):
    type: Literal["int"]  # type: ignore[assignment]
    low: int  # type: ignore[assignment]
    high: int  # type: ignore[assignment]


class DiscreteRange(Spec):
    type: Literal["discrete"]
    values: list[float | int] = Field(min_length=1)


class CategoricalRange(Spec):
    type: Literal["categorical"]
    choices: list[str | int | float | bool] = Field(min_length=1)


ParamRange = Annotated[Union[FloatRange, IntRange, DiscreteRange, CategoricalRange], Field(discriminator="type")]


class HparamsRangeSpec(Spec):
    kind: Literal["hparams_range"]
    name: PlainName = ""
    description: str = ""
    base: str = Field(description="The hparams set the ranges vary.")
    t2t_source: str | None = t2t_source_field()
    differs_from_t2t: str | None = differs_from_t2t_field()
    ranges: dict[str, ParamRange] = Field(min_length=1)


class TrainSpec(Spec):
    steps: int = Field(250_000, gt=0, description="Optimizer steps (T2T --train_steps, whose default this is).")
    eval_steps: int = Field(100, ge=0, description="Eval batches per periodic eval (T2T --eval_steps); 0 = all.")
    eval_every: int = Field(1000, gt=0, description="Steps between evals (T2T --local_eval_frequency).")
    seed: int = 1
    checkpoint_every: int = Field(0, ge=0, description="Steps between checkpoints; 0 = at every eval.")
    keep_checkpoints: int = Field(5, gt=0, description="Keep the last K checkpoints.")
    log_every: int = Field(100, gt=0, description="Steps between progress lines (train loss, tokens/s).")
    gradient_accumulation_steps: int = Field(1, gt=0)
    time_budget_minutes: float = Field(0, ge=0, description="Stop gracefully after this much training time; 0 = none.")
    max_failures: int = Field(0, ge=-1, description="Ray Train restarts after a worker failure (-1 = unlimited).")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 autocast on a GPU with bf16 (else fp16 + grad scaler), fp32 on CPU; "
                            "fp16 needs a GPU. See runner/training/precision.py.")
    compile: bool = Field(False, description="torch.compile the trained module (a GPU speed-up; compiling takes "
                                             "a minute or more).")


class DecodeSpec(Spec):
    beam_size: int = Field(4, gt=0, description="1 = greedy (T2T --decode_hparams=beam_size).")
    alpha: float = Field(0.6, ge=0.0, description="Length penalty exponent: ((5+len)/6)^alpha.")
    extra_length: int = Field(100, ge=0, description="Decode at most input length + extra_length tokens (T2T's decode_hparams default, 100).")
    batch_size: int = Field(64, gt=0, description=(
        "Sentences per decoding batch on average: batches are packed by input tokens (batch_size x the mean "
        "input length), so short sentences share larger batches and long ones smaller."))
    max_examples: int = Field(0, ge=0, description="Decode only the first N test examples; 0 = all.")


class ResourcesSpec(Spec):
    workers: int = Field(1, gt=0, description="Ray Train workers (T2T --worker_gpu / --worker_replicas).")
    gpus_per_worker: float = Field(0, ge=0)
    cpus_per_worker: float = Field(1, gt=0)
    accelerator: Literal["cpu", "gpu", "tpu"] = "cpu"
    tpu_topology: str | None = Field(None, description="e.g. '2x2x1' (accelerator: tpu; untested here).")

    @model_validator(mode="after")
    def _consistent(self):
        if self.accelerator == "gpu" and self.gpus_per_worker <= 0:
            raise ValueError("accelerator gpu needs gpus_per_worker >= 1 (or set accelerator: cpu)")
        if self.accelerator == "cpu" and self.gpus_per_worker > 0:
            raise ValueError(
                f"accelerator cpu with gpus_per_worker {self.gpus_per_worker}; "
                "set accelerator: gpu, or gpus_per_worker: 0"
            )
        return self


class SchedulerSpec(Spec):
    type: Literal["fifo", "asha", "median", "pbt"] = "fifo"
    grace_period: int = Field(1, gt=0, description="ASHA/median: evals before a trial may be stopped.")
    reduction_factor: float = Field(3, gt=1, description="ASHA: keep 1/reduction_factor at each rung.")
    perturbation_interval: int = Field(2, gt=0, description="PBT: evals between exploit/explore.")


class TuneSpec(Spec):
    range: str = Field(description="The hparams range to search (T2T --autotune_parameters).")
    objective: str = Field("neg_log_perplexity", description="Metric to optimize (T2T --autotune_objective).")
    mode: Literal["max", "min"] | None = Field(None, description="Default: the metric's natural direction.")
    max_trials: int = Field(10, gt=0)
    parallel_trials: int = Field(1, gt=0)
    search: Literal["random", "grid", "optuna"] = "random"
    scheduler: SchedulerSpec = SchedulerSpec()

    @model_validator(mode="after")
    def _checks(self):
        if self.objective not in METRIC_MODES:
            from runner.specs.errors import did_you_mean

            raise ValueError(
                f"unknown objective metric '{self.objective}'{did_you_mean(self.objective, METRIC_MODES)} "
                f"(known: {', '.join(sorted(METRIC_MODES))})"
            )
        if self.parallel_trials > self.max_trials:
            raise ValueError(
                f"parallel_trials ({self.parallel_trials}) exceeds max_trials ({self.max_trials}); "
                "lower parallel_trials or raise max_trials"
            )
        return self

    @property
    def effective_mode(self) -> str:
        return self.mode or METRIC_MODES[self.objective]


# Schemes MLflow's tracking client understands (a database URI may name a driver: postgresql+psycopg2).
TRACKING_SCHEMES = ("", "file", "sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks",
                    "databricks-uc")


class TrackingSpec(Spec):
    uri: str | None = Field(None, description="MLflow tracking URI; default MLFLOW_TRACKING_URI or sqlite:///mlflow.db.")
    experiment_name: str | None = Field(None, description="MLflow experiment; default: the recipe name.")

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, uri: str | None) -> str | None:
        from urllib.parse import urlparse

        scheme = urlparse(uri).scheme.split("+")[0] if uri else ""
        if scheme not in TRACKING_SCHEMES:
            raise ValueError(f"unknown tracking URI scheme '{scheme}'; expected sqlite:///PATH, http(s)://HOST:PORT, "
                             "a database URI (postgresql://, mysql://) or a folder path")
        return uri


class RecipeSpec(Spec):
    name: PlainName = ""
    description: str = ""
    problem: str = Field(description="A problem name from catalog/problems, or a path to a problem YAML.")
    model: str = Field(description="A model name from catalog/models, or a path.")
    hparams: str = Field(description="An hparams set name from catalog/hparams, or a path.")
    plugins: list[str] = Field(default_factory=list, description="Python modules to import first (T2T --t2t_usr_dir).")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Dotted key -> value, as `-o key=value`.")
    train: TrainSpec = Field(TrainSpec(), description="Training loop settings; every one has a default.")
    decode: DecodeSpec = DecodeSpec()
    resources: ResourcesSpec = ResourcesSpec()
    tune: TuneSpec | None = None
    tracking: TrackingSpec = TrackingSpec()
