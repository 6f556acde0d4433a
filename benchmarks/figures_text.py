"""The text figures: train a CPU recipe end to end, in this process, and print its headline number.

    python benchmarks/figures_text.py reverse_cpu          # per-sequence accuracy (aim 1.00 in 5 CPU minutes)
    python benchmarks/figures_text.py multi30k_deen_cpu    # sacreBLEU on test_2016 after 20 minutes (aim >= 35)
    python benchmarks/figures_text.py multi30k_deen_cpu --curve   # + BLEU vs training wall time

For Multi30K, `--curve` decodes the test set greedily with every kept checkpoint and prints
sacreBLEU against the training wall time at which that checkpoint was written; the final
figure is the recipe's own decode (beam 4, alpha 0.6). Run figures one at a time on an idle
machine: the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(REPO))

from benchmarks.timing import use_recipe_threads  # noqa: E402
FIGURES = {  # recipe -> (metric, target, better)
    "reverse_cpu": ("accuracy_per_sequence", 1.00, "max"),
    "multi30k_deen_cpu": ("bleu", 35.0, "max"),
}


def bleu_curve(run_dir: str, every: int) -> list[tuple[int, float, float]]:
    """(step, training seconds, greedy test BLEU) for every `every`-th kept checkpoint."""
    from runner import api
    from runner.inference import run_checkpoints
    from runner.metrics.bleu import corpus_bleu
    from runner.run_dir import load_experiment
    from runner.training import checkpoint as ckpt
    from runner.training.decode import decode_dataset

    experiment = load_experiment(run_dir)
    rows = [json.loads(line) for line in Path(run_dir, "metrics.jsonl").read_text().splitlines()]
    # A step's first row is written when training reaches it; the final `done` row of the last
    # step comes after the test decode, so it must not date that step.
    times: dict[int, float] = {}
    for r in rows:
        if "time" in r and not r.get("done"):
            times.setdefault(r["step"], r["time"])
    # Training began train_seconds before the last training row (the evals in between are a few
    # seconds each, so this is close to, and never later than, the true start).
    train_seconds = json.loads(Path(run_dir, "final_metrics.json").read_text())["train_seconds"]
    first = times[max(times)] - train_seconds
    data = api.build_problem(experiment)
    model = api.build_model(experiment, data.info)
    greedy = experiment.decode.model_copy(update={"beam_size": 1})
    points = []
    for path in run_checkpoints(run_dir)[::-1][::every][::-1]:
        step = int(ckpt.read_meta(path)["step"])
        model.load_state_dict(ckpt.load_model_state(path))
        hyps = decode_dataset(model, data, "test", greedy)
        score = corpus_bleu(hyps, data.reference_texts("test")[: len(hyps)])
        points.append((step, times.get(step, first) - first, score.value))
        print(f"  step {step:6d}  t={points[-1][1] / 60:5.1f} min  greedy BLEU {score.value:5.2f}", flush=True)
    return points


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", choices=sorted(FIGURES))
    parser.add_argument("-o", "--override", action="append", default=[], dest="overrides")
    parser.add_argument("--output-dir", default=None)
    parser.add_argument("--curve", action="store_true", help="Multi30K: BLEU vs wall time from the checkpoints")
    parser.add_argument("--curve-every", type=int, default=2, help="use every N-th kept checkpoint")
    args = parser.parse_args()

    from runner import api

    metric, target, better = FIGURES[args.recipe]
    experiment = api.resolve(REPO / "catalog" / "recipes" / f"{args.recipe}.yaml", args.overrides)
    out = args.output_dir or tempfile.mkdtemp(prefix=f"{args.recipe}-")
    threads = use_recipe_threads(experiment)  # as many as `runner run` gives its worker
    load_before = os.getloadavg()
    start = time.perf_counter()
    final = api.train(experiment, out, verbose=True)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    signature = ""
    sig_path = Path(out, "final_metrics_signatures.json")
    if sig_path.is_file():
        signature = json.loads(sig_path.read_text()).get(metric, "")
    value = final[metric]
    met = value >= target if better == "max" else value <= target
    print(f"\n{args.recipe}: {metric} = {value:.4f} (target {'>=' if better == 'max' else '<='} {target}: "
          f"{'met' if met else 'missed'}) {signature}")
    print(f"  steps {final['steps']:.0f}, training {final['train_seconds'] / 60:.1f} min, wall {wall / 60:.1f} min "
          f"(datagen + train + test decode), {final['tokens_per_sec']:.0f} tokens/s on {threads} thread(s), peak RSS {peak_mb:.0f} MB, "
          f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}; run folder {out}")
    if args.curve:
        print("BLEU vs training wall time (greedy, full test_2016):")
        bleu_curve(out, args.curve_every)
    return 0


if __name__ == "__main__":
    sys.exit(main())
