"""The one training loop: in-process for tests and debugging, and inside a Ray Train worker.

    metrics = train(experiment, data, session)

reads top to bottom as: seed -> build model -> optimizer and schedule -> resume -> steps
(periodic eval, checkpoints, progress rows) -> final eval on the test split -> FinalResults,
which the host (runner/api.py in-process, the Ray driver, a Tune trial) writes into the run folder.

Guarantees:
- Deterministic: everything is seeded from `train.seed`, batches come from the deterministic
  batch plan, and a checkpoint holds the data position and RNG states, so a run resumed from
  a checkpoint continues bit-identically on CPU (tested).
- A global step is `world_size x gradient_accumulation_steps` micro-batches; the loss is
  summed over the step's target tokens and divided by their global count (see stream.py),
  so the gradient is the same however the micro-batches are spread over workers.

Reported rows (session.report): `step`, `epoch`, `train_loss` (label-smoothed CE per target
token), `learning_rate`, `grad_norm`, `tokens_per_sec` (global target tokens), `peak_memory_mb`;
at evals also the problem's teacher-forced metrics on the eval split as `eval_<name>`
(`eval_loss`, `eval_neg_log_perplexity`, `eval_accuracy`, ...; a Tune objective `X` is read as
`eval_X`). The last row adds the test split's values under their plain names (as in
final_metrics.json: a plain metric name always means the TEST split) and `done: 1`.
"""

from __future__ import annotations

import contextlib
import math
import random
import resource
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from runner import metrics as metric_registry
from runner import registry
from runner.training import checkpoint as ckpt
from runner.training.decode import supports_decoding
from runner.run_dir import FinalResults
from runner.training.evaluate import evaluate_test_split, teacher_forced_stats
from runner.training.loss import smoothed_loss_sum
from runner.training.optim import build_optimizer
from runner.training.schedules import build_scheduler, learning_rate_fn
from runner.training.step_batches import StepBatches
from runner.training.stream import BatchStream, global_target_tokens
from runner.training.precision import Precision, compiled, to_device
from runner.training.threads import pin_threads

if TYPE_CHECKING:  # names for the signature only: the loop is given these, it builds none of them
    from runner.problems.base import ProblemData
    from runner.specs.experiment import Experiment
    from runner.training.session import Session


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def configure_determinism(device: torch.device) -> None:
    """Deterministic kernels on CPU (where they cost nothing); CUDA keeps its fast kernels."""
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)


build_model = registry.build_model  # the one builder (runner/registry.py); a name here so tests can swap it


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _distributed(world_size: int) -> bool:
    return world_size > 1 and dist.is_available() and dist.is_initialized()


class NonFiniteLoss(RuntimeError):
    """The training loss is NaN or infinite: training cannot recover, so the run fails with this message."""


def micro_step_loss(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    *,
    global_tokens: int,
    world_size: int,
    accumulation: int,
    pad_id: int,
    label_smoothing: float,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(loss to backpropagate, this micro-batch's share of the step's per-token CE, aux loss).

    DDP averages gradients over workers, so each worker's CE sum is scaled by
    world_size / global_tokens: the averaged gradient is then the step's summed CE divided by
    the step's global token count. A model's aux_loss is averaged over the step's micro-batches.
    `labels` (default batch["targets"]) are what the logits line up with: a model's
    `training_targets(batch)` when it trains on more than the targets.
    """
    output = model(batch)
    ce_sum = smoothed_loss_sum(output.logits, batch["targets"] if labels is None else labels, pad_id, label_smoothing)
    loss = ce_sum * (world_size / global_tokens)
    aux = getattr(output, "aux_loss", None)
    if aux is not None:
        loss = loss + aux / accumulation
        aux = aux.detach()
    return loss, ce_sum.detach() / global_tokens, aux


class _Run:
    """The state of one training run on one worker; `train()` below drives it."""

    def __init__(self, experiment: Any, data: Any, session: Any, model: torch.nn.Module):
        self.experiment, self.data, self.session = experiment, data, session
        self.hp, self.tr = experiment.hparams, experiment.train
        self.metric_names = list(experiment.problem.metrics)
        self.token_names = metric_registry.token_metric_names(self.metric_names)
        self.device = torch.device(session.device)
        self.rank, self.world = session.world_rank, session.world_size
        self.pad_id = data.info.target_pad_id
        self.model = model.to(self.device)
        torch.manual_seed(self.tr.seed + self.rank)  # dropout stream: after init, per worker
        self.optimizer = build_optimizer(self.model, self.hp, self.device)
        self.scheduler = build_scheduler(self.optimizer, self.hp, self.tr.steps)
        self.rate = learning_rate_fn(self.hp, self.tr.steps)
        # precision before resuming: fp16's loss scale is restored from the checkpoint into its scaler
        self.precision = Precision(getattr(self.tr, "precision", "auto"), self.device)  # tests may pass a namespace
        self.step, position = self._resume()
        self.stream = BatchStream(data, self.hp.batch_size, self.hp.max_length, self.tr.seed, position)
        self.batches = StepBatches(data, self.stream, self.tr.seed, self.rank, self.world,
                                   self.tr.gradient_accumulation_steps)
        self.ddp = _distributed(self.world)
        self.trained = (
            DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            if self.ddp else self.model
        )
        # torch.compile from train.compile (precision.py)
        self.trained = compiled(self.trained, getattr(self.tr, "compile", False))
        self.log_every = self.tr.log_every
        self.checkpoint_every = self.tr.checkpoint_every or self.tr.eval_every
        self.last_eval_step, self.last_checkpoint_step = -1, self.step
        self.last_eval: dict[str, float] = {}
        self.last_train_loss: float | None = None
        self._reset_window()
        self.total_tokens, self.total_seconds = 0, 0.0

    # -- resume ---------------------------------------------------------------------------------
    def _resume(self) -> tuple[int, ckpt.DataPosition]:
        path = self.session.latest_checkpoint()
        if not path:
            return 0, ckpt.DataPosition()
        meta = ckpt.read_meta(path)
        expected = self.experiment.spec_hash
        other_spec = bool(meta.get("spec_hash") and expected and meta["spec_hash"] != expected)
        if other_spec:
            # Not an error: Tune's PBT restores another trial's checkpoint under new hparams.
            print(f"note: resuming from {path}, saved by spec {meta['spec_hash'][:12]}, "
                  f"into spec {expected[:12]}", file=sys.stderr)
        step, position = ckpt.load_checkpoint(path, model=self.model, optimizer=self.optimizer,
                                              scheduler=self.scheduler, map_location=self.device,
                                              scaler=self.precision.scaler)
        if other_spec:
            self._apply_hparams_to_restored_optimizer()
        if self.rank != 0:  # the checkpoint holds rank 0's RNG; give other workers their own stream
            torch.manual_seed(self.tr.seed + self.rank + 1_000_003 * step)
        return step, position

    def _apply_hparams_to_restored_optimizer(self) -> None:
        """The optimizer's state_dict brought the saving run's betas, epsilon, weight decay and rate;
        keep its moments but take this run's hparams (a PBT exploit changed them)."""
        fresh = build_optimizer(self.model, self.hp, self.device)
        for group, new in zip(self.optimizer.param_groups, fresh.param_groups):
            group.update({k: v for k, v in new.items() if k not in ("params", "lr", "initial_lr")})
        for group, base, rate in zip(self.optimizer.param_groups, self.scheduler.base_lrs, self.scheduler.lr_lambdas):
            group["lr"] = base * rate(self.scheduler.last_epoch)  # this run's schedule, at the restored step

    # -- one optimizer step ---------------------------------------------------------------------
    def _reset_window(self) -> None:
        self.window_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        self.window_aux = torch.zeros((), dtype=torch.float64, device=self.device)
        self.window_has_aux = False
        self.window_steps, self.window_tokens, self.window_seconds = 0, 0, 0.0
        self.grad_norm: torch.Tensor | None = None  # of the window's last step

    def train_step(self) -> None:
        started = time.perf_counter()
        accumulation = self.tr.gradient_accumulation_steps
        step_batches, mine = self.batches.next_step()
        positions = list(range(self.rank, len(step_batches), self.world))  # i % world_size == rank
        labels_of = getattr(self.model, "training_targets", None)  # e.g. T2T's prepend loss over the whole sequence
        tokens = global_target_tokens(self.data, step_batches, mine, self.pad_id, labels_of)
        if tokens == 0:
            raise ValueError(f"step {self.step + 1}: its micro-batches hold no target tokens "
                             f"(every target equals target_pad_id={self.pad_id}); check the problem's data")
        self.trained.train()
        for n, i in enumerate(positions):
            batch = to_device(mine[i], self.device)
            # DDP all-reduces gradients only on the last micro-batch of the step.
            sync = self.trained.no_sync() if self.ddp and n < len(positions) - 1 else contextlib.nullcontext()
            with sync:
                with self.precision.autocast():
                    loss, ce_share, aux = micro_step_loss(
                        self.trained, batch, global_tokens=tokens, world_size=self.world,
                        accumulation=accumulation, pad_id=self.pad_id, label_smoothing=self.hp.label_smoothing,
                        labels=labels_of(batch) if labels_of else None,
                    )
                self.precision.backward(loss)
            self.window_loss += ce_share.double()
            if aux is not None:
                self.window_aux += aux.double() / (accumulation * self.world)
                self.window_has_aux = True
        # The global gradient norm (after DDP's all-reduce); kept as a tensor: no host sync per step.
        self.precision.unscale(self.optimizer)
        if self.hp.clip_grad_norm > 0:
            self.grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hp.clip_grad_norm)
        else:
            self.grad_norm = torch.nn.utils.get_total_norm([p.grad for p in self.model.parameters() if p.grad is not None])
        self.precision.step(self.optimizer)
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        seconds = time.perf_counter() - started
        self.window_steps += 1
        self.window_tokens += tokens
        self.window_seconds += seconds
        self.total_tokens += tokens
        self.total_seconds += seconds

    # -- reporting, eval, checkpoints -------------------------------------------------------------
    def _flush_window(self) -> dict[str, float]:
        if self.window_steps == 0:
            return {}
        sums = torch.stack([self.window_loss, self.window_aux])
        if self.ddp:
            dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        loss, aux = (sums / self.window_steps).tolist()
        if not math.isfinite(loss):  # checked per reported window: no host sync per step
            raise NonFiniteLoss(
                f"the training loss became {loss} by step {self.step}; the run is stopped rather than "
                "reported as finished. Lower hparams.learning_rate_constant, set hparams.clip_grad_norm "
                "(e.g. 1.0), or check the data")
        row = {
            "train_loss": loss,
            "learning_rate": self.rate(self.step),
            "grad_norm": float(self.grad_norm) if self.grad_norm is not None else 0.0,
            "tokens_per_sec": self.window_tokens / max(self.window_seconds, 1e-9),
            "peak_memory_mb": peak_memory_mb(self.device),
        }
        if self.window_has_aux:
            row["train_aux_loss"] = aux
        self.last_train_loss = loss
        self._reset_window()
        return row

    def evaluate(self) -> dict[str, float]:
        stats = teacher_forced_stats(
            self.model, self.data, "eval", batch_size=self.hp.batch_size, seed=self.tr.seed,
            label_smoothing=self.hp.label_smoothing, pad_id=self.pad_id, max_batches=self.tr.eval_steps,
            rank=self.rank, world_size=self.world,
        )
        self.last_eval = metric_registry.compute_token_metrics(self.token_names, stats)
        self.last_eval_step = self.step
        return self.last_eval

    def _save(self) -> str:
        directory = ckpt.save_checkpoint(
            ckpt.new_staging_dir(), model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
            step=self.step, position=self.stream.position, spec_hash=self.experiment.spec_hash,
            scaler=self.precision.scaler,
        )
        return directory

    def report(self, *, evaluate: bool, save: bool) -> None:
        row: dict[str, Any] = {"step": self.step, "epoch": self.stream.position.epoch}
        row.update(self._flush_window())
        if evaluate:  # eval-split values are eval_<name> everywhere; a plain name is a test value
            row.update({f"eval_{k}": v for k, v in self.evaluate().items()})
        checkpoint_dir = None
        if save:
            self.last_checkpoint_step = self.step
            if self.session.is_main:
                checkpoint_dir = self._save()
        self.session.report(row, checkpoint_dir=checkpoint_dir, milestone=evaluate or save)

    def after_step(self) -> None:
        last = self.step == self.tr.steps
        evaluate = last or self.step % self.tr.eval_every == 0
        save = last or self.step % self.checkpoint_every == 0
        if evaluate or save or self.step % self.log_every == 0:
            self.report(evaluate=evaluate, save=save)

    def finish_training(self) -> None:
        """Make sure the last step is evaluated and checkpointed (after a time-budget stop or a resume)."""
        evaluate = self.last_eval_step != self.step
        save = self.last_checkpoint_step != self.step
        if evaluate or save or self.window_steps:
            self.report(evaluate=evaluate, save=save)


def _out_of_time(deadline: float | None, world_size: int, device: torch.device) -> bool:
    """Whether the wall-clock budget is spent; workers agree (any one out of time stops all)."""
    if deadline is None:
        return False
    over = time.monotonic() >= deadline
    if not _distributed(world_size):
        return over
    # Clocks drift apart: without agreement one worker would stop while the others wait in DDP.
    flag = torch.tensor([1.0 if over else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _plugin_modules(experiment: Any) -> list[str]:
    """The recipe's, model's and problem's plugins (tests may pass a plain namespace)."""
    if hasattr(experiment, "to_dict"):
        from runner.specs.experiment import plugin_modules

        return plugin_modules(experiment)
    return list(getattr(experiment, "plugins", None) or [])


def train(experiment: Experiment, data: ProblemData, session: Session,
          model: torch.nn.Module | None = None) -> FinalResults:
    """Train, evaluate, checkpoint and score one experiment; returns what the host writes.

    `model`, if given, is used instead of building `experiment.model` from the registry.
    The final metrics are the problem's metrics on the test split under their own names, the
    last eval-split values as `eval_<name>`, and `steps`, `train_seconds`, `tokens_per_sec`,
    `peak_memory_mb`, `train_loss`; with them come the decoded metrics' signatures and the
    decoded test hypotheses (main worker only). The loop writes no final file itself.
    """
    registry.import_plugins(_plugin_modules(experiment))
    metric_names = list(experiment.problem.metrics)
    metric_registry.check_names(metric_names)  # a typo fails now, not after hours of training
    device = torch.device(session.device)
    configure_determinism(device)
    pin_threads(experiment)  # the spec's thread count: it changes the low bits of reductions
    seed_everything(experiment.train.seed)
    if model is None:
        model = build_model(experiment, data.info)
    if metric_registry.decoded_metric_names(metric_names) and not supports_decoding(model):
        raise ValueError(
            f"problem.metrics {metric_registry.decoded_metric_names(metric_names)} need decoding, but "
            f"{type(model).__name__} has no encode()/decode(); drop those metrics or use a sequence model"
        )
    run = _Run(experiment, data, session, model)

    budget = float(experiment.train.time_budget_minutes)
    deadline = time.monotonic() + 60 * budget if budget > 0 else None
    last_step = experiment.train.steps
    replay = getattr(experiment, "replay_steps", None)
    if replay:  # the step a time-budgeted run of this spec reached, trained with the budget off
        deadline, last_step = None, replay
    try:
        while run.step < last_step and not _out_of_time(deadline, run.world, device):
            run.train_step()
            run.after_step()
    finally:
        run.batches.close()
    run.finish_training()

    test_values, signatures, decoded = evaluate_test_split(experiment, run.model, data, session, metric_names)
    final: dict[str, float] = dict(test_values)
    final.update({f"eval_{k}": v for k, v in run.last_eval.items()})
    final.update({
        "steps": float(run.step),
        "train_seconds": run.total_seconds,
        "tokens_per_sec": run.total_tokens / max(run.total_seconds, 1e-9) if run.total_tokens else 0.0,
        "peak_memory_mb": peak_memory_mb(device),
    })
    if run.last_train_loss is not None:
        final["train_loss"] = run.last_train_loss
    last_row: dict[str, Any] = {"step": run.step, **{f"eval_{k}": v for k, v in run.last_eval.items()}}
    last_row.update(test_values)  # the test split's values under their plain names, as in final_metrics.json
    last_row["done"] = 1
    session.report(last_row, checkpoint_dir=None)
    return FinalResults(final, signatures, decoded)
