"""The plan of one sweep (ray-free): every check that must pass before a trial starts.

`make_sweep_plan` turns a resolved experiment (its `tune:` section, already validated by the
spec schemas) into the numbers Ray Tune needs, and refuses what would only fail later:

- an objective the training loop never reports during training (decoded metrics such as
  bleu exist only on the test split at the end: Tune could not see them, and tuning on the
  test split would leak it into the chosen hparams);
- a grid larger than `max_trials`;
- ASHA / median stopping whose grace period reaches the end of training (nothing to stop);
- PBT where it cannot work: trials of several workers (Train-in-Tune hands Tune a checkpoint
  *path*, not a Tune checkpoint), hparams that change parameter shapes or the data order, a
  perturbation interval without a checkpoint at its step, or Optuna search.

Which path a trial takes follows `resources:` (`SweepPlan.trial_path`): one CPU/GPU worker
trains in the trial's own actor ("direct"), several workers through Ray Train ("train").

Time in schedulers is the loop's global `step`: every reported row carries it, so a rung
"at step 40" means the same thing whatever the eval or log frequency. The spec's
`grace_period` counts evals (SchedulerSpec), so it becomes `grace_period x eval_every` steps.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from runner.run_dir import default_output_dir, run_name
from runner.specs.errors import SpecError
from runner.tune_space import GRID_POINTS, Dimension, grid_size

TIME_ATTR = "step"

POPULATION = ("pbt", "pb2")  # schedulers that clone checkpoints between trials (population-based training)
PBT_MULTI_WORKER = (
    "scheduler 'pbt' needs trials of one worker: PBT clones a strong trial into a weak one through "
    "Tune checkpoints, which a one-worker trial reports itself, while a trial of {workers} workers is a "
    "Ray Train run whose TuneReportCallback hands Tune a checkpoint path, not a Tune checkpoint; use "
    "-o resources.workers=1, or scheduler asha/median"
)
# Hparams PBT may change mid-run: everything a restored checkpoint leaves free. Not the optimizer
# itself (its state would not load), batch_size/max_length (the saved data position indexes the
# old batch plan), initializer_gain (used only before step 1), nor any architecture hparam
# (the checkpoint's parameter shapes are fixed) - except dropout rates, which hold no parameters.
PBT_FIXED_TRAINING = ("optimizer", "batch_size", "max_length", "initializer_gain")


@dataclass(frozen=True)
class SchedulerPlan:
    type: str                       # fifo | asha | median | pbt | pb2
    grace_steps: int = 0            # asha/median: steps before a trial may be stopped
    reduction_factor: float = 0.0   # asha
    max_t: int = 0                  # asha: rungs lie below this step (see make_sweep_plan)
    rungs: tuple[int, ...] = ()     # asha: the steps at which trials are compared
    perturbation_steps: int = 0     # pbt/pb2: steps between exploit/explore decisions of a trial
    last_step: int = 0              # pbt/pb2: no exploit at or after this step (the trial is finishing)

    def describe(self) -> str:
        if self.type in POPULATION:
            how = ("perturbed within the range" if self.type == "pbt"
                   else "chosen within the range by a Gaussian-process bandit (PB2)")
            return (f"{self.type.upper()} on '{TIME_ATTR}': every {self.perturbation_steps} steps the worst quarter "
                    f"of trials continue from a checkpoint of the best quarter, with hparams {how}")
        if self.type == "asha":
            return (f"ASHA on '{TIME_ATTR}': rungs at steps {', '.join(map(str, self.rungs))}; "
                    f"keeps the best 1/{self.reduction_factor:g} at each")
        if self.type == "median":
            return (f"median stopping on '{TIME_ATTR}' after step {self.grace_steps}: stops a trial "
                    "worse than the median of the others at the same step")
        return "FIFO: every trial trains to the end"


@dataclass(frozen=True)
class SweepPlan:
    name: str                       # Tune's experiment name: <recipe>-<sweep spec_hash[:12]>
    output_dir: str                 # absolute; the sweep's folder
    storage_path: str               # absolute; Tune's experiment lives at storage_path/name
    objective: str
    mode: str                       # max | min
    search: str                     # random | grid | optuna
    num_samples: int                # Tune's num_samples (1 for grid: the grid itself is the trials)
    trials: int                     # how many trials will run
    parallel_trials: int
    seed: int
    scheduler: SchedulerPlan
    dimensions: tuple[Dimension, ...] = field(default_factory=tuple)
    steps: int = 0
    trial_path: str = "direct"      # direct: the loop in the trial's actor; train: a Ray Train run per trial
    keep_checkpoints: int | None = 5  # Tune checkpoints kept per trial (direct path); None = all

    @property
    def experiment_path(self) -> str:
        return os.path.join(self.storage_path, self.name)

    @property
    def trials_dir(self) -> str:
        """Each trial's run folder is trials_dir/<trial_id> (experiment.yaml, final files, Ray Train state)."""
        return os.path.join(self.output_dir, "trials")


def default_sweep_dir(experiment: Any) -> str:
    """runs/<recipe>-<spec_hash[:12]>-tune: apart from `runner run`'s folder for the same spec."""
    return default_output_dir(experiment) + "-tune"


def reported_objectives(experiment: Any) -> list[str]:
    """The metrics every periodic eval reports (so Tune can see them while trials train)."""
    from runner.metrics import token_metric_names

    return token_metric_names(list(experiment.problem.metrics))


def require_tune(experiment: Any) -> Any:
    """The experiment's tune section, or a clear error for a recipe without one."""
    if experiment.tune is None:
        raise SpecError(f"recipe '{experiment.recipe}' has no tune: section; add one (tune: {{range: NAME}}) "
                        "or name a range with --range NAME", field="tune")
    return experiment.tune


def make_sweep_plan(experiment: Any, dims: list[Dimension], output_dir: str) -> SweepPlan:
    tune = require_tune(experiment)
    _check_objective(experiment)
    direct = experiment.resources.workers == 1 and experiment.resources.accelerator in ("cpu", "gpu")
    if tune.scheduler.type in POPULATION:
        _check_pbt(experiment, dims, direct)
    trials, num_samples = tune.max_trials, tune.max_trials
    if tune.search == "grid":
        trials, num_samples = _grid_trials(dims, tune.max_trials), 1
    output_dir = os.path.abspath(output_dir)
    return SweepPlan(
        name=run_name(experiment),
        output_dir=output_dir,
        storage_path=os.path.join(output_dir, "tune"),
        objective=f"eval_{tune.objective}",  # rows carry eval-split values as eval_<name>
        mode=tune.effective_mode,
        search=tune.search,
        num_samples=num_samples,
        trials=trials,
        parallel_trials=min(tune.parallel_trials, trials),
        seed=experiment.train.seed,
        scheduler=_scheduler_plan(experiment),
        dimensions=tuple(dims),
        steps=experiment.train.steps,
        trial_path="direct" if direct else "train",
        # PBT/PB2 may clone any trial's latest checkpoint while that trial trains on: if Tune deleted
        # the older ones (num_to_keep), the trial exploiting them would find them gone.
        keep_checkpoints=None if tune.scheduler.type in POPULATION else experiment.train.keep_checkpoints,
    )


def _check_pbt(experiment: Any, dims: list[Dimension], direct: bool) -> None:
    from runner.models.hparams_base import TrainingHparams

    kind = experiment.tune.scheduler.type
    if not direct:
        raise SpecError(PBT_MULTI_WORKER.format(workers=experiment.resources.workers).replace("'pbt'", f"'{kind}'"),
                        field="tune.scheduler.type")
    choices = [d.name for d in dims if d.kind == "choice"]
    if kind == "pb2" and choices:
        raise SpecError(f"scheduler 'pb2' picks new hparams with a Gaussian-process bandit over numeric intervals; "
                        f"{', '.join(choices)} {'is a list' if len(choices) == 1 else 'are lists'} of choices: make "
                        "them float/int ranges, or use scheduler pbt (which steps along a list)", field="tune.range")
    if experiment.tune.search == "optuna":
        raise SpecError(f"scheduler '{kind}' chooses each trial's next hparams itself (exploit + explore); it does not "
                        "combine with search optuna: use search random (or grid) for the first population",
                        field="tune.search")
    training = set(TrainingHparams.model_fields) - set(PBT_FIXED_TRAINING)
    fixed = [d.name for d in dims if d.name not in training and "dropout" not in d.name]
    if fixed:
        raise SpecError(
            f"scheduler '{kind}' cannot change {', '.join(fixed)} mid-run: a trial continues from another's checkpoint, "
            "whose parameter shapes, optimizer and data order are fixed; PBT may tune optimizer/schedule hparams "
            f"({', '.join(sorted(training))}) and dropout rates; use scheduler asha or median for the others",
            field="tune.range")
    spec, train = experiment.tune.scheduler, experiment.train
    interval = spec.perturbation_interval * train.eval_every
    every = train.checkpoint_every or train.eval_every
    if interval % every:
        raise SpecError(
            f"scheduler '{kind}': perturbation_interval {spec.perturbation_interval} evals x train.eval_every "
            f"{train.eval_every} = every {interval} steps, but checkpoints come every {every} steps "
            f"(train.checkpoint_every), so an exploit would copy an older checkpoint; make {interval} a multiple "
            "of train.checkpoint_every (0 = at every eval)", field="tune.scheduler.perturbation_interval")
    if interval >= train.steps:
        raise SpecError(
            f"scheduler '{kind}': perturbation_interval {spec.perturbation_interval} evals x train.eval_every "
            f"{train.eval_every} = step {interval}, not before the last step ({train.steps}): no trial would ever "
            "be perturbed; lower perturbation_interval or eval_every", field="tune.scheduler.perturbation_interval")


def _check_objective(experiment: Any) -> None:
    objective = experiment.tune.objective
    reported = reported_objectives(experiment)
    if objective not in reported:
        raise SpecError(
            f"objective '{objective}' is not reported while training '{experiment.problem.name}' (it is computed "
            "only on decoded test output at the end, which Tune cannot see and which must not choose hparams); "
            f"choose one of the metrics every eval reports: {', '.join(reported)}",
            field="tune.objective")


def _grid_trials(dims: list[Dimension], max_trials: int) -> int:
    size = grid_size(dims)
    if size > max_trials:
        shape = " x ".join(f"{d.name} {size_of}" for d, size_of in ((d, grid_size([d])) for d in dims))
        raise SpecError(
            f"grid search over this range makes {size} trials ({shape}; numeric ranges get {GRID_POINTS} points "
            f"each), more than tune.max_trials {max_trials}; raise max_trials to {size}, narrow the range, "
            "or use search random/optuna", field="tune.search")
    return size


def _scheduler_plan(experiment: Any) -> SchedulerPlan:
    spec, train = experiment.tune.scheduler, experiment.train
    if spec.type == "fifo":
        return SchedulerPlan("fifo")
    if spec.type in POPULATION:
        return SchedulerPlan(spec.type, perturbation_steps=spec.perturbation_interval * train.eval_every,
                             last_step=train.steps)
    grace_steps = spec.grace_period * train.eval_every
    if grace_steps >= train.steps:
        raise SpecError(
            f"scheduler {spec.type}: grace_period {spec.grace_period} evals x train.eval_every {train.eval_every} = "
            f"step {grace_steps}, which is not before the last step ({train.steps}), so no trial could ever be "
            f"stopped early; lower grace_period or eval_every, or use scheduler fifo", field="tune.scheduler.grace_period")
    if spec.type == "median":
        return SchedulerPlan("median", grace_steps=grace_steps)
    # Rungs strictly before the last step: a trial that reached the end is left to finish
    # (its test eval and final files) rather than being "stopped" at its last eval.
    max_t = train.steps - 1
    count = int(math.log(max_t / grace_steps) / math.log(spec.reduction_factor) + 1)  # as Ray's _Bracket
    rungs = tuple(sorted(int(math.ceil(grace_steps * spec.reduction_factor ** k)) for k in range(count)))
    return SchedulerPlan("asha", grace_steps=grace_steps, reduction_factor=spec.reduction_factor,
                         max_t=max_t, rungs=rungs)
