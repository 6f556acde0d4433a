"""What a run's MLflow params and tags say: the resolved spec, flattened, and where it came from.

Params are the resolved experiment flattened to dotted keys (`hparams.hidden_size`,
`train.steps`, ...), so MLflow's UI can filter and compare on any value. MLflow caps a param
value at 6000 characters; a longer value (a long list) is cut with a marker, and the full spec
is always logged as the `experiment.yaml` artifact beside it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from runner.run_dir import RunDir, run_name

# MLflow's limits (mlflow/utils/validation.py); checked here so a long value never fails a run.
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
_CUT = "...[cut; see experiment.yaml]"
# Free text that does not change what is trained; the hash is a tag, not a param.
_SKIPPED_KEYS = {"description", "spec_hash"}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """{"hparams": {"hidden_size": 128}} -> {"hparams.hidden_size": "128"}; lists stay JSON."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        if key in _SKIPPED_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if len(text) > MAX_PARAM_VALUE:
            text = text[: MAX_PARAM_VALUE - len(_CUT)] + _CUT
        flat[name[:MAX_KEY]] = text
    return flat


def spec_params(experiment: Any) -> dict[str, str]:
    return flatten(experiment.to_dict())


def run_tags(experiment: Any, output_dir: str, data_fingerprint: str) -> dict[str, str]:
    """Tags that identify the run (spec_hash + output_dir find it again on resume) and its provenance."""
    from runner.provenance import REPO_ROOT, code_commit, package_versions

    commit, dirty = code_commit(REPO_ROOT)
    versions = package_versions()
    tags = {
        "spec_hash": experiment.spec_hash,
        "recipe": experiment.recipe,
        "problem": experiment.problem.name,
        "family": experiment.problem.family,
        "model": experiment.model.name,
        "hparams_set": experiment.hparams_set,
        "output_dir": RunDir(output_dir).absolute,
        "data_fingerprint": data_fingerprint,
        "code_commit": commit or "unknown",
        "code_dirty": "unknown" if dirty is None else str(dirty).lower(),
        "mlflow.runName": run_name(experiment),
    }
    if commit:
        tags["mlflow.source.git.commit"] = commit
    for package in ("python", "torch", "ray"):
        tags[f"{package}_version"] = versions.get(package) or "unknown"
    return tags
