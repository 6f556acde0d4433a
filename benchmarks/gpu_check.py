"""The steps of benchmarks/gpu_check.sh that need Python: refuse without a GPU, and turn a GPU run
and a GPU decode into benchmarks/results/gpu_*.json (each with the GPU's name).

    python -m benchmarks.gpu_check require-gpu                 # exit 1, loudly, when torch sees no GPU
    python -m benchmarks.gpu_check record-run RUN_DIR SECONDS  # -> results/gpu_multi30k_run.json
    python -m benchmarks.gpu_check decode RUN_DIR SOURCE REFERENCE   # -> results/gpu_decode.json

Nothing here measures on a CPU: every command first checks that a CUDA GPU is visible and fails
otherwise, so no CPU figure can be written under a gpu_ name.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import cuda_device_name, load_average, machine_info
from benchmarks.results import RESULTS_DIR, Result, now_iso, write_result


def require_gpu() -> str:
    name = cuda_device_name()
    if not name:
        print("gpu_check: no CUDA GPU visible to torch (torch.cuda.is_available() is False); nothing was measured "
              "and no gpu_*.json was written", file=sys.stderr)
        raise SystemExit(1)
    return name


def _result(name: str, title: str, ours: float, unit: str, details: dict, gpu: str) -> Result:
    return Result(name=name, title=title, ours=ours, baseline=None, unit=unit, higher_is_better=True,
                  ours_label="runner on the GPU", baseline_label="", repetitions=1, details=details,
                  machine={**machine_info("cuda"), "gpu": gpu}, date=now_iso(), load_start=load_average(),
                  load_end=load_average())


def record_run(run_dir: Path, seconds: float, results: Path) -> Path:
    """A short `runner run multi30k_deen_gpu` through Ray: BLEU, steps, tokens/s, peak GPU memory."""
    gpu = require_gpu()
    final = json.loads((run_dir / "final_metrics.json").read_text())
    workers = json.loads((run_dir / "ray_run.json").read_text()).get("workers", [])
    if not workers or not all(str(w.get("device", "")).startswith("cuda") for w in workers):
        raise SystemExit(f"gpu_check: the run's workers did not train on a GPU ({workers}); not recorded")
    details = {"final_metrics": final, "workers": workers, "wall_seconds_including_start_up": seconds,
               "command": (run_dir / "command.txt").read_text().strip() if (run_dir / "command.txt").is_file() else None}
    result = _result("gpu_multi30k_run", "runner run multi30k_deen_gpu (short budget) through Ray on one GPU",
                     final.get("tokens_per_sec", 0.0), "target tokens/s", details, gpu)
    result.medians = {k: final.get(k) for k in ("bleu", "steps", "train_seconds", "tokens_per_sec", "peak_memory_mb")}
    return write_result(result, results)


def decode(run_dir: Path, source: Path, reference: Path, results: Path) -> Path:
    """`runner decode` of the test split on the GPU (beam 4, the recipe's settings): sentences/s, tokens/s."""
    import sacrebleu

    gpu = require_gpu()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "hyp.txt"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "runner", "decode", str(run_dir), "--from-file", str(source),
                        "--to-file", str(out)], check=True)
        seconds = time.perf_counter() - started
        hypotheses = out.read_text(encoding="utf-8").splitlines()
    references = reference.read_text(encoding="utf-8").splitlines()
    words = sum(len(h.split()) for h in hypotheses)
    details = {"sentences": len(hypotheses), "seconds_including_model_load": seconds, "output_words": words,
               "bleu": sacrebleu.corpus_bleu(hypotheses, [references[: len(hypotheses)]]).score}
    result = _result("gpu_decode", "runner decode of Multi30K test_2016 on the GPU (beam 4, alpha 0.6)",
                     len(hypotheses) / seconds, "sentences/s", details, gpu)
    result.medians = {"sentences_per_sec": len(hypotheses) / seconds, "words_per_sec": words / seconds}
    return write_result(result, results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("require-gpu")
    r = sub.add_parser("record-run")
    r.add_argument("run_dir", type=Path)
    r.add_argument("seconds", type=float)
    d = sub.add_parser("decode")
    d.add_argument("run_dir", type=Path)
    d.add_argument("source", type=Path)
    d.add_argument("reference", type=Path)
    args = parser.parse_args(argv)
    if args.action == "require-gpu":
        print(require_gpu())
    elif args.action == "record-run":
        print(record_run(args.run_dir, args.seconds, args.results_dir))
    else:
        print(decode(args.run_dir, args.source, args.reference, args.results_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
