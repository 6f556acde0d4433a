"""What running on Ray Train costs next to the same loop in-process: start-up seconds and step speed.

    python -m benchmarks.run ray_overhead [--quick]              # as one of the benchmarks
    python benchmarks/ray_overhead.py --repeats 5 -o train.steps=60   # on its own, printing a summary

Each run is the user's own command in a fresh process, so imports, Ray's start and shutdown and
MLflow are all counted: `runner run RECIPE --in-process` against `runner run RECIPE` (an embedded
local Ray; 1 worker), alternating. Both get the same number of torch threads (`--threads`,
default 1): Ray gives a worker as many threads as CPUs it reserves (`resources.cpus_per_worker`,
default 1), and the in-process run gets OMP_NUM_THREADS. One thread is also the fair default on
a shared machine: with other jobs running, two OpenMP threads on two cores can be several times
slower than one.

The recipe is the real Multi30K one (multi30k_deen_cpu) at 1,000-token batches with a progress
row every 5 steps and no eval until the end. From each run's metrics.jsonl rows:
  start-up s       process start to the first progress row (which follows `log_every` steps; the
                   steps cost the same in both modes, so the difference is Ray's start-up cost)
  steps tok/s      the loop's own `tokens_per_sec` (time inside training steps), median of the
                   rows after the first (warm-up) window
  wall steps/s     steps per wall second between the first and the last progress row before the
                   final eval: everything Ray adds per step (reporting, the progress queue) counts
and, from the command, `overhead s` = wall - train_seconds (start-up, eval, decoding, shutdown).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.results import Result, Target  # noqa: E402
from benchmarks.timing import REPO_ROOT, alternate, median, python_env  # noqa: E402

NAME = "ray_overhead"
RECIPE = "multi30k_deen_cpu"
LOG_EVERY = 5


def overrides_for(steps: int) -> list[str]:
    return ["hparams.batch_size=1000", f"train.steps={steps}", f"train.log_every={LOG_EVERY}",
            f"train.eval_every={steps}", "train.eval_steps=2", "train.time_budget_minutes=0",
            "decode.max_examples=20", "decode.beam_size=1"]


def run_once(mode: str, overrides: list[str], workdir: str, threads: int) -> dict[str, Any]:
    out = tempfile.mkdtemp(prefix=f"{mode}-", dir=workdir)
    argv = [sys.executable, "-m", "runner", "run", RECIPE, "--output-dir", out]
    extra = ["-o", f"resources.cpus_per_worker={threads}"] if mode == "ray" else ["--in-process"]
    for override in overrides:
        argv += ["-o", override]
    env = python_env(threads)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{workdir}/mlflow.db"
    env.pop("RAY_ADDRESS", None)
    started_at, started = time.time(), time.perf_counter()
    done = subprocess.run(argv + extra, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{done.stderr[-3000:]}")
    final = json.loads(done.stdout[done.stdout.rindex("{\n"):])  # --in-process prints progress lines first
    rows = [json.loads(line) for line in Path(out, "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"wall": wall, "overhead": wall - final["train_seconds"], **steady_state(rows, started_at)}


def steady_state(rows: list[dict[str, Any]], started_at: float) -> dict[str, Any]:
    """Start-up and steady-state figures from a run's progress rows (see the module docstring),
    and the rows themselves as [step, seconds since start, tokens_per_sec]."""
    progress = [r for r in rows if "tokens_per_sec" in r]
    if len(progress) < 3:
        raise ValueError(f"need at least 3 progress rows to skip warm-up and the final eval, got {len(progress)}")
    periodic = [r for r in progress if not r.get("done") and "eval_loss" not in r]  # rows without an eval
    first, last = periodic[0], periodic[-1]
    return {
        "rows": [[r["step"], round(r["time"] - started_at, 2), round(r["tokens_per_sec"], 1)] for r in progress],
        "startup_seconds": first["time"] - started_at,
        "tokens_per_sec": median([r["tokens_per_sec"] for r in progress[1:]]),
        "wall_steps_per_sec": (last["step"] - first["step"]) / max(last["time"] - first["time"], 1e-9),
    }


def measure(repeats: int, threads: int, overrides: list[str], log=None) -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as workdir:
        # Datagen once, untimed (both modes then read the same cache).
        subprocess.run([sys.executable, "-m", "runner", "datagen", RECIPE], cwd=REPO_ROOT, env=python_env(),
                       check=True, capture_output=True)

        def one(mode: str):
            def call():
                r = run_once(mode, overrides, workdir, threads)
                if log:
                    log(f"{mode:10s} wall {r['wall']:6.1f} s  start-up {r['startup_seconds']:6.1f} s  "
                        f"steps {r['tokens_per_sec']:8.0f} tok/s  {r['wall_steps_per_sec']:.3f} steps/s")
                return r
            return call

        return alternate({"in-process": one("in-process"), "ray": one("ray")}, repeats)


def summarize(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """Medians of every number per mode (the per-row lists stay in the runs)."""
    return {mode: {k: median([r[k] for r in rows]) for k in rows[0] if k != "rows"} for mode, rows in runs.items()}


def run(quick: bool = False, threads: int = 1, extra_overrides: list[str] | None = None) -> Result:
    repeats, steps = (1, 15) if quick else (3, 30)
    overrides = overrides_for(steps) + list(extra_overrides or [])
    runs = measure(repeats, threads, overrides)
    med = summarize(runs)
    ray, local = med["ray"], med["in-process"]
    return Result(
        name=NAME, title="steady-state training tokens/s, Ray Train (1 worker) vs in-process, Multi30K",
        ours=ray["tokens_per_sec"], baseline=local["tokens_per_sec"], unit="tok/s", higher_is_better=True,
        ours_label="runner run (Ray Train)", baseline_label="runner run --in-process", repetitions=repeats,
        target=Target("ratio", ">=", 0.95),
        medians={**{f"{mode}": m for mode, m in med.items()},
                 "startup_cost_seconds": ray["startup_seconds"] - local["startup_seconds"],
                 "wall_steps_per_sec_ratio": ray["wall_steps_per_sec"] / local["wall_steps_per_sec"],
                 # Runs of the two modes happen minutes apart, so other jobs' load differs between
                 # them: the ratio within each round, and best against best (load only ever slows
                 # a run down), say how much of the median's deviation from 1 is noise.
                 "tokens_per_sec_ratio_per_round": [r["tokens_per_sec"] / i["tokens_per_sec"]
                                                    for r, i in zip(runs["ray"], runs["in-process"])],
                 "best_tokens_per_sec_ratio": max(r["tokens_per_sec"] for r in runs["ray"])
                 / max(r["tokens_per_sec"] for r in runs["in-process"])},
        details={"runs": runs, "recipe": RECIPE, "overrides": overrides, "threads": threads},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in both modes (default 1)")
    parser.add_argument("-o", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    runs = measure(args.repeats, args.threads, overrides_for(args.steps) + args.overrides,
                   log=lambda line: print(line, flush=True))
    med = summarize(runs)
    print(f"\nmedians over {args.repeats} runs ({os.cpu_count()} CPUs, {args.threads} torch thread(s) in each mode)")
    print(f"{'':12s}{'wall s':>10s}{'start-up s':>12s}{'overhead s':>12s}{'steps tok/s':>13s}{'steps/s':>10s}")
    for mode, m in med.items():
        print(f"{mode:12s}{m['wall']:10.1f}{m['startup_seconds']:12.1f}{m['overhead']:12.1f}"
              f"{m['tokens_per_sec']:13.0f}{m['wall_steps_per_sec']:10.3f}")
    ray, local = med["ray"], med["in-process"]
    print(f"Ray start-up cost: {ray['startup_seconds'] - local['startup_seconds']:.1f} s; steady-state tokens/s "
          f"Ray / in-process: {ray['tokens_per_sec'] / local['tokens_per_sec']:.2f} (wall steps/s "
          f"{ray['wall_steps_per_sec'] / local['wall_steps_per_sec']:.2f})")


if __name__ == "__main__":
    main()
