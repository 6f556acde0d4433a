"""Ray Tune's search algorithm and trial scheduler for a SweepPlan.

Search: random and grid use Tune's BasicVariantGenerator (seeded with train.seed, so the same
sweep samples the same configs); optuna uses OptunaSearch with Optuna's TPE sampler (seeded
too; TPE samples at random for its first 10 trials, then models the good and bad configs).
Schedulers: FIFO, ASHA (AsyncHyperBandScheduler), the median stopping rule and PBT, all timed
by the loop's `step`. Metric and mode reach them through TuneConfig.

PBT (Tune's PopulationBasedTraining, asynchronous): every `perturbation_steps` a trial in the
worst quarter continues from the latest checkpoint of one in the best quarter (exploit) with
that trial's hparams perturbed (explore: a numeric value x0.8 or x1.2, a choice one step along
its list, or, with probability 0.25, a fresh sample), then clipped into the range: a
perturbed value never leaves the range the sweep was given. No exploit happens at the last
step: the trial is then writing its final files, and a clone would only copy the winner.
"""

from __future__ import annotations

import functools
from typing import Any

from ray.tune.schedulers import PopulationBasedTraining, TrialScheduler

from runner.launch.tune_plan import TIME_ATTR, SweepPlan
from runner.tune_space import Dimension


def search_algorithm(plan: SweepPlan) -> Any:
    """The search algorithm, limited to `parallel_trials` trials at once.

    The limit is set here rather than with TuneConfig.max_concurrent_trials, which Tune ignores
    for a BasicVariantGenerator instance.
    """
    if plan.search == "optuna":
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        return ConcurrencyLimiter(OptunaSearch(seed=plan.seed), max_concurrent=plan.parallel_trials)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=plan.seed, max_concurrent=plan.parallel_trials)


def trial_scheduler(plan: SweepPlan) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    sched = plan.scheduler
    if sched.type == "asha":
        # stop_last_trials=False: a trial past the last rung trains to its own end (see tune_plan).
        return ASHAScheduler(time_attr=TIME_ATTR, max_t=sched.max_t, grace_period=sched.grace_steps,
                             reduction_factor=sched.reduction_factor, stop_last_trials=False)
    if sched.type == "median":
        return MedianStoppingRule(time_attr=TIME_ATTR, grace_period=sched.grace_steps)
    if sched.type == "pbt":
        return pbt_scheduler(plan)
    return FIFOScheduler()


class FinishingPBT(PopulationBasedTraining):
    """Tune's PBT, leaving alone a trial that has reached its last step."""

    def __init__(self, last_step: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.last_step = last_step

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if result.get(TIME_ATTR, 0) >= self.last_step:
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)


def pbt_scheduler(plan: SweepPlan) -> FinishingPBT:
    from runner.launch.tune_param_space import sampler

    mutations = {d.name: list(d.values) if d.kind == "choice" else sampler(d) for d in plan.dimensions}
    return FinishingPBT(plan.scheduler.last_step, time_attr=TIME_ATTR,
                        perturbation_interval=plan.scheduler.perturbation_steps,
                        hyperparam_mutations=mutations,
                        custom_explore_fn=functools.partial(clip_to_range, tuple(plan.dimensions)))


def clip_to_range(dims: tuple[Dimension, ...], config: dict[str, Any]) -> dict[str, Any]:
    """PBT's explore multiplies numbers by 0.8 or 1.2: keep each inside its range (ints stay ints)."""
    clipped = dict(config)
    for dim in dims:
        if dim.kind == "choice" or dim.name not in clipped:
            continue
        value = min(max(clipped[dim.name], dim.low), dim.high)
        clipped[dim.name] = int(round(value)) if dim.kind == "int" else float(value)
    return clipped
