"""Schedulers that pay off: compute to reach within 1 % of the best final objective, per search method.

    python benchmarks/tune_asha_vs_random.py            # the measurement: ~6 min on an idle 2-core machine
    python benchmarks/tune_asha_vs_random.py --quick    # a smoke run (4 short trials each; not a measurement)
    python -m benchmarks.run tune_asha_vs_random        # the same, through the benchmark runner

The problem is catalog/recipes/digits_tune_cpu.yaml: the digits ResNet's learning rate and
warmup, 12 trials of 600 steps, 2 at a time, the eval loss (neg_log_perplexity) as objective.
Digits is a problem where early rungs predict the final ranking (the learning rate decides
most of it, and it shows within the first 100 steps), and long enough (600 steps, rungs at
100 and 300) for early stopping to save compute. Three sweeps run `runner tune`'s own code
(run_sweep, single-worker path) on it, with the same seed:

- random:      random search, every trial trains to the end (FIFO);
- asha:        the same random configs (the same seed samples the same ones), ASHA stopping;
- optuna_asha: Optuna's TPE (seeded) proposing configs, ASHA stopping.

(`--methods grid,...` adds a 3 x 3 grid with FIFO.)

The measure: `best` = the best final objective any sweep reached (a trial that trained all
600 steps); a sweep "reaches" it at the first moment one of its trials finishes within 1 % of
it; the compute spent to get there is the optimizer steps all of its trials had trained by
that moment (from each trial's metrics.jsonl rows, which carry step and time). Also reported:
each sweep's total trial-steps, its own best, wall time, and how many trials were stopped.
The JSON's headline is asha's compute-to-reach against random's (ratio < 1: ASHA saved).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RECIPE = str(REPO / "catalog" / "recipes" / "digits_tune_cpu.yaml")
METHODS = {"random": ("random", "fifo"), "grid": ("grid", "fifo"), "asha": ("random", "asha"),
           "optuna_asha": ("optuna", "asha")}
DEFAULT_METHODS = ("random", "asha", "optuna_asha")
# The smoke run: 4 trials of 60 steps (rungs at 20 and 40).
QUICK = ["tune.max_trials=4", "train.steps=60", "train.eval_every=10", "tune.scheduler.grace_period=2",
         "tune.scheduler.reduction_factor=2"]
WITHIN = 0.01


def sweep(method: str, folder: str, data_dir: str, extra: list[str]) -> dict:
    from rich.console import Console

    from runner.launch.tune import run_sweep
    from runner.specs.resolve import resolve

    search, scheduler = METHODS[method]
    overrides = [*extra, f"tune.search={search}", f"tune.scheduler.type={scheduler}"]
    if search == "grid":
        overrides.append("tune.max_trials=9")
    experiment = resolve(RECIPE, overrides)
    start = time.perf_counter()
    outcome = run_sweep(experiment, RECIPE, overrides, os.path.join(folder, method), data_dir,
                        console=Console(stderr=True, quiet=True))
    wall = time.perf_counter() - start
    trials = []
    for t in outcome.trials:
        rows = _rows(os.path.join(t.trial_dir, "metrics.jsonl"))
        trials.append({"trial_id": t.trial_id, "config": t.config, "status": t.status, "steps": t.step or 0,
                       "final": t.objective if t.status == "finished" else None, "rows": rows})
    return {"method": method, "search": search, "scheduler": scheduler, "wall": wall,
            "objective": outcome.plan.objective, "mode": outcome.plan.mode, "train_steps": experiment.train.steps,
            "trials": trials, "stopped": sum(t["status"] == "stopped" for t in trials),
            "errors": sum(t["status"] == "error" for t in trials),
            "trial_steps": sum(t["steps"] for t in trials)}


def _rows(path: str) -> list[dict]:
    """(time, step) of each row a trial reported: how far it had trained by when."""
    rows = []
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                rows.append({"time": row.get("time"), "step": row.get("step")})
    return rows


def compute_to_reach(result: dict, best: float, mode: str) -> dict:
    """Trial-steps spent when the sweep first had a finished trial within WITHIN of `best`."""
    def good(value: float) -> bool:
        margin = WITHIN * abs(best)
        return value >= best - margin if mode == "max" else value <= best + margin

    finish_times = [t["rows"][-1]["time"] for t in result["trials"]
                    if t["final"] is not None and good(t["final"]) and t["rows"]]
    if not finish_times:
        return {"reached": False, "trial_steps": None, "seconds": None}
    moment = min(finish_times)
    spent = 0
    for t in result["trials"]:
        steps = [r["step"] for r in t["rows"] if r["time"] is not None and r["time"] <= moment and r["step"]]
        spent += max(steps, default=0)
    started = min((t["rows"][0]["time"] for t in result["trials"] if t["rows"]), default=moment)
    return {"reached": True, "trial_steps": spent, "seconds": moment - started}


def measure(methods: tuple[str, ...], quick: bool) -> dict:
    from benchmarks.tune_overhead import temporary_tracking
    from runner import problems
    from runner.specs.resolve import resolve

    extra = QUICK if quick else []
    with tempfile.TemporaryDirectory(prefix="asha-vs-random-") as folder, temporary_tracking(folder):
        data_dir = os.path.join(folder, "data")
        problems.build(resolve(RECIPE, extra).problem, data_dir)
        results = [sweep(m, folder, data_dir, extra) for m in methods]
    mode = results[0]["mode"]
    finals = [t["final"] for r in results for t in r["trials"] if t["final"] is not None and math.isfinite(t["final"])]
    best = (max if mode == "max" else min)(finals) if finals else None
    for r in results:
        own = [t["final"] for t in r["trials"] if t["final"] is not None]
        r["best"] = (max if mode == "max" else min)(own) if own else None
        r["reach"] = compute_to_reach(r, best, mode) if best is not None else {"reached": False}
        for t in r["trials"]:
            t.pop("rows")  # the JSON keeps the per-trial outcome, not every row
    return {"best": best, "within": WITHIN, "mode": mode, "results": results}


def print_table(measured: dict) -> None:
    print(f"best final {measured['results'][0]['objective']} ({measured['mode']}) over all sweeps: "
          f"{measured['best']}; 'reach' = a finished trial within {100 * WITHIN:g} % of it")
    print(f"{'method':12} {'trials':>6} {'stopped':>7} {'best':>9} {'trial-steps':>11} {'to reach':>9} "
          f"{'s to reach':>10} {'wall s':>7}")
    for r in measured["results"]:
        reach = r["reach"]
        best = "-" if r["best"] is None else f"{r['best']:.4f}"
        steps = "never" if not reach.get("reached") else str(reach["trial_steps"])
        secs = "-" if not reach.get("reached") else f"{reach['seconds']:.0f}"
        print(f"{r['method']:12} {len(r['trials']):6d} {r['stopped']:7d} {best:>9} {r['trial_steps']:11d} "
              f"{steps:>9} {secs:>10} {r['wall']:7.0f}")


def run(quick: bool = False, methods: tuple[str, ...] = DEFAULT_METHODS):
    from benchmarks.results import Result

    measured = measure(methods, quick)
    print_table(measured)
    by = {r["method"]: r for r in measured["results"]}
    reach = {m: r["reach"].get("trial_steps") for m, r in by.items()}
    return Result(
        name="tune_asha_vs_random", title="compute to reach within 1 % of the best final objective (digits sweep)",
        ours=reach.get("asha"), baseline=reach.get("random"), unit="trial-steps", higher_is_better=False,
        ours_label="ASHA (random configs)", baseline_label="random search, every trial to the end",
        repetitions=1, medians={f"{m}_trial_steps_to_reach": v for m, v in reach.items()}
        | {f"{m}_total_trial_steps": r["trial_steps"] for m, r in by.items()}
        | {f"{m}_wall": r["wall"] for m, r in by.items()},
        details=measured,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 trials of 60 steps per method: a smoke run")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help=f"comma-separated, of: {', '.join(METHODS)} (default: {','.join(DEFAULT_METHODS)})")
    parser.add_argument("--results-dir", default=None, help="where the JSON goes (default benchmarks/results)")
    args = parser.parse_args(argv)
    methods = tuple(m for m in args.methods.split(",") if m)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or "random" not in methods:
        parser.error(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)} (random is the baseline: keep it)")
    from benchmarks.machine import load_average, machine_info
    from benchmarks.results import RESULTS_DIR, now_iso, write_result

    load_start, started, date = load_average(), time.perf_counter(), now_iso()
    result = run(args.quick, methods)
    result.seconds, result.load_start, result.load_end = time.perf_counter() - started, load_start, load_average()
    result.date, result.quick, result.machine = date, args.quick, machine_info("cpu")
    path = write_result(result, Path(args.results_dir) if args.results_dir else RESULTS_DIR)
    ratio = "—" if result.ratio is None else f"{result.ratio:.2f}"
    print(f"ASHA / random compute to reach: {ratio}; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
