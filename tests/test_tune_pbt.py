"""PBT on the single-worker path: exploit copies a better trial's checkpoint and hparams, explore
perturbs them inside the range, and each exploit is a new run folder + MLflow child run that
names its parent trial and the step it copied (real Ray, real MLflow, tiny model)."""

from __future__ import annotations

import json

import pytest
import yaml

from runner.specs.resolve import resolve
from runner.tune_space import Dimension

RECIPE = "catalog/recipes/reverse_pbt_cpu.yaml"
# 4 trials, 2 at a time, 40 steps; an eval + checkpoint every 5 steps, a PBT decision every 10.
SHRINK = ["problem.train_size=200", "problem.eval_size=40", "problem.test_size=20", "train.steps=40",
          "train.eval_every=5", "decode.max_examples=5", "hparams.batch_size=256"]
RANGE = {"learning_rate_constant": (0.5, 4.0), "learning_rate_warmup_steps": (50, 400),
         "layer_prepostprocess_dropout": (0.0, 0.2)}


def test_explore_stays_inside_the_range_and_ints_stay_ints():
    from runner.launch.tune_algorithms import clip_to_range

    dims = (Dimension("lr", "float", 0.5, 4.0, log=True), Dimension("warmup", "int", 50, 400),
            Dimension("size", "choice", values=(64, 128)))
    assert clip_to_range(dims, {"lr": 4.8, "warmup": 480, "size": 128}) == {"lr": 4.0, "warmup": 400, "size": 128}
    assert clip_to_range(dims, {"lr": 0.4, "warmup": 40.2, "size": 64}) == {"lr": 0.5, "warmup": 50, "size": 64}
    assert clip_to_range(dims, {"lr": 1.5, "warmup": 120, "size": 64}) == {"lr": 1.5, "warmup": 120, "size": 64}


def test_pbt_plan_and_scheduler(tmp_path):
    from runner.launch.tune_algorithms import FinishingPBT, trial_scheduler
    from runner.launch.tune_plan import make_sweep_plan
    from runner.specs.errors import SpecError
    from runner.tune_space import dimensions
    from runner.specs.catalog import Catalog
    from runner.specs.resolve import resolve_range

    experiment = resolve(RECIPE, SHRINK)
    range_spec, _, _ = resolve_range(Catalog.for_file(None), experiment.tune.range)
    plan = make_sweep_plan(experiment, dimensions(range_spec), str(tmp_path))
    assert plan.trial_path == "direct" and plan.scheduler.perturbation_steps == 10
    scheduler = trial_scheduler(plan)
    assert isinstance(scheduler, FinishingPBT) and scheduler.last_step == 40
    assert scheduler.on_trial_result(None, None, {"step": 40, "neg_log_perplexity": -1.0}) == "CONTINUE"
    with pytest.raises(SpecError, match="a multiple of train.checkpoint_every"):
        make_sweep_plan(resolve(RECIPE, [*SHRINK, "train.checkpoint_every=15"]), dimensions(range_spec), str(tmp_path))


def test_a_restored_checkpoint_takes_the_new_hparams_but_keeps_the_optimizer_moments(tmp_path, runner_data_dir):
    """An exploit resumes another spec's checkpoint: weights and Adam moments from it, rate/betas/decay new."""
    import torch

    from runner import problems
    from runner.training import loop
    from runner.training.session import InProcessSession

    tiny = [*SHRINK, "hparams.num_encoder_layers=1", "train.steps=4", "train.eval_every=4"]
    first = resolve(RECIPE, tiny)
    data = problems.build(first.problem, runner_data_dir)
    loop.train(first, data, InProcessSession(str(tmp_path / "a"), verbose=False))
    second = resolve(RECIPE, [*tiny, "train.steps=8", "hparams.learning_rate_constant=3.5",
                              "hparams.weight_decay=0.01", "hparams.optimizer_adam_beta1=0.8"])
    session = InProcessSession(str(tmp_path / "a"), verbose=False)  # its latest checkpoint: step 4 of `first`
    model = loop.build_model(second, data.info)
    run = loop._Run(second, data, session, model)
    group = run.optimizer.param_groups[0]
    assert run.step == 4 and group["betas"][0] == 0.8
    assert {g["weight_decay"] for g in run.optimizer.param_groups} <= {0.0, 0.01} and any(
        g["weight_decay"] == 0.01 for g in run.optimizer.param_groups)
    assert group["lr"] == pytest.approx(run.rate(5))  # the new schedule at the next update
    assert run.optimizer.state and all(torch.count_nonzero(s["exp_avg"]) for s in run.optimizer.state.values())


@pytest.mark.slow
def test_pbt_sweep_exploits_with_lineage_in_folders_and_mlflow(tmp_path, runner_data_dir, ray_local, monkeypatch):
    from mlflow.tracking import MlflowClient
    from rich.console import Console

    from runner.launch.tune import run_sweep

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    experiment = resolve(RECIPE, SHRINK)
    outcome = run_sweep(experiment, RECIPE, SHRINK, str(tmp_path / "pbt"), runner_data_dir,
                        console=Console(stderr=True, quiet=True))
    assert [t.status for t in outcome.trials] == ["finished"] * 4, outcome.trials
    trials_dir = tmp_path / "pbt" / "trials"
    infos = {t.trial_id: json.loads((trials_dir / t.trial_id / "trial.json").read_text()) for t in outcome.trials}
    exploits = [(trial_id, s) for trial_id, info in infos.items() for s in info["segments"][1:]]
    assert exploits, "PBT never exploited in 4 trials x 3 perturbation points"
    client = MlflowClient(tracking_uri=uri)
    for trial_id, segment in exploits:
        folder = trials_dir / segment["dir"]
        hparams = yaml.safe_load((folder / "experiment.yaml").read_text())["hparams"]
        for name, (low, high) in RANGE.items():  # explore stayed inside the range
            assert low <= hparams[name] <= high and hparams[name] == segment["config"][name]
        assert segment["parent_trial"] in infos and segment["parent_trial"] != trial_id
        rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        assert rows[0]["step"] > segment["exploit_step"] > 0  # continued from the copied checkpoint
        tags = client.get_run(segment["mlflow_run_id"]).data.tags
        assert tags["pbt.parent_trial"] == segment["parent_trial"]
        assert tags["pbt.exploit_step"] == str(segment["exploit_step"])
        assert tags["mlflow.parentRunId"] == outcome.parent_run_id and tags["tune.trial_id"] == trial_id
    replaced = [s["mlflow_run_id"] for info in infos.values() for s in info["segments"][:-1]]
    assert all(client.get_run(r).info.status == "KILLED" and client.get_run(r).data.tags["tune.status"] == "exploited"
               for r in replaced)
    for t in outcome.trials:  # every trial's outcome lives in its last segment's folder
        assert t.trial_dir.endswith(infos[t.trial_id]["segments"][-1]["dir"])
        assert json.loads((trials_dir / infos[t.trial_id]["segments"][-1]["dir"] / "final_metrics.json").read_text())
