"""What `runner run --dry-run` checks before anything trains: room for the workers, and the data.

- Resources: against the running cluster named by --address / RAY_ADDRESS (joined briefly, its
  alive nodes read, left running), else against this machine as the embedded Ray would see it
  (its CPU count, and GPUs counted without importing torch: `nvidia-smi -L`, limited by
  CUDA_VISIBLE_DEVICES; no nvidia-smi means no GPU). A run that does not fit fails here with
  the same message and shrinking overrides as a real run (`plan.check_capacity`, exit 2).
- Data: the problem's source as datagen will use it (a local folder and its split files, a hub
  dataset, a generator) and whether this spec's cache folder already holds it; a local folder
  that is missing is named as missing (with the hub fallback it would try).
The time budget is in the plan's own `steps` row (plan.describe).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any

from runner.launch.plan import LaunchPlan, check_capacity
from runner.specs.errors import SpecError


@dataclass
class Preflight:
    rows: list[tuple[str, str]] = field(default_factory=list)  # shown after the plan's rows
    errors: list[SpecError] = field(default_factory=list)  # each one a reason the run cannot start


def check(plan: LaunchPlan, experiment: Any) -> Preflight:
    result = Preflight()
    _resources(plan, result)
    _data(plan, experiment, result)
    return result


def gpu_count() -> int:
    """GPUs this machine offers, without torch: nvidia-smi's list, narrowed by CUDA_VISIBLE_DEVICES."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    count = sum(1 for line in listed.splitlines() if line.startswith("GPU "))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip()]
        count = 0 if any(v.strip() == "-1" for v in ids) else min(count, len(ids))
    return count


def machine_nodes() -> list[dict[str, float]]:
    """This machine as the embedded Ray sees it (`cluster.connect` starts it with every CPU)."""
    return [{"CPU": float(os.cpu_count() or 1), "GPU": float(gpu_count())}]


def cluster_nodes(address: str) -> list[dict[str, float]]:
    """The alive nodes of a running cluster; joins it briefly (its logs in a temporary folder)."""
    from runner.launch import cluster

    with tempfile.TemporaryDirectory(prefix="runner-dry-run-") as logs:
        connection = cluster.connect(address, logs)
        try:
            return cluster.alive_nodes()
        finally:
            cluster.disconnect(connection)


def _resources(plan: LaunchPlan, result: Preflight) -> None:
    nodes = cluster_nodes(plan.address) if plan.address else machine_nodes()
    where = (f"the Ray cluster at {plan.address}" if plan.address else "this machine (an embedded Ray would use "
             "all of it)")
    have = ", ".join(f"{_num(sum(n.get(k, 0.0) for n in nodes))} {k}" for k in ("CPU", "GPU"))
    result.rows.append(("available", f"{where}: {have} on {len(nodes)} node{'s' if len(nodes) != 1 else ''}"))
    try:
        check_capacity(plan, nodes)
        result.rows.append(("fits", f"yes: room for the {plan.workers} worker{'s' if plan.workers != 1 else ''}"))
    except SpecError as exc:
        result.rows.append(("fits", "NO (see the error below)"))
        result.errors.append(exc)


def _data(plan: LaunchPlan, experiment: Any, result: Preflight) -> None:
    from runner import problems

    try:
        located = problems.locate(experiment.problem, plan.data_dir)
    except SpecError as exc:
        result.rows.append(("data source", "MISSING (see the error below)"))
        result.errors.append(exc)
        return
    if located is None:
        result.rows.append(("data source", f"family {experiment.problem.family} (a plugin) does not say; "
                            "datagen will find out"))
        return
    name = located.description.partition(":")[2]
    source = {"local": f"local files in {located.description} (present)",
              "fsdd": f"FSDD recordings in {name} (present)",
              "sklearn": f"scikit-learn's bundled {name} (no download)",
              "hub": f"hub dataset {name}"}.get(located.kind, located.description)
    missing = _missing_local_folder(experiment.problem)
    if located.kind == "hub":
        source = (f"{missing}; falls back to the {source}" if missing else source) + (
            "" if located.cached else " (downloaded at datagen unless `datasets` has it cached)")
    result.rows.append(("data source", source))
    result.rows.append(("data cache", f"{located.folder} ("
                        + ("cached: datagen is skipped)" if located.cached else "not cached yet: generated once, "
                           "on the driver, before training)")))
    if located.kind == "hub" and not located.cached:
        from runner.problems.hub import hub_endpoint, hub_reachable, offline

        if not offline() and not hub_reachable(hub_endpoint()):
            result.errors.append(SpecError(
                (f"{missing}, and " if missing else "") + f"the dataset hub is unreachable from here, so hub "
                f"dataset '{name}' cannot be downloaded; point the problem at local files with "
                "-o problem.source.path=DIR", field="problem.source.path" if missing else "problem.source.hub"))


def _missing_local_folder(problem: Any) -> str:
    """'local folder X not found (looked for A and B)' when the spec names a local folder that is absent."""
    from runner.problems.local_or_hub import candidate_paths, find_local

    path = getattr(getattr(problem, "source", None), "path", None)
    if path is None or find_local(path) is not None:
        return ""
    return f"local folder '{path}' not found (looked for {' and '.join(str(c) for c in candidate_paths(path))})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
