"""Leave-one-speaker-out WER of a spoken-digits recipe: each shared FSDD speaker in turn is the
test voice, never heard in training or eval; the figure is the mean over the folds, with its spread.

    python benchmarks/figures_speech_loso.py                      # spoken_digits_cpu, 4 folds, ~90 min idle
    python benchmarks/figures_speech_loso.py -o problem.augmentation.pitch_semitones=3 --label pitch
    python benchmarks/figures_speech_loso.py --quick               # smoke test (CI recipe, seconds a fold)

Fold k trains the recipe with `-o problem.test_speakers=[SPEAKER_k]` (plus any -o given): the
eval split, on which the recipe's choices may be made, is the three training speakers' held-out
takes; the test speaker's recordings are only ever decoded once, at the end. Folds run one at a
time, in this process (the loop `runner run` drives in Ray), each in its own run folder under
--runs-dir named like `runner run`'s, so an interrupted figure resumes, and each tracked in MLflow
as `runner run` tracks (the spec's tracking.uri, else $MLFLOW_TRACKING_URI, else ./mlflow.db).
Each fold's entry holds the `runner run` command that remakes it, its MLflow run id, the code
commit it trained at and the 1-minute load average sampled during it (a fold measured under load is
not a figure); it is kept beside the run folder (RUN_FOLDER.fold.json), so a finished fold is read
back as it was measured, not re-run (the ablation reuses baseline folds). A fold read back that was
trained at other code than the checkout's says so, since the same spec at new code (faster
augmentation, say) may train differently.

The result is written once, complete, to benchmarks/results/speech_loso[_LABEL].json; an
existing result file is never overwritten (pass another --label or --json).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(REPO))

from benchmarks.results import RESULTS_DIR  # noqa: E402
from runner.leaderboard.capture import run_provenance  # noqa: E402
from runner.provenance import REPO_ROOT, code_commit  # noqa: E402

SPEAKERS = ("jackson", "nicolas", "theo", "yweweler")  # the shared FSDD copy's four voices
TARGET_MEAN_WER = 0.10  # issue 16: mean over folds <= 10 %, each fold in the recipe's 20-minute budget
# --quick: the CI sibling, a couple of dozen utterances a fold: checks the machinery, measures nothing.
QUICK_RECIPE = "spoken_digits_cpu_ci"
QUICK_OVERRIDES = ["problem.utterances.train=40", "problem.utterances.eval=8", "problem.utterances.test=8",
                   "train.steps=4", "train.eval_every=2", "decode.max_examples=4"]


class LoadSampler:
    """The 1-minute load average every `every` seconds while a fold runs (mean and max)."""

    def __init__(self, every: float = 15.0):
        self.every, self.samples = every, [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {"mean": round(statistics.fmean(self.samples), 2), "max": round(max(self.samples), 2),
                "samples": len(self.samples)}


def fold_overrides(speaker: str, overrides: list[str]) -> list[str]:
    return [f"problem.test_speakers=[{speaker}]", *overrides]


def run_command(recipe: str, overrides: list[str], output_dir: str) -> str:
    options = " ".join(f"-o {o}" for o in overrides)
    return f"OMP_NUM_THREADS=1 runner run catalog/recipes/{recipe}.yaml {options} --output-dir {output_dir}"


def run_fold(recipe: str, speaker: str, overrides: list[str], runs_dir: Path, data_dir: str | None) -> dict:
    """Train and test one fold (or read back the finished one); its entry in the result."""
    from benchmarks.timing import use_recipe_threads
    from runner import api

    spelled = fold_overrides(speaker, overrides)
    experiment = api.resolve(str(REPO / "catalog" / "recipes" / f"{recipe}.yaml"), spelled)
    output_dir = runs_dir / f"{recipe}-{experiment.spec_hash[:12]}"
    measured = fold_entry_path(output_dir)
    if measured.exists():  # measured when it ran: its load and wall time are that run's, not a read-back's
        print(f"read back {measured}", flush=True)
        entry = json.loads(measured.read_text(encoding="utf-8"))
        if (note := note_if_other_code(entry)) is not None:
            print(note, flush=True)
        return entry
    from runner.run_dir import RunDir

    finished_before = RunDir(output_dir).final_metrics() is not None  # made by an older version of this script
    threads = use_recipe_threads(experiment)
    started = time.perf_counter()
    with LoadSampler() as load:  # tracked in MLflow as `runner run` tracks (tracking.uri, else ./mlflow.db)
        final = api.train(experiment, str(output_dir), data_dir, verbose=True, track=True)
    tracked = output_dir / RunDir.MLFLOW_RUN
    entry = {
        "test_speaker": speaker,
        "wer": final["wer"],
        "cer": final.get("cer"),
        "eval_loss": final.get("eval_loss"),
        "steps": int(final["steps"]),
        "train_seconds": round(final["train_seconds"], 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "spec_hash": experiment.spec_hash,
        "run_dir": str(output_dir),
        "command": run_command(recipe, spelled, str(output_dir)),
        "load_average": load.summary(),
        "torch_threads": threads,
        "mlflow_run_id": json.loads(tracked.read_text(encoding="utf-8"))["run_id"] if tracked.exists() else None,
    }
    # the code that trained it, as a leaderboard record takes it: a fold read back later says if it is not today's
    entry["code_commit"], entry["code_dirty"], _ = run_provenance(output_dir, REPO_ROOT)
    if finished_before:  # nothing was timed here: say so rather than report a read-back's load
        return {**entry, "wall_seconds": None, "load_average": None}
    write_once(measured, entry)
    return entry


def note_if_other_code(entry: dict) -> str | None:
    """A note when a read-back fold was trained at other code than the checkout's (another commit or a
    dirty tree); None when it is this code. An entry from before commits were kept takes its run
    folder's. A finished fold is never trained again on its own: the note says how to."""
    commit, dirty = entry.get("code_commit"), entry.get("code_dirty")
    if commit is None and Path(entry["run_dir"]).is_dir():
        commit, dirty, _ = run_provenance(Path(entry["run_dir"]), REPO_ROOT)
    now, _ = code_commit(REPO_ROOT)
    if now and commit == now and dirty is False:
        return None
    trained = f"{commit[:7] if commit else 'an unrecorded commit'}{' (dirty)' if dirty else ''}"
    return (f"note: this fold was trained at {trained}; the code is now {now[:7] if now else 'not a git checkout'}. "
            f"To train it at this code, move {entry['run_dir']} and its .fold.json away.")


def fold_entry_path(output_dir: Path) -> Path:
    """Beside the fold's run folder (which RunDir owns): the fold's entry as measured when it trained."""
    return output_dir.with_name(output_dir.name + ".fold.json")


def summarize(folds: list[dict]) -> dict:
    """Mean, sample standard deviation and range of the folds' WERs."""
    wers = [f["wer"] for f in folds]
    return {"mean_wer": statistics.fmean(wers), "sd_wer": statistics.stdev(wers) if len(wers) > 1 else 0.0,
            "min_wer": min(wers), "max_wer": max(wers),
            "per_speaker_wer": {f["test_speaker"]: f["wer"] for f in folds}}


def leave_one_speaker_out(recipe: str, overrides: list[str], speakers: list[str], runs_dir: Path,
                          data_dir: str | None) -> dict:
    folds = []
    for speaker in speakers:  # one at a time: each fold is sized for the whole machine
        print(f"\n=== fold: test speaker {speaker} ===", flush=True)
        folds.append(run_fold(recipe, speaker, overrides, runs_dir, data_dir))
        load = folds[-1]["load_average"]
        print(f"=== {speaker}: WER {folds[-1]['wer']:.4f} (load average {load['mean'] if load else 'unknown'})",
              flush=True)
    return {"recipe": recipe, "overrides": overrides, "speakers": speakers, "folds": folds, **summarize(folds),
            "target_mean_wer": TARGET_MEAN_WER, "cores": os.cpu_count()}


def check_specs(recipe: str, variants: list[list[str]], speakers: list[str]) -> bool:
    """Resolve every fold of every variant before training any: a typo costs seconds, not hours."""
    from runner import api
    from runner.specs.errors import SpecError

    if not speakers:
        print("error: --speakers names no speaker", file=sys.stderr)
        return False
    try:
        for overrides in variants:
            for speaker in speakers:
                api.resolve(str(REPO / "catalog" / "recipes" / f"{recipe}.yaml"), fold_overrides(speaker, overrides))
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False
    return True


def result_path(label: str | None, json_path: str | None, quick: bool) -> Path:
    if json_path:
        return Path(json_path)
    if quick:
        return Path(tempfile.mkdtemp(prefix="speech-loso-quick-")) / "speech_loso.json"
    return RESULTS_DIR / f"speech_loso{'_' + label if label else ''}.json"


def write_once(path: Path, result: dict) -> None:
    if path.exists():
        raise FileExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def print_table(result: dict) -> None:
    print(f"\n{result['recipe']} leave-one-speaker-out" + (f" with {' '.join(result['overrides'])}"
                                                         if result["overrides"] else ""))
    print(f"{'test speaker':<14}{'WER':>8}{'steps':>8}{'train s':>9}{'load avg':>10}")
    for fold in result["folds"]:
        load = f"{fold['load_average']['mean']:>10.2f}" if fold["load_average"] else f"{'unknown':>10}"
        print(f"{fold['test_speaker']:<14}{fold['wer']:>8.4f}{fold['steps']:>8}{fold['train_seconds']:>9.0f}{load}")
    print(f"{'mean':<14}{result['mean_wer']:>8.4f}   sd {result['sd_wer']:.4f}, range "
          f"{result['min_wer']:.4f}-{result['max_wer']:.4f} (target mean <= {result['target_mean_wer']})")


def parse_args(argv: list[str] | None = None, description: str = __doc__) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--recipe", default="spoken_digits_cpu", help="a spoken-digits recipe (layout fsdd)")
    parser.add_argument("-o", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="applied to every fold (e.g. an option under test)")
    parser.add_argument("--speakers", default=",".join(SPEAKERS), help="comma-separated test speakers, one fold each")
    parser.add_argument("--label", default=None, help="names the result file: speech_loso_LABEL.json")
    parser.add_argument("--json", default=None, help="write the result here instead")
    parser.add_argument("--runs-dir", default=None, help="where the folds' run folders go (default: runs/)")
    parser.add_argument("--data-dir", default=None, help="datagen cache (default: $RUNNER_DATA_DIR or ~/.cache)")
    parser.add_argument("--quick", action="store_true", help="smoke test: the CI recipe, a few steps a fold")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    recipe = QUICK_RECIPE if args.quick else args.recipe
    overrides = (QUICK_OVERRIDES if args.quick else []) + args.overrides
    out = result_path(args.label, args.json, args.quick)
    if out.exists():
        print(f"error: {out} holds a finished result and is never overwritten; pass another --label or --json",
              file=sys.stderr)
        return 2
    speakers = [s.strip() for s in args.speakers.split(",") if s.strip()]
    if not check_specs(recipe, [overrides], speakers):
        return 2
    runs_dir = Path(args.runs_dir or (tempfile.mkdtemp(prefix="speech-loso-runs-") if args.quick else REPO / "runs"))
    from runner.specs.errors import SpecError

    try:
        result = leave_one_speaker_out(recipe, overrides, speakers, runs_dir, args.data_dir)
    except SpecError as exc:  # e.g. a test speaker the recordings lack, found at datagen
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result["quick"] = args.quick
    write_once(out, result)
    print_table(result)
    print(f"result: {out}")
    if not args.quick and len(result["folds"]) >= 3:  # the leaderboard row is the mean over these folds
        print("leaderboard row: runner leaderboard add " + " ".join(f["run_dir"] for f in result["folds"])
              + " --tier cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
