"""The ablation of issue 16: each robustness option toggled ON TOP OF the recipe, one at a time,
scored by the leave-one-speaker-out mean WER (benchmarks/figures_speech_loso.py).

    python benchmarks/figures_speech_ablation.py                       # every variant: ~14 h on 2 idle cores
    python benchmarks/figures_speech_ablation.py --variants baseline,pitch,noise
    python benchmarks/figures_speech_ablation.py --variants baseline,all       # every option at once: ~3 h
    python benchmarks/figures_speech_ablation.py --variants baseline,seed2     # how far a rerun moves the folds
    python benchmarks/figures_speech_ablation.py --quick               # smoke test, seconds a fold

A change earns its place in the recipe only if its LOSO mean is lower than the baseline's by more
than the leaderboard's WER tolerance (0.02, the run-to-run difference a reproduction may show):
the table says which did (`keep`), and in how many folds the change helped. A smaller fall is
noise: one fold trained again with other augmentation draws moved by 4 WER points (issue 16).
Nothing here edits the recipe: the person who reads the table does, and then measures the combination with figures_speech_loso.py. Variants run one after another and
their folds' run folders are kept under --runs-dir, so an interrupted ablation resumes where it
stopped (finished folds are read back). The result goes once, complete, to
benchmarks/results/speech_ablation.json (never overwritten).

The variants' values are the usual ones of the literature, not tuned here: speed 0.9-1.1 (Ko et al.
2015), pitch within 3 semitones, volume within 10 dB, noise at 10-40 dB SNR, rooms of RT60
0.1-0.6 s, 2,000 espeak-ng utterances (a third as many as the recorded ones).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(REPO))

from benchmarks import figures_speech_loso as loso  # noqa: E402
from runner.leaderboard.metric_info import DEFAULT_TOLERANCE  # noqa: E402

# How far a variant's mean must fall below the baseline's to be kept: the leaderboard's own bound
# on run-to-run differences of WER, so a change is never kept for a difference a rerun could undo.
KEEP_MARGIN = DEFAULT_TOLERANCE["wer"]

# name -> the overrides that turn the change on (on top of the recipe as it stands)
VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "per_bin_norm": ["problem.features.normalize=per_bin"],
    "speed": ["problem.augmentation.speed=0.1"],
    "pitch": ["problem.augmentation.pitch_semitones=3"],
    "volume": ["problem.augmentation.volume_db=10"],
    "noise": ["problem.augmentation.noise_snr_db=[10,40]"],
    "reverb": ["problem.augmentation.reverb_rt60_s=[0.1,0.6]"],
    "synthetic_voices": ["problem.synthetic_voices.utterances=2000"],
}
# Every option at once: one LOSO figure (~1.5 h) that bounds what the options can buy together,
# before spending ~11 h on each alone; the additive variants then say which ones carry it.
VARIANTS["all"] = [o for name, options in VARIANTS.items() if name != "baseline" for o in options]
# Not a change to keep: the recipe again with another seed. How far it lands from the baseline is
# what a rerun alone moves each fold and the mean: the yardstick KEEP_MARGIN stands in for.
NOISE_VARIANTS: dict[str, list[str]] = {"seed2": ["train.seed=2"]}
VARIANTS.update(NOISE_VARIANTS)
QUICK_SYNTHETIC = "problem.synthetic_voices.utterances=4"  # --quick: a handful of espeak-ng utterances


def variant_overrides(name: str, quick: bool) -> list[str]:
    """The variant's overrides; --quick speaks a handful of synthetic utterances instead of 2,000."""
    return [QUICK_SYNTHETIC if quick and o.startswith("problem.synthetic_voices.") else o for o in VARIANTS[name]]


def ablate(recipe: str, base: list[str], names: list[str], speakers: list[str], runs_dir: Path,
           data_dir: str | None, quick: bool) -> dict:
    results = {}
    for name in names:
        extra = variant_overrides(name, quick)
        print(f"\n##### variant {name}: {' '.join(extra) or '(the recipe as it is)'}", flush=True)
        results[name] = loso.leave_one_speaker_out(recipe, base + extra, speakers, runs_dir, data_dir)
    return {"recipe": recipe, "base_overrides": base, "speakers": speakers, "keep_margin": KEEP_MARGIN,
            "table": judge(results, speakers), "variants": results, "quick": quick}


def judge(results: dict[str, dict], speakers: list[str]) -> list[dict]:
    """One table row per variant; against the baseline (when measured): the change of the mean, the
    folds it helped, and `keep` (the mean fell by more than KEEP_MARGIN; None for a seed variant,
    whose change is noise)."""
    baseline = results.get("baseline")
    rows = []
    for name, result in results.items():
        row = {"variant": name, "overrides": VARIANTS.get(name, []), "mean_wer": result["mean_wer"],
               "sd_wer": result.get("sd_wer"), "per_speaker_wer": result["per_speaker_wer"]}
        if baseline is not None and name != "baseline":
            row["change_vs_baseline"] = result["mean_wer"] - baseline["mean_wer"]
            row["folds_better"] = sum(result["per_speaker_wer"][s] < baseline["per_speaker_wer"][s] for s in speakers)
            # a seed is not an option: its row measures the noise, and nothing is kept for it
            row["keep"] = None if name in NOISE_VARIANTS else row["change_vs_baseline"] < -KEEP_MARGIN
        rows.append(row)
    return rows


def print_table(result: dict) -> None:
    speakers = result["speakers"]
    print(f"\nablation of {result['recipe']}: leave-one-speaker-out WER (lower is better)")
    print(f"{'variant':<18}" + "".join(f"{s:>10}" for s in speakers)
          + f"{'mean':>9}{'sd':>8}{'vs base':>9}{'better':>8}  keep (mean down by > {result['keep_margin']})")
    for row in result["table"]:
        change = row.get("change_vs_baseline")
        print(f"{row['variant']:<18}" + "".join(f"{row['per_speaker_wer'][s]:>10.4f}" for s in speakers)
              + f"{row['mean_wer']:>9.4f}{row['sd_wer']:>8.4f}"
              + (f"{change:>+9.4f}{row['folds_better']:>6}/{len(speakers)}  {_verdict(row['keep'])}"
                 if change is not None else f"{'':>17}  -"))


def _verdict(keep: bool | None) -> str:
    return "(seed noise: the recipe again)" if keep is None else "yes" if keep else "no"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="spoken_digits_cpu")
    parser.add_argument("-o", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="applied to every variant and fold")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from: {', '.join(VARIANTS)} (baseline is needed for `keep`)")
    parser.add_argument("--speakers", default=",".join(loso.SPEAKERS))
    parser.add_argument("--json", default=None, help="default: benchmarks/results/speech_ablation.json")
    parser.add_argument("--runs-dir", default=None, help="the folds' run folders (default: runs/)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--quick", action="store_true", help="smoke test: the CI recipe, a few steps a fold")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        print(f"error: --variants: unknown variant(s) {unknown or '(none named)'}; choose from {', '.join(VARIANTS)}",
              file=sys.stderr)
        return 2
    recipe = loso.QUICK_RECIPE if args.quick else args.recipe
    base = (loso.QUICK_OVERRIDES if args.quick else []) + args.overrides
    out = Path(args.json) if args.json else (
        Path(tempfile.mkdtemp(prefix="speech-ablation-quick-")) / "speech_ablation.json" if args.quick
        else loso.RESULTS_DIR / "speech_ablation.json")
    if out.exists():
        print(f"error: {out} holds a finished result and is never overwritten; pass another --json", file=sys.stderr)
        return 2
    speakers = [s.strip() for s in args.speakers.split(",") if s.strip()]
    variants = [base + variant_overrides(n, args.quick) for n in names]
    if not loso.check_specs(recipe, variants, speakers):
        return 2
    if any(o.startswith("problem.synthetic_voices.") for n in names for o in VARIANTS[n]):
        from runner.problems.synthetic_voices import program
        from runner.specs.errors import SpecError

        try:
            program()  # before hours of other variants, not after
        except SpecError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    runs_dir = Path(args.runs_dir or (tempfile.mkdtemp(prefix="speech-ablation-runs-") if args.quick else REPO / "runs"))
    from runner.specs.errors import SpecError

    try:
        result = ablate(recipe, base, names, speakers, runs_dir, args.data_dir, args.quick)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loso.write_once(out, result)
    print_table(result)
    print(f"result: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
