"""Decoding speed on CPU: our incremental (cached) beam search vs the uncached path it replaced,
Hugging Face `generate` and CTranslate2 (the C++ ceiling), all running the SAME model.

The model is the Multi30K recipe's transformer (256/1024, 4 heads, 3+3 layers, its 8k BPE
vocabulary): seeded random weights by default, or a trained run's checkpoint with
`--run RUN_DIR` (env RUNNER_DECODE_BENCH_RUN under benchmarks.run). It is exported weight for
weight to HF M2M100 and to a CTranslate2 Transformer (decode_export.py); a greedy decode of
test sentences must agree token for token across the three (check `same_function`).

Sections, all beam 4, length penalty alpha 0.6 (each system's own formula: T2T's
((5+len)/6)^alpha for ours, len^alpha for HF and CTranslate2), the same batches of real
Multi30K test sentences (sorted by length, token-packed as `runner decode` packs them), the same
max length (batch's longest source + 50):
- multi30k: target tokens/s and sentences/s, 1 and 2 threads. With random weights every
  hypothesis runs to the length limit (an undertrained model's case); a trained run ends
  sentences early, where leaving finished sentences out of the batch also counts.
- scaling: one sentence forced to exactly 20, 100 and 400 target tokens (EOS barred), 1 thread:
  ours cached vs uncached vs HF vs CTranslate2.
The headline is one thread by process CPU time (what each implementation costs; robust to other
jobs on a shared machine), ours cached vs HF; wall-clock figures are kept beside it.
`--profile` adds an operator profile of our cached decode (where the gap to CTranslate2 goes).

    python -m benchmarks.run decode            # ~5 minutes on an idle 2-core machine
    python -m benchmarks.decode --run RUN_DIR  # the same with a trained Multi30K run's weights
    python -m benchmarks.run decode --quick    # smoke test: a few sentences, seconds
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import multi30k
from benchmarks.results import RESULTS_DIR, Result, Target, write_result

NAME = "decode"
BEAM, ALPHA, EXTRA_LENGTH = 4, 0.6, 50
SIDES = ("cached", "uncached", "hf", "ct2")
SIDE_LABELS = {"cached": "ours, incremental (KV cache)", "uncached": "ours, whole prefix each step",
               "hf": "HF M2M100 generate", "ct2": "CTranslate2"}


def plan(quick: bool) -> dict[str, Any]:
    if quick:
        return {"sentences": 6, "uncached_sentences": 2, "batch_size": 4, "threads": (1,), "rounds": 1,
                "extra_length": 8, "lengths": (8,), "check_sentences": 3}
    return {"sentences": 64, "uncached_sentences": 16, "batch_size": 64, "threads": (1, 2), "rounds": 2,
            "extra_length": EXTRA_LENGTH, "lengths": (20, 100, 400), "check_sentences": 8}


# ----------------------------------------------------------------------------- the four sides


class Sides:
    """The same model four ways, each decoding a list of source id lists (EOS-terminated, no
    padding) into hypotheses (ids without EOS)."""

    def __init__(self, model: Any, hparams: Any, workdir: str):
        from benchmarks import decode_export as export

        self.model, self.export = model, export
        self.hf = export.to_hf(model, hparams)
        self.translator_dir = export.to_ctranslate2(model, hparams, os.path.join(workdir, "ct2"))
        self.names = export.token_names(model.softmax.weight.shape[0])
        self._translators: dict[int, Any] = {}

    def translator(self, threads: int):
        if threads not in self._translators:
            self._translators[threads] = self.export.ctranslate2_translator(self.translator_dir, threads)
        return self._translators[threads]

    def decode(self, side: str, sources: list[list[int]], beam: int, max_length: int, threads: int,
               forced_length: bool = False) -> list[list[int]]:
        import torch

        from runner.training.decode import decode_batch, strip_ids

        torch.set_num_threads(threads)
        if side == "ct2":
            kw = {"min_decoding_length": max_length} if forced_length else {}
            results = self.translator(threads).translate_batch(
                [self.export.ct2_tokens(ids, self.names) for ids in sources], beam_size=beam, length_penalty=ALPHA,
                max_decoding_length=max_length, max_batch_size=len(sources), **kw)
            return [strip_ids(self.export.ct2_ids(r.hypotheses[0])) for r in results]
        inputs = _padded(sources)
        if side == "hf":
            config = self.export.hf_generation_config(beam, ALPHA, max_length, max_length if forced_length else 0)
            with torch.no_grad():
                out = self.hf.generate(input_ids=inputs, attention_mask=(inputs != 0).long(), generation_config=config)
            return [strip_ids(row[1:]) for row in out.tolist()]
        hook = self.model.softmax.register_forward_hook(_bar_eos) if forced_length else None
        try:
            return decode_batch(self.model, {"inputs": inputs}, beam, ALPHA, max_length, cached=side == "cached")
        finally:
            if hook is not None:
                hook.remove()


def _bar_eos(module: Any, args: Any, logits: Any) -> Any:
    """EOS impossible: hypotheses run to exactly max_length (the scaling section)."""
    logits = logits.clone()
    logits[..., 1] = float("-inf")
    return logits


def _padded(sources: list[list[int]]):
    import torch

    longest = max(len(ids) for ids in sources)
    return torch.tensor([ids + [0] * (longest - len(ids)) for ids in sources], dtype=torch.long)


def _timed(fn) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


# ----------------------------------------------------------------------------- sections


def _source_batches(data: Any, count: int, batch_size: int) -> list[list[list[int]]]:
    """The first `count` test sentences in `runner decode`'s batches: sorted by length, token-packed."""
    from runner.training.decode import token_packed_batches

    examples = data.split("test")
    sources = [[int(t) for t in examples[i]["inputs"]] for i in range(min(count, len(examples)))]
    return [[sources[i] for i in batch] for batch in token_packed_batches([len(s) for s in sources], batch_size)]


def _decode_all(sides: Sides, side: str, batches: list[list[list[int]]], threads: int, extra: int):
    outputs, wall, cpu = [], 0.0, 0.0
    for batch in batches:
        decoded, w, c = _timed(lambda: sides.decode(side, batch, BEAM, max(map(len, batch)) + extra, threads))
        outputs += decoded
        wall, cpu = wall + w, cpu + c
    return outputs, wall, cpu


def _rates(outputs: list[list[int]], wall: float, cpu: float, threads: int) -> dict[str, float]:
    tokens = sum(len(ids) + 1 for ids in outputs)  # + EOS (or the last step of a cut hypothesis)
    # One thread: process CPU time is the work done, unmoved by other jobs; more: the wall clock.
    seconds = cpu if threads == 1 else wall
    return {"tokens": tokens, "sentences": len(outputs), "wall_seconds": wall, "cpu_seconds": cpu,
            "tokens_per_sec": tokens / seconds, "sentences_per_sec": len(outputs) / seconds}


def multi30k_section(sides: Sides, data: Any, p: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.timing import rotated

    batches = _source_batches(data, p["sentences"], p["batch_size"])
    uncached_batches = _source_batches(data, p["uncached_sentences"], p["batch_size"])
    section: dict[str, Any] = {"sentences": p["sentences"], "uncached_sentences": p["uncached_sentences"],
                               "batches": len(batches)}
    outputs: dict[str, list[list[int]]] = {}
    for threads in p["threads"]:
        runs: dict[str, list[dict[str, float]]] = {side: [] for side in ("cached", "hf", "ct2")}
        for r in range(p["rounds"]):
            for side in rotated(list(runs), r):
                out, wall, cpu = _decode_all(sides, side, batches, threads, p["extra_length"])
                runs[side].append(_rates(out, wall, cpu, threads))
                outputs[side] = out
        out, wall, cpu = _decode_all(sides, "uncached", uncached_batches, threads, p["extra_length"])
        outputs["uncached"] = out
        runs["uncached"] = [_rates(out, wall, cpu, threads)]
        # The cached side on the uncached side's sentences, for a like-for-like speed-up.
        cached_small, wall, cpu = _decode_all(sides, "cached", uncached_batches, threads, p["extra_length"])
        runs["cached_on_uncached_sentences"] = [_rates(cached_small, wall, cpu, threads)]
        section[f"{threads}_threads"] = best = {side: _median_run(rows) for side, rows in runs.items()}
        best["ratios"] = {
            "cached_vs_hf": best["cached"]["tokens_per_sec"] / best["hf"]["tokens_per_sec"],
            "cached_vs_ct2": best["cached"]["tokens_per_sec"] / best["ct2"]["tokens_per_sec"],
            "cached_vs_uncached": best["cached_on_uncached_sentences"]["tokens_per_sec"]
            / best["uncached"]["tokens_per_sec"],
        }
        section[f"{threads}_threads_rounds"] = runs
        section["cached_equals_uncached"] = cached_small == outputs["uncached"]
    section["agreement_with_cached"] = {
        side: sum(a == b for a, b in zip(outputs["cached"], outputs[side])) / len(outputs["cached"])
        for side in ("hf", "ct2")}
    return section


def _median_run(rows: list[dict[str, float]]) -> dict[str, float]:
    ordered = sorted(rows, key=lambda row: row["tokens_per_sec"])
    return ordered[len(ordered) // 2]


def scaling_section(sides: Sides, data: Any, p: dict[str, Any]) -> dict[str, Any]:
    source = _source_batches(data, 1, 1)[0]
    section: dict[str, Any] = {"threads": 1, "sentences": 1}
    for length in p["lengths"]:
        row = {}
        for side in SIDES:
            out, wall, cpu = _timed(lambda: sides.decode(side, source, BEAM, length, 1, forced_length=True))
            row[side] = _rates(out, wall, cpu, 1)
            row[side]["output_lengths"] = [len(ids) for ids in out]
        row["ratios"] = {f"cached_vs_{side}": row["cached"]["tokens_per_sec"] / row[side]["tokens_per_sec"]
                         for side in ("uncached", "hf", "ct2")}
        section[str(length)] = row
    return section


def same_function_check(sides: Sides, data: Any, count: int) -> dict[str, Any]:
    """Greedy decodes of `count` test sentences, which must agree token for token."""
    batch = [source for sources in _source_batches(data, count, count) for source in sources]
    outputs = {side: sides.decode(side, batch, 1, max(map(len, batch)) + 20, 1) for side in SIDES}
    return {"agree": all(out == outputs["cached"] for out in outputs.values()),
            "output_lengths": [len(ids) for ids in outputs["cached"]]}


def profile_cached(sides: Sides, data: Any, sentences: int = 16, rows: int = 15) -> list[dict[str, Any]]:
    """The operators our cached beam search spends its time in (one thread), largest first."""
    from torch.profiler import ProfilerActivity, profile

    batch = [source for sources in _source_batches(data, sentences, sentences) for source in sources]
    sides.decode("cached", batch[:2], BEAM, 10, 1)  # warm-up
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        sides.decode("cached", batch, BEAM, max(map(len, batch)) + EXTRA_LENGTH, 1)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1
    return [{"op": e.key, "share": e.self_cpu_time_total / total, "calls": e.count} for e in events[:rows]]


# ----------------------------------------------------------------------------- the result


def _model(run_dir: str | None, data: Any):
    import torch

    from runner.models.transformer import build

    if run_dir:
        from runner.inference import load_run

        loaded = load_run(run_dir)
        if loaded.data.fingerprint != data.fingerprint:
            raise ValueError(f"{run_dir} was trained on other data ({loaded.data.fingerprint}); the decode benchmark "
                             f"needs a {multi30k.RECIPE} run")
        return loaded.model.eval(), loaded.experiment.hparams, f"trained run {run_dir}"
    hp = multi30k.hparams("cpu")
    torch.manual_seed(multi30k.SEED)
    return build(hp, data.info).eval(), hp, "seeded random init (outputs run to the length limit)"


def run(quick: bool = False, run_dir: str | None = None, profile: bool = False) -> Result:
    import torch

    run_dir = run_dir or os.environ.get("RUNNER_DECODE_BENCH_RUN") or None
    p = plan(quick)
    threads_before = torch.get_num_threads()
    data = multi30k.problem_data()
    model, hp, weights = _model(run_dir, data)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            sides = Sides(model, hp, workdir)
            same = same_function_check(sides, data, p["check_sentences"])
            text = multi30k_section(sides, data, p)
            scaling = scaling_section(sides, data, p)
            ops = profile_cached(sides, data, 4 if quick else 16) if profile else None
    finally:
        torch.set_num_threads(threads_before)
    one = text["1_threads"]
    headline = {"cached": one["cached"]["tokens_per_sec"], "hf": one["hf"]["tokens_per_sec"]}
    medians: dict[str, Any] = {
        "multi30k": {key: value for key, value in text.items() if not key.endswith("_rounds")},
        "scaling": scaling,
    }
    details = {
        "weights": weights, "model": {"hidden_size": hp.hidden_size, "filter_size": hp.filter_size,
                                       "num_heads": hp.num_heads, "layers": [hp.num_encoder_layers, hp.num_decoder_layers],
                                       "vocab": int(model.softmax.weight.shape[0])},
        "beam_size": BEAM, "alpha": ALPHA, "extra_length": p["extra_length"], "plan": p,
        "same_function_greedy": same, "rounds": {k: v for k, v in text.items() if k.endswith("_rounds")},
        "length_penalty": "ours ((5+len)/6)^alpha (T2T); HF and CTranslate2 len^alpha",
        "hf_model": "M2M100ForConditionalGeneration (pre-norm BART family; MarianMTModel is post-norm and "
                    "cannot hold these weights)",
    }
    if ops is not None:
        details["profile_cached"] = ops
    checks = {"same_function": same["agree"], "cached_equals_uncached": text["cached_equals_uncached"]}
    if not quick:
        checks["multi30k_cached_3x_uncached"] = one["ratios"]["cached_vs_uncached"] >= 3.0
    return Result(
        name=NAME, title="beam-4 decode, Multi30K test sentences, CPU 1 thread, target tokens/s (process CPU time)",
        ours=headline["cached"], baseline=headline["hf"], unit="tok/s", higher_is_better=True,
        ours_label=SIDE_LABELS["cached"], baseline_label=SIDE_LABELS["hf"], repetitions=p["rounds"],
        target=Target("ratio", ">=", 1.5), checks=checks, medians=medians, details=details,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few sentences, short outputs")
    parser.add_argument("--run", metavar="RUN_DIR", help="decode with this trained Multi30K run's weights")
    parser.add_argument("--profile", action="store_true", help="add an operator profile of our cached decode")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    from benchmarks.run import run_one

    result = run_one(NAME, args.quick, run=lambda quick: run(quick, args.run, args.profile))
    print(write_result(result, args.results_dir), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
