"""Using a finished run: load its model from the run folder alone, decode a file with it
(`runner decode`), average its checkpoints (`runner average`)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.run_dir import RunDir, checkpoint_roots, default_data_dir, load_experiment, write_text_atomic
from runner.specs.errors import Location, SpecError

AVERAGED_DIR = RunDir.AVERAGED


@dataclass
class LoadedRun:
    """A trained run ready to use: its spec, its data's inference view, the model (eval mode)."""

    experiment: Any
    data: Any  # a ProblemData whose collate / decode_text / vocabularies work; splits may be absent
    model: Any
    checkpoint: str


def load_run(run_dir: str, checkpoint: str | None = None, data_dir: str | None = None, overrides=()) -> LoadedRun:
    """The run's model from its own folder: experiment.yaml, data_assets/ and a checkpoint.

    Runs trained before data_assets/ existed fall back to the data cache (`data_dir`)."""
    import torch

    from runner import api, registry
    from runner.problems import assets
    from runner.training import checkpoint as ckpt

    experiment = _with_decode_overrides(run_experiment(run_dir), overrides)
    registry.import_plugins(experiment.plugins)
    found = run_checkpoints(run_dir)
    path = checkpoint or (found[-1] if found else None)
    if path is None:
        raise SpecError("the run has no checkpoint yet; train it first, or pass --checkpoint", Location(run_dir))
    try:
        data = assets.load(experiment.problem, run_dir)
    except SpecError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:  # truncated or edited asset files
        raise SpecError(f"the run's {assets.ASSETS_DIR}/ cannot be read ({type(exc).__name__}: "
                        f"{' '.join(str(exc).split())[:200]}); it is damaged: restore it from a copy of the run",
                        Location(str(assets.folder(run_dir)))) from None
    if data is None:
        print(f"note: {run_dir} has no {assets.ASSETS_DIR}/ (a run from an older runner); reading the "
              "vocabulary from the data cache", file=sys.stderr)
        data = api.build_problem(experiment, data_dir or default_data_dir())
    model = api.build_model(experiment, data.info)
    try:
        model.load_state_dict(ckpt.load_model_state(path))
    except (ckpt.CheckpointError, RuntimeError, OSError) as exc:
        raise SpecError(f"cannot load the model from this checkpoint: {str(exc).splitlines()[0]}",
                        Location(path)) from None
    model.to(torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    model.eval()
    return LoadedRun(experiment, data, model, path)


def run_experiment(run_dir: str):
    """The run folder's resolved experiment; a clear error for a path that is not a run folder."""
    if not os.path.isdir(run_dir):
        raise SpecError("no such run folder; pass the folder `runner run` wrote (e.g. runs/<recipe>-<hash>)",
                        Location(run_dir))
    return load_experiment(run_dir)


def _with_decode_overrides(experiment, overrides):
    """Decode-time settings only (beam size, alpha, batch size) may change when using a run."""
    if not overrides:
        return experiment
    from runner.specs.overrides import apply, parse_cli
    from runner.specs.schemas import DecodeSpec

    decode = experiment.decode.model_dump()
    for o in parse_cli(overrides):
        if o.section != "decode" or len(o.path) != 2:
            raise SpecError("only decode.* settings can be changed when decoding (e.g. -o decode.beam_size=1)",
                            o.where)
        apply(decode, o.path[1:], o.value, o.where)
    return experiment.model_copy(update={"decode": DecodeSpec.model_validate(decode)})


def run_checkpoints(run_dir: str) -> list[str]:
    """The run's complete checkpoints, oldest first, wherever the run kept them."""
    from runner.training import checkpoint as ckpt

    found = [p for root in checkpoint_roots(run_dir) for p in ckpt.list_checkpoints(root)]
    return sorted(found, key=lambda p: int(ckpt.read_meta(p)["step"]))


def decode_file(run_dir: str, from_file: str, to_file: str, checkpoint: str | None = None,
                data_dir: str | None = None, overrides=()) -> int:
    """Decode every line of `from_file` into `to_file` (same order); returns the line count."""
    from runner.training.decode import decode_examples

    try:
        lines = Path(from_file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SpecError(f"cannot read the input file: {exc.strerror}", Location(from_file)) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"byte {exc.start} is not UTF-8 text; decode reads UTF-8 lines", Location(from_file)) from None
    run = load_run(run_dir, checkpoint, data_dir, overrides)
    data = run.data
    if not hasattr(data, "examples_from_text") or not getattr(data.info, "has_inputs", True):
        raise SpecError(f"`runner decode` turns text lines into text; this run's problem is "
                        f"{run.experiment.problem.family}: use `runner predict {run_dir} INPUT...`", Location(run_dir))
    try:
        examples = data.examples_from_text(lines)
    except ValueError as exc:
        raise SpecError(str(exc), Location(from_file)) from None
    hypotheses = decode_examples(run.model, data, examples, run.experiment.decode)
    write_text_atomic(to_file, "".join(data.decode_text(ids) + "\n" for ids in hypotheses))
    return len(lines)


def average_run(run_dir: str, last: int) -> str:
    """Average the run's last N checkpoints (T2T's avg_checkpoints) into RUN_DIR/averaged/."""
    import shutil

    import torch

    from runner.training import checkpoint as ckpt

    if last < 1:
        raise SpecError(f"--last must be at least 1, got {last}", Location(run_dir))
    found = run_checkpoints(run_dir)
    if not found:
        raise SpecError("the run has no checkpoints to average", Location(run_dir))
    chosen = found[-last:]
    state = ckpt.average_checkpoints(chosen)
    target = Path(run_dir) / AVERAGED_DIR
    staging = Path(run_dir) / f".{AVERAGED_DIR}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    torch.save(state, staging / ckpt.MODEL_FILE)
    (staging / "sources.txt").write_text("".join(p + "\n" for p in chosen))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return str(target)
