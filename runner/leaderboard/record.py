"""One leaderboard record: a result, everything needed to trust it, and the command that remakes it.

A record is a small YAML file with sorted keys under `leaderboard/records/`. It embeds the
run's resolved experiment, so a reader sees every value that was trained with, and loading
it recomputes the spec_hash from that embedded spec (`Experiment.from_dict` raises on a
mismatch): a hand-edited hyperparameter, or a hand-edited hash, is caught on load.

Every field is required (null is allowed only where it says so); numbers must be numbers,
not strings; bad input is a located `SpecError` (`path:line:col: field: what; expected`).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any, Callable, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.leaderboard.commands import parse
from runner.leaderboard.metric_info import DEFAULT_TOLERANCE
from runner.leaderboard.paths import TIERS, record_file_name
from runner.run_dir import write_text_atomic
from runner.specs.errors import SpecError
from runner.specs.experiment import Experiment, stored_hash
from runner.specs.loader import Document, load_yaml
from runner.specs.metric_names import METRIC_MODES, unknown_metric_message
from runner.specs.validation import validate

FORMAT = 1
Tier = Literal["cpu-ci", "cpu", "gpu"]
_HEX64 = r"^[0-9a-f]{64}$"
_RUNNER_RUN = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S* )*runner run ")


class _Strict(BaseModel):
    # strict: a value written as "0.5" (a string) or `true` is refused, not coerced to a number.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Hardware(_Strict):
    cpu: str = Field(description="CPU model name")
    cores: int = Field(ge=1, description="logical CPU cores")
    gpu: str | None = Field(description="GPU model name, or null")
    gpu_count: int = Field(ge=0, description="number of GPUs visible")


class Record(_Strict):
    format: Literal[1] = Field(description="record format version (1)")
    problem: str = Field(min_length=1, description="the problem's catalog name")
    family: str = Field(min_length=1, description="the problem family")
    model: str = Field(min_length=1, description="the model's catalog name")
    hparams_set: str = Field(min_length=1, description="the hparams set's name")
    recipe: str = Field(min_length=1, description="the recipe's name")
    spec_hash: str = Field(pattern=_HEX64, description="the resolved experiment's sha256 (64 hex digits)")
    experiment: dict[str, Any] = Field(description="the resolved experiment, as in the run's experiment.yaml")
    metric: str = Field(description="a metric name from runner/specs/metric_names.py")
    value: float = Field(allow_inf_nan=False, description="the metric's value on the test split (a finite number)")
    signature: str = Field(min_length=1, description="how the metric was computed (e.g. sacreBLEU's signature)")
    tier: Tier = Field(description="cpu-ci (seconds to minutes on CPU, bit-exact), cpu (longer CPU runs) or gpu")
    tolerance: float = Field(ge=0, allow_inf_nan=False,
                             description="largest |reproduced - recorded| accepted by `reproduce` (0 for cpu-ci)")
    steps: int = Field(ge=0, description="optimizer steps trained")
    wall_time_seconds: float = Field(ge=0, allow_inf_nan=False,
                                     description="wall-clock seconds spent in training steps")
    code_commit: str | None = Field(description="git commit of the code that ran, or null outside git")
    code_dirty: bool | None = Field(description="whether tracked files differed from that commit, or null")
    data_fingerprint: str = Field(pattern=_HEX64, description="the problem data's cache fingerprint (sha256)")
    hardware: Hardware
    packages: dict[str, str | None] = Field(description="versions of python, torch, ray, mlflow, ...")
    mlflow_run_id: str | None = Field(description="the MLflow run id, or null for an untracked in-process run")
    mlflow_url: str | None = Field(None, description="the run's MLflow page when it was tracked on a server "
                                   "(http/https tracking URI), else null; the pages link it")
    command: str = Field(description="the one `[NAME=value ...] runner run ...` command that reproduces the result")
    seeds: list[SeedRun] | None = Field(None, description=(
        "several runs of this spec differing in train.seed, or folds differing in one held-out key (see "
        "FOLD_KEYS), the first being the run described above (its steps, wall time, command); then value "
        "is their mean, and tolerance 2 x their sample standard deviation (seeds) or the metric's default "
        "(folds, whose spread is between held-out data); absent for a one-run record"))

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        if name not in METRIC_MODES:
            raise ValueError(unknown_metric_message(name))
        return name

    @field_validator("command")
    @classmethod
    def _runner_run(cls, command: str) -> str:
        if not _RUNNER_RUN.match(command):
            raise ValueError("expected `runner run ...`, optionally after NAME=value environment settings "
                             "(reproduce re-runs it)")
        try:
            parse(command)  # only thread-count settings, spec options and a recipe inside the repository
        except SpecError as exc:
            raise ValueError(exc.items[0][2]) from None
        return command

    @property
    def file_name(self) -> str:
        return record_file_name(self.problem, self.metric, self.tier, self.spec_hash)

    @property
    def sd(self) -> float | None:
        """The sample standard deviation over seeds; None for a one-run record."""
        return spread([s.value for s in self.seeds])[1] if self.seeds else None

    def seed_records(self) -> list["Record"]:
        """One single-run record per seed (the record itself when it has one run): what `reproduce`
        re-runs, each judged against its own recorded value within the record's tolerance."""
        if not self.seeds:
            return [self]
        views = []
        for run in self.seeds:
            experiment = {**run_spec(self.experiment, run.seed, run.fold), "spec_hash": run.spec_hash}
            views.append(self.model_copy(update={
                "experiment": experiment, "spec_hash": run.spec_hash, "value": run.value, "steps": run.steps,
                "wall_time_seconds": run.wall_time_seconds, "mlflow_run_id": run.mlflow_run_id,
                "command": run.command, "data_fingerprint": run.data_fingerprint or self.data_fingerprint,
                "seeds": None}))
        return views

    @property
    def folds(self) -> bool:
        """Whether the runs are folds (each holding out another part of the data), not only seeds."""
        return bool(self.seeds) and any(run.fold for run in self.seeds)


class SeedRun(_Strict):
    """One seed's run in a multi-seed record: the record's spec but for train.seed."""

    seed: int = Field(description="train.seed of this run")
    spec_hash: str = Field(pattern=_HEX64, description="this run's spec_hash (the record's spec with this seed)")
    value: float = Field(allow_inf_nan=False, description="the metric's value on the test split")
    steps: int = Field(ge=0, description="optimizer steps trained (what a time budget reached)")
    wall_time_seconds: float = Field(ge=0, allow_inf_nan=False, description="wall-clock seconds in training steps")
    mlflow_run_id: str | None = Field(description="the MLflow run id, or null")
    command: str = Field(description="the `runner run ...` command that reproduces this seed's run")
    fold: dict[str, Any] | None = Field(None, description=(
        "for a record of folds: the held-out spec values of this run, e.g. {'problem.test_speakers': ['theo']} "
        "(keys from FOLD_KEYS); absent for a record of seeds"))
    data_fingerprint: str | None = Field(None, pattern=_HEX64, description=(
        "this run's data fingerprint where it differs from the record's (a fold holds out other data); "
        "absent when it is the record's"))
    code_commit: str | None = Field(None, description=(
        "the git commit of the code that trained this run, where it differs from the record's; absent "
        "when it is the record's (and in records made before runs kept their provenance)"))
    code_dirty: bool | None = Field(None, description="whether that code differed from code_commit; absent as above")

    @property
    def held_out(self) -> str:
        """The fold's held-out values in words ('theo'); '' for a seed's run."""
        return "; ".join(",".join(map(str, v)) if isinstance(v, list) else str(v) for v in (self.fold or {}).values())

    @property
    def label(self) -> str:
        """How reports name this run: 'seed=3', or 'problem.test_speakers=[theo]' for a fold of seed 1."""
        held_out = [f"{key}=[{','.join(map(str, v))}]" if isinstance(v, list) else f"{key}={v}"
                    for key, v in (self.fold or {}).items()]
        return ",".join(held_out) if held_out else f"seed={self.seed}"

    @field_validator("command")
    @classmethod
    def _runner_run(cls, command: str) -> str:
        return Record._runner_run(command)  # the same rules as the record's own command


Record.model_rebuild()

# A cpu or gpu result is a small distribution, not one draw: at least this many seeds when a
# record holds several (records of one run, made before seeds were recorded, stay valid).
MIN_SEEDS = 3
# The tolerance of a multi-seed record: this many sample standard deviations of its seeds' values.
TOLERANCE_SDS = 2.0
# Spec keys a record's runs may differ in besides train.seed: each run holds out another part of the
# data and the record's value is the mean over these folds (leave-one-speaker-out WER, issue 16).
FOLD_KEYS = ("problem.test_speakers",)


def run_spec(experiment: dict[str, Any], seed: int, fold: dict[str, Any] | None) -> dict[str, Any]:
    """A record's embedded spec with one run's train.seed and held-out values (spec_hash left as it was)."""
    spec = {**experiment, "train": {**experiment["train"], "seed": seed}}
    for key, value in (fold or {}).items():
        section, field = key.split(".")
        spec[section] = {**spec[section], field: value}
    return spec


def spread(values: list[float]) -> tuple[float, float, float]:
    """(mean, sample standard deviation, tolerance = TOLERANCE_SDS x sd) of the seeds' values."""
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    return mean, sd, TOLERANCE_SDS * sd


def runs_tolerance(metric: str, values: list[float], folds: bool) -> float:
    """A several-run record's tolerance. Seeds: TOLERANCE_SDS x their standard deviation, the measured
    run-to-run noise. Folds: the metric's default tolerance, because their spread is between held-out
    voices (one WER of 10 %, another of 58 %), not noise, and would let any replay of a fold pass."""
    if not folds:
        return spread(values)[2]
    if metric not in DEFAULT_TOLERANCE:
        raise SpecError(f"no default reproduction tolerance for '{metric}', which a record of folds needs", None,
                        "metric")
    return DEFAULT_TOLERANCE[metric]


def dump_record(record: Record) -> str:
    """The canonical text of a record: sorted keys, block style, no line wrapping."""
    data = record.model_dump(mode="json")
    if data["seeds"] is None:
        del data["seeds"]  # one-run records keep the text they had before seeds existed
    for run in data.get("seeds") or []:  # records of seeds keep the text they had before folds existed
        for key in ("fold", "data_fingerprint", "code_commit", "code_dirty"):
            if run[key] is None:
                del run[key]
    return yaml.safe_dump(data, sort_keys=True, allow_unicode=True,
                          default_flow_style=False, width=1 << 20)


def write_record(record: Record, records_dir: str | Path) -> Path:
    folder = Path(records_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / record.file_name
    write_text_atomic(path, dump_record(record))
    return path


def load_record(path: str | Path) -> Record:
    """Read, validate and verify one record file; any problem is a SpecError naming the file and field."""
    doc = load_yaml(path)
    record = validate(Record, doc.data, doc)
    verify(record, doc)
    return record


def verify(record: Record, doc: Document) -> Experiment:
    """Cross-field checks: the embedded spec hashes to spec_hash and agrees with the summary fields."""
    errors: list[SpecError] = []

    def fail(field: str, message: str) -> None:
        errors.append(SpecError(message, doc.where((field,)), field))

    try:
        experiment = Experiment.from_dict(record.experiment)
    except Exception as exc:  # a pydantic error, a hash mismatch, an unknown family or model: all bad input
        detail = " ".join(str(exc).split())
        if stored_hash(record.experiment) == record.spec_hash:
            why = ("the record itself is intact (its embedded spec hashes to its spec_hash), so the spec schemas "
                   "changed since it was made")
        else:
            why = "the embedded spec no longer hashes to its spec_hash, so it was edited by hand"
        raise SpecError(
            f"the embedded resolved spec does not verify: {detail}. {why[0].upper()}{why[1:]}; re-run the "
            "record's command and `runner leaderboard add` the new run (or delete the record)",
            doc.where(("experiment",), prefer_key=True), "experiment",
        ) from None
    if record.spec_hash != experiment.spec_hash:
        fail("spec_hash", f"{record.spec_hash} is not the embedded spec's hash {experiment.spec_hash}")
    expected = {"problem": experiment.problem.name, "family": experiment.problem.family,
                "model": experiment.model.name, "hparams_set": experiment.hparams_set, "recipe": experiment.recipe}
    for field, want in expected.items():
        if getattr(record, field) != want:
            fail(field, f"'{getattr(record, field)}' disagrees with the embedded spec, which says '{want}'")
    if record.tier == "cpu-ci" and record.tolerance != 0:
        fail("tolerance", f"cpu-ci records are reproduced bit-exactly; expected 0, got {record.tolerance}")
    if record.tier == "cpu-ci" and experiment.train.time_budget_minutes:
        fail("tier", "a cpu-ci run must stop at train.steps: a time budget (train.time_budget_minutes > 0) "
                     "makes the step count, and so the result, depend on the machine's speed")
    if record.tier != "gpu" and experiment.resources.accelerator != "cpu":
        fail("tier", f"the spec asks for accelerator '{experiment.resources.accelerator}'; use tier gpu")
    if record.steps > experiment.train.steps:
        fail("steps", f"{record.steps} is more than the spec's train.steps ({experiment.train.steps})")
    if record.seeds is not None:
        _verify_seeds(record, experiment, fail)
    name = Path(doc.path).name
    if name != record.file_name:
        errors.append(SpecError(f"the file is named '{name}'; a record with these fields must be named "
                                f"'{record.file_name}' (problem.metric.tier.spec_hash[:12].yaml)", doc.where(())))
    if errors:
        raise SpecError.merge(errors)
    return experiment


def _run_hash(experiment: Experiment, run: SeedRun) -> str:
    """The spec_hash of the record's spec with this run's train.seed and held-out values."""
    sections: dict[str, Any] = {"train": experiment.train.model_copy(update={"seed": run.seed})}
    for key, value in (run.fold or {}).items():
        section, field = key.split(".")
        sections[section] = sections.get(section, getattr(experiment, section)).model_copy(update={field: value})
    return experiment.with_changes(**sections).spec_hash


def _check_folds(record: Record, runs: list[SeedRun], fail: Callable[[str, str], None]) -> bool:
    """Runs are all seeds (distinct seeds) or all folds (same held-out keys, from FOLD_KEYS, the first
    fold's values the record's own, no (seed, fold) twice); True when that is broken beyond checking more."""
    folds = [run.fold for run in runs]
    if not any(folds):
        seeds = [run.seed for run in runs]
        if len(set(seeds)) != len(seeds):
            fail("seeds", f"seeds {seeds} repeat one; each run must have its own train.seed")
        return False
    keys = [sorted(fold or {}) for fold in folds]
    unknown = sorted({k for ks in keys for k in ks} - set(FOLD_KEYS))
    if unknown or any(k != keys[0] for k in keys) or not keys[0]:
        fail("seeds", f"every fold must hold out the same keys, from {list(FOLD_KEYS)}; found {keys}")
        return True
    pairs = [(run.seed, repr(sorted(run.fold.items()))) for run in runs]  # type: ignore[union-attr]
    if len(set(pairs)) != len(pairs):
        fail("seeds", "a fold appears twice with the same seed; each run must hold out other data or use another seed")
    own = {key: record.experiment[key.split(".")[0]].get(key.split(".")[1]) for key in keys[0]}
    if runs[0].fold != own:
        fail("seeds", f"the first fold holds out {runs[0].fold}, but the record's own spec has {own}")
    if any(run.data_fingerprint is None for run in runs[1:]):
        fail("seeds", "each fold after the first must give its data_fingerprint (a fold's data differ)")
    return False


def _verify_seeds(record: Record, experiment: Experiment, fail: Callable[[str, str], None]) -> None:
    """Several seeds: distinct, each the record's spec with that seed, the first the record's own run,
    and value / tolerance their mean and TOLERANCE_SDS x their standard deviation."""
    runs = record.seeds or []
    if record.tier == "cpu-ci":
        fail("seeds", "cpu-ci records hold one run, reproduced bit-exactly; drop seeds")
        return
    if len(runs) < MIN_SEEDS:
        fail("seeds", f"{len(runs)} seed(s); a {record.tier} record holds at least {MIN_SEEDS} (or one run, "
                      "without seeds)")
        return
    if _check_folds(record, runs, fail):
        return
    first = runs[0]
    if (first.seed, first.spec_hash, first.steps, first.command) != (
            experiment.train.seed, record.spec_hash, record.steps, record.command):
        fail("seeds", "the first seed's seed, spec_hash, steps and command must be the record's own")
    for i, run in enumerate(runs):
        want = _run_hash(experiment, run)
        if run.spec_hash != want:
            fail("seeds", f"seeds[{i}]: spec_hash {run.spec_hash[:12]} is not the record's spec with {run.label} "
                          f"({want[:12]}); a record's runs may differ in train.seed and {', '.join(FOLD_KEYS)} only")
    values = [run.value for run in runs]
    mean = spread(values)[0]
    if record.value != mean:
        fail("value", f"{record.value!r} is not the mean of the seeds' values ({mean!r})")
    try:
        tolerance = runs_tolerance(record.metric, values, record.folds)
    except SpecError as exc:
        fail("tolerance", exc.items[0][2])
        return
    if record.tolerance != tolerance:
        why = (f"{record.metric}'s default tolerance: the spread of folds is between held-out data, not run-to-run "
               "noise, so a record of folds does not take its tolerance from it" if record.folds else
               f"{TOLERANCE_SDS:g} x the seeds' standard deviation: a multi-seed record's tolerance comes from its "
               "spread")
        fail("tolerance", f"{record.tolerance!r} is not {tolerance!r}, {why}")
