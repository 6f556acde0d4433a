"""The output folder of one run: what it holds, and the guard against mixing two specs in it.

Layout: `experiment.yaml` (the resolved spec, with its spec_hash), `metrics.jsonl`,
`final_metrics.json`, `decoded_test.txt`, and checkpoints `step_*` under `checkpoints/` (an
in-process run) or `ray/<run name>/` (Ray Train's storage for a Ray run). T2T silently reloaded an old
`hparams.json` from a reused output folder; here a folder that holds a run of another spec is
refused with a clear message instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from runner.specs.errors import Location, SpecError
from runner.specs.experiment import Experiment

SPEC_FILE = "experiment.yaml"


def default_output_dir(experiment: Experiment) -> str:
    return os.path.join("runs", f"{experiment.recipe}-{experiment.spec_hash[:12]}")


def default_data_dir() -> str:
    """Encoded datasets are cached here, keyed by fingerprint: $RUNNER_DATA_DIR or ~/.cache/runner/data."""
    return os.environ.get("RUNNER_DATA_DIR") or os.path.join(Path.home(), ".cache", "runner", "data")


def claim(output_dir: str, experiment: Experiment) -> None:
    """Write the resolved spec into the folder, or check that the folder's run is this spec."""
    path = Path(output_dir) / SPEC_FILE
    if path.exists():
        existing = load_experiment(output_dir)
        if existing.spec_hash != experiment.spec_hash:
            raise SpecError(
                f"this folder holds a run of another spec (spec_hash {existing.spec_hash[:12]}, this one "
                f"{experiment.spec_hash[:12]}); choose another --output-dir, or delete the folder to start over",
                Location(str(path)),
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(experiment.to_dict(), sort_keys=False, allow_unicode=True))
    os.replace(tmp, path)


def load_experiment(output_dir: str) -> Experiment:
    """The resolved experiment a run folder was made for."""
    path = Path(output_dir) / SPEC_FILE
    if not path.is_file():
        raise SpecError(f"no {SPEC_FILE} here; is this a run folder written by `runner run`?", Location(str(output_dir)))
    try:
        return Experiment.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError, AttributeError, ImportError, OSError, yaml.YAMLError) as exc:
        # truncated, corrupt or hand-edited: one message (UnicodeDecodeError is a ValueError)
        detail = " ".join(str(exc).split())[:300]
        raise SpecError(f"cannot read the run's resolved spec ({type(exc).__name__}: {detail}); the file is damaged "
                        "or was edited: restore it, or start the run again in a new --output-dir",
                        Location(str(path))) from None


def checkpoint_roots(output_dir: str) -> list[str]:
    """Folders that may hold this run's `step_*` checkpoints (in-process and Ray Train storage)."""
    roots = [os.path.join(output_dir, "checkpoints")]
    ray_storage = Path(output_dir) / "ray"
    if ray_storage.is_dir():
        roots += sorted(str(p) for p in ray_storage.iterdir() if p.is_dir())
    return roots
