"""The launch plan of one run (ray-free): names, paths, resources, and whether a cluster can hold it.

Kept apart from the code that starts Ray so that `runner run --dry-run` can print the plan
without starting anything, and so the capacity check is a plain function of node resources.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

from runner.run_dir import RunDir, run_name
from runner.specs.errors import SpecError

SHRINK_HINT = "-o resources.workers=1 -o resources.accelerator=cpu -o resources.gpus_per_worker=0"


@dataclass(frozen=True)
class LaunchPlan:
    run_name: str             # Ray Train's run name: the same name + storage path resumes the run
    output_dir: str           # absolute; final_metrics.json etc. land here
    storage_path: str         # absolute <output_dir>/ray: Ray Train's checkpoints and run state
    data_dir: str             # absolute; the datagen cache every worker reads
    address: str | None       # None: an embedded local Ray for this run
    workers: int
    cpus_per_worker: float
    gpus_per_worker: float
    accelerator: str          # cpu | gpu | tpu
    tpu_topology: str | None
    backend: str              # torch.distributed backend: gloo on CPU, nccl on GPU
    max_failures: int
    keep_checkpoints: int
    steps: int
    accumulation: int         # gradient accumulation steps per optimizer step
    global_batch: str
    tracking_uri: str

    @property
    def run_dir(self) -> str:
        """Where Ray Train keeps this run's checkpoints: <storage_path>/<run_name>."""
        return os.path.join(self.storage_path, self.run_name)

    def per_worker(self) -> dict[str, float]:
        """What one worker reserves, in Ray's resource names."""
        wanted = {"CPU": self.cpus_per_worker}
        if self.accelerator == "gpu":
            wanted["GPU"] = self.gpus_per_worker
        elif self.accelerator == "tpu":
            wanted["TPU"] = 1.0
        return wanted

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_plan(experiment: Any, output_dir: str, data_dir: str, address: str | None, tracking_uri: str) -> LaunchPlan:
    resources = experiment.resources
    return LaunchPlan(
        run_name=run_name(experiment),
        output_dir=os.path.abspath(output_dir),
        storage_path=RunDir(output_dir).ray_storage,
        data_dir=os.path.abspath(data_dir),
        address=address,
        workers=resources.workers,
        cpus_per_worker=resources.cpus_per_worker,
        gpus_per_worker=resources.gpus_per_worker,
        accelerator=resources.accelerator,
        tpu_topology=resources.tpu_topology,
        backend="nccl" if resources.accelerator == "gpu" else "gloo",
        max_failures=experiment.train.max_failures,
        keep_checkpoints=experiment.train.keep_checkpoints,
        steps=experiment.train.steps,
        accumulation=experiment.train.gradient_accumulation_steps,
        global_batch=experiment.global_batch.formula,
        tracking_uri=tracking_uri,
    )


def check_capacity(plan: LaunchPlan, nodes: list[dict[str, float]]) -> None:
    """Fail at once when the cluster's alive nodes cannot hold the run's workers.

    Ray would otherwise wait forever for resources that will never appear. `nodes` holds each
    alive node's total resources (e.g. {"CPU": 2.0, "GPU": 0.0}). A worker must fit on one
    node, so the room is counted node by node, not from the cluster's sum.
    """
    wanted = plan.per_worker()
    room = sum(_workers_fitting(node, wanted) for node in nodes)
    if room >= plan.workers:
        return
    totals = {key: sum(node.get(key, 0.0) for node in nodes) for key in wanted}
    asked = ", ".join(f"{_num(v)} {k}" for k, v in wanted.items())
    total_asked = ", ".join(f"{_num(v * plan.workers)} {k}" for k, v in wanted.items())
    has = ", ".join(f"{_num(v)} {k}" for k, v in totals.items())
    raise SpecError(
        f"the recipe asks for {plan.workers} workers x ({asked}) = {total_asked}, but the Ray cluster has "
        f"{has} on {len(nodes)} alive node{'s' if len(nodes) != 1 else ''} (room for {room} such "
        f"worker{'s' if room != 1 else ''}); shrink the run with {shrink_overrides(plan, nodes)}, "
        "or join a bigger cluster with --address / RAY_ADDRESS",
        field="resources",
    )


def shrink_overrides(plan: LaunchPlan, nodes: list[dict[str, float]]) -> str:
    """The `-o` overrides that make the run fit these nodes on CPU, keeping the global batch when possible."""
    biggest = max((node.get("CPU", 0.0) for node in nodes), default=0.0)
    if biggest < 1:
        return SHRINK_HINT
    cpus = min(plan.cpus_per_worker, biggest)
    workers = max(1, min(plan.workers, sum(_workers_fitting(node, {"CPU": cpus}) for node in nodes)))
    overrides = [f"-o resources.workers={workers}"]
    if plan.accelerator != "cpu":
        overrides += ["-o resources.accelerator=cpu", "-o resources.gpus_per_worker=0"]
    if cpus != plan.cpus_per_worker:
        overrides.append(f"-o resources.cpus_per_worker={_num(cpus)}")
    if workers < plan.workers and plan.workers % workers == 0:
        # The same global batch: fewer workers, each accumulating more micro-batches per step.
        overrides.append(f"-o train.gradient_accumulation_steps={plan.accumulation * plan.workers // workers}")
    return " ".join(overrides)


def _workers_fitting(node: dict[str, float], wanted: dict[str, float]) -> int:
    counts = [math.floor(node.get(key, 0.0) / amount + 1e-9) for key, amount in wanted.items() if amount > 0]
    return min(counts) if counts else 0


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def describe(plan: LaunchPlan, experiment: Any, cpu_count: int | None = None) -> list[tuple[str, str]]:
    """The rows `runner run --dry-run` prints: what would run where, and nothing started."""
    per_worker = ", ".join(f"{_num(v)} {k}" for k, v in plan.per_worker().items())
    if plan.address:
        cluster = f"join the Ray cluster at {plan.address}"
    else:
        cluster = f"an embedded local Ray for this run ({cpu_count or os.cpu_count()} CPUs on this machine)"
    problem = experiment.problem
    source = getattr(problem, "generator", None)  # a data source gets its own rows in the dry run (preflight.py)
    rows = [
        ("recipe", f"{experiment.recipe} (spec_hash {experiment.spec_hash[:12]})"),
        ("problem", f"{problem.name} ({problem.family}{f', {source}' if source else ''})"),
        ("model", f"{experiment.model.name} / {experiment.hparams_set}"),
        ("cluster", cluster),
        ("workers", f"{plan.workers} x ({per_worker}), torch.distributed backend {plan.backend}"
                    + (f", TPU topology {plan.tpu_topology} (untested here)" if plan.accelerator == "tpu" else "")),
        ("global batch", plan.global_batch),
        ("steps", f"{_steps_text(plan.steps, experiment)} (eval every {experiment.train.eval_every}, "
                  f"checkpoint every {experiment.train.checkpoint_every or experiment.train.eval_every}, "
                  f"keep {plan.keep_checkpoints})"),
        ("compute", _compute_text(experiment)),
        ("failures", f"restart from the last checkpoint up to {plan.max_failures} times"
                     if plan.max_failures >= 0 else "restart from the last checkpoint, without limit"),
        ("data", f"{plan.data_dir}/{problem.name}-<fingerprint>/ (generated once on the driver if missing)"),
        ("output", plan.output_dir),
        ("checkpoints", f"{plan.run_dir} (re-running the same command resumes from here)"),
        ("tracking", f"{plan.tracking_uri} (MLflow experiment "
                     f"'{experiment.tracking.experiment_name or experiment.recipe}')"),
    ]
    return rows


def _steps_text(steps: int, experiment: Any) -> str:
    budget = experiment.train.time_budget_minutes
    replay = getattr(experiment, "replay_steps", None)
    if replay:
        return f"{replay} (--replay-steps: the {budget:g}-minute time budget off; the schedule still spans {steps})"
    return f"{steps}, or {budget:g} minutes of training if sooner" if budget else str(steps)


def _compute_text(experiment: Any) -> str:
    """train.precision / train.compile and what they mean on this accelerator (runner/training/precision.py)."""
    train, gpu = experiment.train, experiment.resources.accelerator == "gpu"
    means = {
        "auto": "bf16 autocast, TF32 (fp16 + grad scaler on a GPU without bf16)" if gpu else "fp32",
        "fp32": "full fp32, TF32 off" if gpu else "fp32",
        "bf16": "bf16 autocast, TF32" if gpu else "bf16 autocast on CPU",
        "fp16": "fp16 autocast + grad scaler, TF32",
    }[train.precision]
    extras = ", pinned memory + non-blocking copies, SDPA flash/memory-efficient attention" if gpu else ""
    ddp = ", DDP all-reduce once per step (no_sync while accumulating)" if experiment.resources.workers > 1 else ""
    return (f"precision {train.precision} ({means}), fused {experiment.hparams.optimizer} where torch has it"
            f"{extras}{ddp}; torch.compile {'on' if train.compile else 'off'}")
