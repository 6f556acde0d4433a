"""The training loop end to end on the tiny copy task: files, resume, accumulation, budget."""

import json
import os

import pytest
import torch

from runner.training import checkpoint as ckpt
from runner.run_dir import read_final_metrics
from runner.training.loop import train
from runner.training.session import InProcessSession
from test_training_fakes import TinyCopyData, register_tiny, tiny_experiment, train_in_folder


class Crash(RuntimeError):
    pass


class CrashingSession(InProcessSession):
    """Dies right after persisting the checkpoint of step `crash_at`, like a pre-empted worker."""

    def __init__(self, output_dir, crash_at, **kwargs):
        super().__init__(output_dir, **kwargs)
        self.crash_at = crash_at

    def report(self, metrics, checkpoint_dir=None, milestone=True):
        super().report(metrics, checkpoint_dir, milestone)
        if metrics.get("step") == self.crash_at and checkpoint_dir is not None:
            raise Crash(f"simulated crash at step {self.crash_at}")


def rows(output_dir):
    with open(os.path.join(output_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def final_weights(output_dir):
    return ckpt.load_model_state(ckpt.latest_checkpoint(os.path.join(output_dir, "checkpoints")))


@pytest.fixture(autouse=True)
def tiny_model(monkeypatch):
    register_tiny(monkeypatch)


def test_a_run_leaves_metrics_checkpoints_and_decoded_output(tmp_path):
    data = TinyCopyData()
    experiment = tiny_experiment(steps=8, eval_every=4, keep_checkpoints=1)
    out = str(tmp_path / "run")
    final = train_in_folder(experiment, data, InProcessSession(out, keep_checkpoints=1, device="cpu", verbose=False))

    assert set(final) >= {"accuracy_per_sequence", "accuracy", "neg_log_perplexity", "loss", "eval_loss",
                          "eval_neg_log_perplexity", "steps", "train_seconds", "tokens_per_sec", "peak_memory_mb",
                          "train_loss"}
    assert final["steps"] == 8 and final["peak_memory_mb"] > 0 and final["tokens_per_sec"] > 0
    assert read_final_metrics(out) == pytest.approx(final)
    decoded = open(os.path.join(out, "decoded_test.txt")).read().splitlines()
    assert len(decoded) == len(data.split("test"))

    history = rows(out)
    assert [r["step"] for r in history[:8]] == list(range(1, 9))  # log_every=1
    assert all(r["learning_rate"] > 0 and r["train_loss"] > 0 for r in history[:8])
    assert "eval_neg_log_perplexity" in history[3] and "eval_neg_log_perplexity" not in history[2]  # eval at 4, 8
    assert "neg_log_perplexity" not in history[3]  # a plain name is a test value: only in the last row
    assert history[-1]["done"] == 1 and "accuracy" in history[-1] and "eval_neg_log_perplexity" in history[-1]
    saved = ckpt.list_checkpoints(os.path.join(out, "checkpoints"))
    assert [os.path.basename(p) for p in saved] == ["step_00000008"]


def test_resume_after_a_crash_is_bit_identical(tmp_path):
    data = TinyCopyData()
    experiment = tiny_experiment(steps=10, eval_every=3, checkpoint_every=3)

    straight = str(tmp_path / "straight")
    train_in_folder(experiment, data, InProcessSession(straight, device="cpu", verbose=False))

    crashed = str(tmp_path / "crashed")
    with pytest.raises(Crash):
        train(experiment, data, CrashingSession(crashed, crash_at=6, device="cpu", verbose=False))
    assert ckpt.latest_checkpoint(os.path.join(crashed, "checkpoints")).endswith("step_00000006")
    resumed_final = train(experiment, data, InProcessSession(crashed, device="cpu", verbose=False)).metrics

    a, b = final_weights(straight), final_weights(crashed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses_a = {r["step"]: r["train_loss"] for r in rows(straight) if "train_loss" in r}
    losses_b = {r["step"]: r["train_loss"] for r in rows(crashed) if "train_loss" in r}
    assert losses_a == losses_b and len(losses_a) == 10
    assert resumed_final["neg_log_perplexity"] == read_final_metrics(straight)["neg_log_perplexity"]


def test_a_finished_run_resumed_again_only_re_evaluates(tmp_path):
    data = TinyCopyData()
    experiment = tiny_experiment(steps=4, eval_every=2)
    out = str(tmp_path / "run")
    first = train(experiment, data, InProcessSession(out, device="cpu", verbose=False)).metrics
    before = rows(out)
    again = train(experiment, data, InProcessSession(out, device="cpu", verbose=False)).metrics
    assert again["accuracy"] == first["accuracy"] and again["steps"] == 4
    assert all("train_loss" not in r for r in rows(out)[len(before):])  # no new training steps


def test_accumulation_consumes_two_micro_batches_per_step(tmp_path):
    data = TinyCopyData()
    experiment = tiny_experiment(steps=3, eval_every=3, gradient_accumulation_steps=2)
    out = str(tmp_path / "run")
    train(experiment, data, InProcessSession(out, device="cpu", verbose=False))
    meta = ckpt.read_meta(ckpt.latest_checkpoint(os.path.join(out, "checkpoints")))
    batches_per_epoch = len(data.batch_plan("train", 32, 0, 3, 0, True))
    assert meta["epoch"] * batches_per_epoch + meta["index"] == 6


def test_time_budget_stops_gracefully_with_checkpoint_and_eval(tmp_path, monkeypatch):
    from runner.training import loop

    clock = iter(range(10**6))  # a clock that advances one second each time it is read
    monkeypatch.setattr(loop.time, "monotonic", lambda: float(next(clock)))
    data = TinyCopyData()
    experiment = tiny_experiment(steps=1000, eval_every=500, time_budget_minutes=5 / 60)  # 5 "seconds"
    out = str(tmp_path / "run")
    final = train_in_folder(experiment, data, InProcessSession(out, device="cpu", verbose=False))
    assert 0 < final["steps"] < 1000
    last_step = int(final["steps"])
    history = rows(out)
    assert history[-2]["step"] == last_step and "eval_neg_log_perplexity" in history[-2]  # final eval
    assert history[-2]["checkpoint"].endswith(f"step_{last_step:08d}")             # final checkpoint
    assert "eval_accuracy" in final and os.path.exists(os.path.join(out, "final_metrics.json"))


def test_bad_metric_names_fail_before_any_training(tmp_path):
    experiment = tiny_experiment(metrics=("blue",))
    out = str(tmp_path / "run")
    with pytest.raises(ValueError, match="did you mean 'bleu'"):
        train(experiment, TinyCopyData(), InProcessSession(out, device="cpu", verbose=False))
    assert not os.path.exists(os.path.join(out, "metrics.jsonl"))


def test_the_loss_falls_on_the_copy_task(tmp_path):
    data = TinyCopyData(vocab=6, sizes=(64, 16, 16), max_len=4)
    experiment = tiny_experiment(steps=60, eval_every=60, metrics=("accuracy",))
    out = str(tmp_path / "run")
    train(experiment, data, InProcessSession(out, device="cpu", verbose=False))
    losses = [r["train_loss"] for r in rows(out) if "train_loss" in r]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
