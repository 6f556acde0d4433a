"""Run benchmarks, print one table, write benchmarks/results/<name>.json for each.

    python -m benchmarks.run                       # all of them (10-30 minutes on two busy cores)
    python -m benchmarks.run throughput padding    # some
    python -m benchmarks.run --quick               # every benchmark, briefly (development, smoke tests)

Every benchmark is a module with `run(quick) -> Result` (results.py). This runner adds what is
the same for all: the machine (CPU model, cores, torch version, device), the date, the load
average before and after (the machine is shared: a high load means noisier medians), and
the wall time the benchmark took. One benchmark failing does not stop the others; the exit
status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.machine import load_average, machine_info
from benchmarks.results import RESULTS_DIR, Result, now_iso, results_table, write_result

# name -> module (benchmarks/<module>.py); the order is the order they run and print in.
BENCHMARKS = {
    "cli_startup": "benchmarks.cli_startup",
    "padding": "benchmarks.padding",
    "speech_augment": "benchmarks.speech_augment",
    "datagen": "benchmarks.datagen",
    "throughput": "benchmarks.throughput",
    "gpu_mfu": "benchmarks.gpu_mfu",
    "ray_overhead": "benchmarks.ray_overhead",
    "decode": "benchmarks.decode",
    "tune_overhead": "benchmarks.tune_overhead",
    "tune_asha_vs_random": "benchmarks.tune_asha_vs_random",
}


def run_one(name: str, quick: bool, run: Callable[..., Result] | None = None) -> Result:
    """`run` replaces the module's run(quick) (a benchmark's own CLI passes its extra options)."""
    module = importlib.import_module(BENCHMARKS[name])
    load_start, started, date = load_average(), time.perf_counter(), now_iso()
    result: Result = (run or module.run)(quick=quick)
    result.seconds = time.perf_counter() - started
    result.load_start, result.load_end, result.date, result.quick = load_start, load_average(), date, quick
    result.machine = machine_info(_device_of(result))
    return result


def _device_of(result: Result) -> str:
    device = result.details.get("device_name") if isinstance(result.details, dict) else None
    return f"cuda ({device})" if device else "cpu"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and steps: a smoke run, not a measurement")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 160)  # logs keep the whole table
    results, failed = [], []
    for name in args.names or list(BENCHMARKS):
        console.print(f"[bold]{name}[/] ... (load {load_average()[0]:.1f})", highlight=False)
        try:
            result = run_one(name, args.quick)
        except Exception:  # noqa: BLE001 - report it and go on with the other benchmarks
            failed.append(name)
            console.print(f"[red]{name} failed[/]\n{traceback.format_exc()}", highlight=False)
            continue
        path = write_result(result, args.results_dir)
        console.print(f"  {result.seconds:.0f} s -> {path}", highlight=False)
        results.append(result)
    if results:
        console.print(results_table(results))
        machine = results[0].machine
        console.print(f"machine: {machine['cpu_model']}, {machine['cores']} cores, torch {machine['torch']}"
                      + (" [yellow](--quick: smoke-run numbers, not measurements)[/]" if args.quick else ""),
                      highlight=False)
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/]")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
