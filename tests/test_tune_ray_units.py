"""The Ray-side pieces of `runner tune`, one at a time: search algorithms, schedulers, the report
filter and the placement-group reaper (the last one on the session's local Ray)."""

from __future__ import annotations

import time

import pytest

from runner.launch.tune_plan import make_sweep_plan
from runner.specs.resolve import resolve
from runner.tune_space import Dimension

RECIPE = "catalog/recipes/reverse_tune_cpu.yaml"
DIMS = [Dimension("learning_rate_constant", "float", 0.5, 4.0, log=True),
        Dimension("learning_rate_warmup_steps", "choice", values=(100, 200, 400)),
        Dimension("hidden_size", "choice", values=(64, 128))]


def _plan(tmp_path, *overrides):
    return make_sweep_plan(resolve(RECIPE, list(overrides)), DIMS, str(tmp_path / "sweep"))


def test_asha_rungs_in_the_plan_are_rays_rungs(tmp_path):
    from runner.launch.tune_algorithms import trial_scheduler

    plan = _plan(tmp_path, "tune.scheduler.reduction_factor=3", "train.steps=400")
    assert plan.scheduler.grace_steps == 2 * 20 and plan.scheduler.rungs == (40, 120, 360)
    scheduler = trial_scheduler(plan)
    assert sorted(m for m, _ in scheduler._brackets[0]._rungs) == list(plan.scheduler.rungs)
    assert scheduler._time_attr == "step"
    assert type(trial_scheduler(_plan(tmp_path, "tune.scheduler.type=median"))).__name__ == "MedianStoppingRule"
    assert type(trial_scheduler(_plan(tmp_path, "tune.scheduler.type=fifo"))).__name__ == "FIFOScheduler"


def test_no_rung_at_the_last_step(tmp_path):
    plan = _plan(tmp_path, "train.steps=160", "train.eval_every=20")   # 40 x 2**2 == 160
    assert plan.scheduler.rungs == (40, 80)


@pytest.mark.parametrize("search", ["random", "optuna"])
def test_search_algorithms_suggest_configs_inside_the_range(tmp_path, search):
    from runner.launch.tune_algorithms import search_algorithm
    from runner.launch.tune_param_space import param_space

    plan = _plan(tmp_path, f"tune.search={search}")
    algorithm = search_algorithm(plan)
    if search == "optuna":
        assert type(algorithm).__name__ == "ConcurrencyLimiter" and algorithm.max_concurrent == 2
        algorithm.set_search_properties(plan.objective, plan.mode, param_space(plan.dimensions))
        configs = [algorithm.suggest(f"t{i}") for i in range(2)]
        assert algorithm.suggest("t2") is None  # two at a time: the third waits for a result
    else:
        assert algorithm.max_concurrent == 2
        algorithm.add_configurations({"sweep": {"run": _noop, "config": param_space(plan.dimensions),
                                                "num_samples": 2}})
        configs = [algorithm.next_trial().config for _ in range(2)]
    for config in configs:
        assert 0.5 <= config["learning_rate_constant"] <= 4.0
        assert config["learning_rate_warmup_steps"] in (100, 200, 400) and config["hidden_size"] in (64, 128)


def _noop(config):
    return None


class _Queue:
    def __init__(self):
        self.items = []

    def put(self, item):
        self.items.append(item)


def test_only_rows_with_the_objective_reach_tune_and_without_done():
    from runner.launch.tune_trial import ObjectiveReportCallback

    callback = ObjectiveReportCallback.__new__(ObjectiveReportCallback)  # outside a Tune session
    callback.objective, callback._training_actor_item_queue = "neg_log_perplexity", _Queue()
    callback.after_report(None, [{"step": 10, "train_loss": 1.0}], None)
    callback.after_report(None, [{"step": 20, "neg_log_perplexity": -0.5}], None)
    callback.after_report(None, [{"step": 20, "neg_log_perplexity": -0.5, "done": 1}], None)
    assert callback._training_actor_item_queue.items == [{"step": 20, "neg_log_perplexity": -0.5}] * 2


def test_reaper_removes_only_groups_whose_creating_actor_died(ray_local):
    import ray
    from ray.util.placement_group import PlacementGroup, PlacementGroupID, placement_group, placement_group_table

    from runner.launch.tune_cleanup import orphaned_placement_groups, remove_orphaned_placement_groups

    @ray.remote(num_cpus=0)
    class Creator:
        def make(self):
            group = placement_group([{"CPU": 1}])
            ray.get(group.ready())
            return group.id.binary()

    own = placement_group([{"CPU": 1}])  # made by the driver, as Tune's trial groups are
    ray.get(own.ready())
    creator = Creator.remote()
    orphan = ray.get(creator.make.remote())
    try:
        assert orphan not in orphaned_placement_groups()  # its creator is alive
        ray.kill(creator)
        deadline = time.monotonic() + 30
        while orphan not in orphaned_placement_groups():
            assert time.monotonic() < deadline, "the GCS never marked the creator dead"
            time.sleep(0.2)
        assert remove_orphaned_placement_groups() >= 1
        state = placement_group_table(PlacementGroup(PlacementGroupID(orphan)))["state"]
        assert state == "REMOVED" and placement_group_table(own)["state"] == "CREATED"
    finally:
        ray.util.remove_placement_group(own)


def test_a_finished_trial_restarted_by_a_resume_reports_its_last_row_from_its_files():
    from runner.launch.tune_trial import final_row

    final = {"steps": 40.0, "loss": 0.9, "eval_loss": 0.8, "eval_neg_log_perplexity": -0.8, "train_loss": 0.7}
    assert final_row(final) == {"step": 40, "eval_loss": 0.8, "eval_neg_log_perplexity": -0.8}


def test_best_trial_follows_the_mode_and_skips_trials_without_a_value():
    from runner.launch.tune_results import TrialSummary, best_trial, trial_steps

    trials = [TrialSummary("a", {}, -0.9, 40, "finished", ""), TrialSummary("b", {}, -0.5, 20, "stopped", ""),
              TrialSummary("c", {}, None, None, "error", "")]
    assert best_trial(trials, "max").trial_id == "b" and best_trial(trials, "min").trial_id == "a"
    assert best_trial(trials[2:], "max") is None and trial_steps(trials) == 60
