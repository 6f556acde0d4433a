"""What voice augmentation costs the training loop, on the spoken-digits recipe.

    python -m benchmarks.run speech_augment          # ~1 minute on 2 idle cores

Two sides of `spoken_digits_cpu` (its jackson fold; the other three voices train):
- plain: the recipe as it is, batches collated on the training thread when their step comes;
- augmented: every waveform option of issue 16's ablation on (speed, pitch, volume, noise,
  reverberation; synthetic voices add data, not per-batch work), collated a step ahead on a
  second thread (runner/training/step_batches.py), as the loop does.

Each side is the training loop's own step (`_Run.train_step`: StepBatches, the model, Adam, the
schedule) at the recipe's thread count, timed in rounds that alternate the sides. `ours` is the
augmented side's steps/s, `baseline` the plain side's: the ratio is the share of its step rate
that augmentation leaves the loop, and the target is 0.9. Also reported: the milliseconds to
collate one training micro-batch on one thread, each side (what the helper thread must beat).
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from benchmarks.figures_speech_ablation import VARIANTS
from benchmarks.results import Result, Target
from benchmarks.timing import alternate, median

NAME = "speech_augment"
RECIPE = "spoken_digits_cpu"
TEST_SPEAKER = "jackson"
# Issue 16's waveform options, at the ablation's values.
AUGMENTED = [o for name in ("speed", "pitch", "volume", "noise", "reverb") for o in VARIANTS[name]]


def _experiment(extra: list[str]) -> Any:
    from runner import api

    return api.resolve(RECIPE, [f"problem.test_speakers=[{TEST_SPEAKER}]", *extra])


def _loop(experiment: Any, folder: str) -> Any:
    """The training loop's per-worker state, fresh (no checkpoint in `folder`), ready to step."""
    from runner import api
    from runner.training.loop import _Run, build_model, configure_determinism, seed_everything
    from runner.training.session import InProcessSession

    import torch

    data = api.build_problem(experiment)
    configure_determinism(torch.device("cpu"))
    seed_everything(experiment.train.seed)
    session = InProcessSession(folder, keep_checkpoints=1, verbose=False)
    return _Run(experiment, data, session, build_model(experiment, data.info))


def _collate_ms(run: Any, batches: int) -> float:
    """Milliseconds to collate one training micro-batch on this thread (augmentation included)."""
    from runner.training.stream import collate, draw_generator

    placed = run.stream.peek_placed(batches)
    ahead = bool(getattr(run.data, "collate_ahead", False))
    started = time.perf_counter()
    for place, indices in placed:
        collate(run.data, "train", indices, draw_generator(run.tr.seed, place) if ahead else None)
    return 1000 * (time.perf_counter() - started) / batches


def run(quick: bool = False) -> Result:
    import torch

    from runner.training.threads import pin_threads

    steps, rounds, warmup, collated = (3, 1, 1, 5) if quick else (60, 3, 5, 40)
    experiments = {"plain": _experiment([]), "augmented": _experiment(AUGMENTED)}
    threads = pin_threads(experiments["plain"])
    with tempfile.TemporaryDirectory(prefix="speech-augment-bench-") as tmp:
        runs = {side: _loop(e, f"{tmp}/{side}") for side, e in experiments.items()}
        collate_ms = {side: _collate_ms(r, collated) for side, r in runs.items()}
        try:
            for r in runs.values():
                for _ in range(warmup):
                    r.train_step()

            def side(name: str):
                def timed() -> float:
                    started = time.perf_counter()
                    for _ in range(steps):
                        runs[name].train_step()
                    return steps / (time.perf_counter() - started)
                return timed

            per_round = alternate({name: side(name) for name in runs}, rounds)
        finally:
            for r in runs.values():
                r.batches.close()
    rate = {name: median(values) for name, values in per_round.items()}
    return Result(
        name=NAME, title=f"{RECIPE}: training steps/s with every voice augmentation on vs off",
        ours=rate["augmented"], baseline=rate["plain"], unit="steps/s", higher_is_better=True,
        ours_label="speed, pitch, volume, noise, reverb; collated a step ahead",
        baseline_label="no augmentation", repetitions=rounds, target=Target("ratio", ">=", 0.9),
        medians={"steps_per_sec_augmented": rate["augmented"], "steps_per_sec_plain": rate["plain"],
                 "collate_ms_augmented": collate_ms["augmented"], "collate_ms_plain": collate_ms["plain"]},
        details={"steps_per_round": steps, "warmup_steps": warmup, "steps_per_sec_per_round": per_round,
                 "torch_threads": threads, "test_speaker": TEST_SPEAKER, "augmentation": AUGMENTED,
                 "batch_size_frames": experiments["plain"].hparams.batch_size,
                 "collate_ms_counts": f"one training micro-batch collated on one thread, mean of {collated}",
                 "torch": torch.__version__},
    )
