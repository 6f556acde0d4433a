"""The output folder of one run: every path and file name in it, the one atomic write, and the
guard against mixing two specs in one folder. Nothing else in `runner/` spells a run-folder name.

    run = RunDir("runs/reverse")
    run.claim(experiment)                  # writes experiment.yaml, or checks it is this spec's
    run.final_metrics()                    # the finished run's metrics, or None
    run.append_row({"step": 1, ...})       # metrics.jsonl: the one writer
    run.write_results(results)             # what train() returned: decoded, signatures, final metrics last

Layout:
  experiment.yaml                 the resolved spec (with its spec_hash); written by claim
  data_fingerprint.json           {problem, fingerprint, test_examples}: the data the run trained on
  metrics.jsonl                   one JSON row per report (in-process session, or the Ray driver)
  final_metrics.json              flat {metric: number}, written LAST: its presence means "finished"
  final_metrics_signatures.json   {metric: how it was computed}, e.g. sacreBLEU's signature
  decoded_test.txt                one detokenized hypothesis per test example
  checkpoints/step_*              an in-process run's checkpoints
  ray/<run name>/step_*           Ray Train's storage for a Ray run (run name: `<recipe>-<spec_hash[:12]>`)
  averaged/                       `runner average`'s checkpoint
  data_assets/                    vocabularies and meta.json, so predict/export need only the folder
  mlflow_run.json                 {run_id, uri, experiment_id} of the run's MLflow run (runner/tracking)
  command.txt                     each `runner run` that trained here (time, overrides, the command line)
  provenance.json                 each start's code commit, dirty flag and package versions (note_start)
  ray_run.json                    {workers, resumed_from_step} of the last Ray attempt

T2T silently reloaded an old `hparams.json` from a reused output folder; here a folder that
holds a run of another spec is refused with a clear message instead. A folder whose run never
started (a bad data path, a model that cannot be built) is not a run: it is claimed again.
Torch-free, ray-free and mlflow-free: every layer may import it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.specs.errors import Location, SpecError
from runner.specs.experiment import Experiment

SPEC_FILE = "experiment.yaml"  # kept for callers that name the file itself


def run_name(experiment: Any) -> str:
    """`<recipe>-<spec_hash[:12]>`: the default folder name, Ray Train's run name and MLflow's run name."""
    return f"{experiment.recipe}-{experiment.spec_hash[:12]}"


def default_output_dir(experiment: Experiment) -> str:
    return os.path.join("runs", run_name(experiment))


def default_data_dir() -> str:
    """Encoded datasets are cached here, keyed by fingerprint: $RUNNER_DATA_DIR or ~/.cache/runner/data."""
    return os.environ.get("RUNNER_DATA_DIR") or os.path.join(Path.home(), ".cache", "runner", "data")


# -- the one atomic write ----------------------------------------------------------------------------
def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a whole file or nothing: a temporary file beside it, then a rename over it.
    The folder must exist (a missing one is the caller's error to report, not to create)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: str | Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n")


# -- what a finished training run hands its host ------------------------------------------------------
@dataclass(frozen=True)
class FinalResults:
    """What `train()` returns; the host (CLI/api in-process, the Ray driver, a Tune trial) writes it once.

    metrics     flat {name: number}: the problem's metrics on the test split under their own names,
                `eval_<name>` for the last eval, and steps, train_seconds, tokens_per_sec, ...
    signatures  {metric: how it was computed} (sacreBLEU's signature, ...)
    decoded     the detokenized test hypotheses in split order, or None when nothing was decoded
    """

    metrics: dict[str, float]
    signatures: dict[str, str] = field(default_factory=dict)
    decoded: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for Ray's return value from rank 0 to the driver."""
        return {"metrics": dict(self.metrics), "signatures": dict(self.signatures), "decoded": self.decoded}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FinalResults":
        return cls(dict(data.get("metrics") or {}), dict(data.get("signatures") or {}), data.get("decoded"))


def numbers_only(metrics: dict[str, Any]) -> dict[str, float | None]:
    """final_metrics.json holds numbers only; a non-finite value is written as null."""
    flat: dict[str, float | None] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"final metric '{name}' must be a number, got {type(value).__name__} {value!r}; "
                            "put descriptions (like sacreBLEU's signature) in `signatures`")
        flat[name] = value if math.isfinite(value) else None
    return flat


class RunDir:
    """One run's folder. `path` is kept as given (messages show it); `absolute` for tags and Ray."""

    EXPERIMENT = SPEC_FILE
    DATA = "data_fingerprint.json"
    METRICS = "metrics.jsonl"
    FINAL_METRICS = "final_metrics.json"
    SIGNATURES = "final_metrics_signatures.json"
    DECODED = "decoded_test.txt"
    MLFLOW_RUN = "mlflow_run.json"
    RAY_RUN = "ray_run.json"
    CHECKPOINTS = "checkpoints"
    AVERAGED = "averaged"           # `runner average`'s checkpoint
    DATA_ASSETS = "data_assets"     # the data's small files inference needs (runner/problems/assets.py)
    PLOTS = "plots"                 # loss and eval curves (runner/run_plots.py), also MLflow artifacts
    EXPORT = "export"               # `runner export`'s bundle when no --to is given (runner/export.py)
    RAY_STORAGE = "ray"
    COMMAND = "command.txt"         # how the run was started (and resumed): the CLI records it
    PROVENANCE = "provenance.json"  # the code and packages each start ran (the leaderboard's record reads it)
    # The files of a finished run that tracking logs as artifacts, when present.
    ARTIFACTS = (FINAL_METRICS, SIGNATURES, DECODED, RAY_RUN, DATA, COMMAND)

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def absolute(self) -> str:
        return os.path.abspath(self.path)

    def file(self, name: str) -> Path:
        return self.path / name

    def _writable(self, name: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.file(name)

    @property
    def checkpoints(self) -> str:
        """Where an in-process run keeps its `step_*` checkpoints."""
        return os.path.join(self.absolute, self.CHECKPOINTS)

    @property
    def plots(self) -> Path:
        return self.file(self.PLOTS)

    @property
    def export(self) -> Path:
        return self.file(self.EXPORT)

    @property
    def ray_storage(self) -> str:
        """Ray Train's storage_path for this run (absolute: workers may run elsewhere)."""
        return os.path.join(self.absolute, self.RAY_STORAGE)

    # -- the spec ---------------------------------------------------------------------------------
    def claim(self, experiment: Experiment) -> None:
        """Write the resolved spec into the folder, or check that the folder's run is this spec.

        A folder of another spec whose run never started (no metrics row, no checkpoint, no
        final metrics: it failed on its data or its model) is taken over, so the corrected
        command is not refused for a run that does not exist.
        """
        path = self.file(self.EXPERIMENT)
        if path.exists():
            existing = self.load_experiment()
            if existing.spec_hash == experiment.spec_hash:
                return
            if self.has_started():
                raise SpecError(
                    f"this folder holds a run of another spec (spec_hash {existing.spec_hash[:12]}, this one "
                    f"{experiment.spec_hash[:12]}); choose another --output-dir, or delete the folder to start over",
                    Location(str(path)),
                )
            self._forget_start()  # the other spec's data facts and assets must not pass for ours
        write_text_atomic(self._writable(self.EXPERIMENT), yaml.safe_dump(experiment.to_dict(), sort_keys=False, allow_unicode=True))

    def release_if_unstarted(self) -> None:
        """After a failure before the first training row: drop the claim (and the folder, if empty)."""
        if self.has_started():
            return
        self._forget_start()
        with contextlib.suppress(OSError):
            self.file(self.EXPERIMENT).unlink()
        with contextlib.suppress(OSError):
            self.path.rmdir()  # only when nothing else (logs, MLflow's id) is in it

    def _forget_start(self) -> None:
        """Remove what a host writes between claiming the folder and the first training row."""
        for name in (self.DATA, self.METRICS, self.COMMAND, self.PROVENANCE):
            with contextlib.suppress(OSError):
                self.file(name).unlink()
        shutil.rmtree(self.file(self.DATA_ASSETS), ignore_errors=True)

    def note_start(self) -> None:
        """Append this start's code commit, dirty flag and package versions to provenance.json: the
        code that trained is the code at each start (a record made later, at another commit, must not
        claim HEAD's), and a resumed run may have run more than one version."""
        import datetime as dt

        from runner.provenance import REPO_ROOT, code_commit, package_versions

        commit, dirty = code_commit(REPO_ROOT)
        start = {"when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "code_commit": commit, "code_dirty": dirty, "packages": package_versions()}
        write_json_atomic(self._writable(self.PROVENANCE), [*self.starts(), start])

    def starts(self) -> list[dict[str, Any]]:
        """provenance.json's entries, oldest first; [] for a folder made before the file existed."""
        path = self.file(self.PROVENANCE)
        try:
            starts = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
        except (OSError, ValueError) as exc:
            raise SpecError(f"{self.PROVENANCE}: unreadable ({exc}); delete it (a record made from this folder "
                            "then takes the code commit of the moment it is made)", Location(str(path))) from None
        if not isinstance(starts, list) or not all(isinstance(s, dict) for s in starts):
            raise SpecError(f"{self.PROVENANCE}: expected a JSON list of objects, one per start", Location(str(path)))
        return starts

    def record_command(self, argv: list[str], overrides: list[str], cwd: str, when: str) -> None:
        """Append one `runner run` invocation to command.txt: a comment line with its time and
        overrides, then the command line, ready to paste into a shell (the first one started the run)."""
        import shlex

        path = self.file(self.COMMAND)
        old = path.read_text(encoding="utf-8") if path.is_file() else (
            "# Each `runner run` that trained in this folder, oldest first (the first one started it).\n"
            "# Paste a command line into a shell to run it again; `runner run THIS_FOLDER` resumes the same spec.\n")
        line = f"cd {shlex.quote(cwd)} && runner {shlex.join(argv)}"
        note = f"# {when}; overrides: {' '.join(overrides) if overrides else 'none'}"
        write_text_atomic(self._writable(self.COMMAND), f"{old}{note}\n{line}\n")

    def has_started(self) -> bool:
        """Whether a run trained here: a metrics row, a checkpoint, or final metrics."""
        metrics = self.file(self.METRICS)
        if self.file(self.FINAL_METRICS).exists() or (metrics.is_file() and metrics.stat().st_size > 0):
            return True
        return any(any(Path(root).glob("step_*")) for root in self.checkpoint_roots() if os.path.isdir(root))

    def load_experiment(self) -> Experiment:
        """The resolved experiment this run folder was made for."""
        path = self.file(self.EXPERIMENT)
        if not path.is_file():
            raise SpecError(f"no {self.EXPERIMENT} here; is this a run folder written by `runner run`?",
                            Location(str(self.path)))
        try:
            return Experiment.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError, ImportError, OSError, yaml.YAMLError) as exc:
            # truncated, corrupt or hand-edited: one message (UnicodeDecodeError is a ValueError)
            detail = " ".join(str(exc).split())[:300]
            raise SpecError(f"cannot read the run's resolved spec ({type(exc).__name__}: {detail}); the file is damaged "
                            "or was edited: restore it, or start the run again in a new --output-dir",
                            Location(str(path))) from None

    # -- checkpoints --------------------------------------------------------------------------------
    def checkpoint_roots(self) -> list[str]:
        """Folders that may hold this run's `step_*` checkpoints (in-process and Ray Train storage)."""
        roots = [os.path.join(str(self.path), self.CHECKPOINTS)]
        ray_storage = self.path / self.RAY_STORAGE
        if ray_storage.is_dir():
            roots += sorted(str(p) for p in ray_storage.iterdir() if p.is_dir())
        return roots

    # -- rows and results -----------------------------------------------------------------------------
    def append_row(self, row: dict[str, Any]) -> None:
        """metrics.jsonl's one writer (an in-process session, or the Ray driver's progress display)."""
        with open(self._writable(self.METRICS), "a", encoding="utf-8") as f:
            f.write(json.dumps(row, allow_nan=True) + "\n")

    def write_results(self, results: FinalResults) -> None:
        """decoded_test.txt and the signatures first, final_metrics.json last (it marks the run finished).

        A run that already finished here is never rewritten (hosts check `final_metrics()` first;
        this is the guard behind them)."""
        flat = numbers_only(results.metrics)
        if self.file(self.FINAL_METRICS).exists():
            raise FileExistsError(f"{self.file(self.FINAL_METRICS)} exists: a finished result is never overwritten")
        if results.decoded is not None:
            write_text_atomic(self._writable(self.DECODED), "".join(line.replace("\n", " ") + "\n" for line in results.decoded))
        if results.signatures:
            write_json_atomic(self._writable(self.SIGNATURES), dict(results.signatures))
        write_json_atomic(self._writable(self.FINAL_METRICS), flat)

    def final_metrics(self) -> dict[str, Any] | None:
        """The final metrics of a run that finished in this folder, or None.

        A damaged final_metrics.json is an error, not "unfinished": read as None, the host would
        train the whole run again and only then refuse to overwrite the file.
        """
        path = self.file(self.FINAL_METRICS)
        if not path.exists():
            return None
        metrics = self.read_json(self.FINAL_METRICS)
        if not isinstance(metrics, dict):
            raise SpecError("this run finished, but its final metrics are not a JSON object of numbers (the file is "
                            "damaged); a finished result is never rewritten: repair the file from metrics.jsonl, or "
                            "move the folder aside (or choose another --output-dir) to train again",
                            Location(str(path)), self.FINAL_METRICS)
        return metrics

    def signatures(self) -> dict[str, Any]:
        return self.read_json(self.SIGNATURES) or {}

    # -- small JSON files ------------------------------------------------------------------------------
    def write_json(self, name: str, value: Any) -> None:
        write_json_atomic(self._writable(name), value)

    def read_json(self, name: str) -> Any:
        """The file's JSON, or None when it is absent or unreadable."""
        try:
            return json.loads(self.file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write_data_facts(self, problem: str, fingerprint: str, test_examples: int | None) -> None:
        """The data this run trains on, so a record is made without rebuilding the data."""
        self.write_json(self.DATA, {"problem": problem, "fingerprint": fingerprint, "test_examples": test_examples})

    def data_facts(self) -> dict[str, Any] | None:
        """{problem, fingerprint, test_examples} written when the run started; None for older folders."""
        facts = self.read_json(self.DATA)
        return facts if isinstance(facts, dict) and isinstance(facts.get("fingerprint"), str) else None

    # -- what a finished Ray attempt leaves ------------------------------------------------------------
    def write_ray_info(self, workers: list[dict[str, Any]], resumed_from_step: int | None) -> None:
        self.write_json(self.RAY_RUN, {"workers": workers, "resumed_from_step": resumed_from_step})


def already_finished(run_dir: RunDir, experiment: Any) -> str:
    """What every host says instead of training again (a finished result is never rewritten)."""
    return (f"{run_name(experiment)} already finished in {run_dir.absolute}; its final metrics follow "
            "(delete the folder, or choose another --output-dir, to train again)")


# Function forms of the methods, for the many callers that hold a folder path.
def claim(output_dir: str, experiment: Experiment) -> None:
    RunDir(output_dir).claim(experiment)


def load_experiment(output_dir: str) -> Experiment:
    return RunDir(output_dir).load_experiment()


def checkpoint_roots(output_dir: str) -> list[str]:
    return RunDir(output_dir).checkpoint_roots()


def write_final_metrics(output_dir: str, metrics: dict[str, float], signatures: dict[str, str] | None = None) -> str:
    """Write final_metrics.json (numbers only) and, if any, the signatures beside it."""
    run = RunDir(output_dir)
    run.write_results(FinalResults(dict(metrics), dict(signatures or {})))
    return str(run.file(RunDir.FINAL_METRICS))


def read_final_metrics(output_dir: str) -> dict[str, float | None]:
    with open(RunDir(output_dir).file(RunDir.FINAL_METRICS)) as f:
        return json.load(f)
