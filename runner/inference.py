"""Using a finished run: decode a file with it (`runner decode`), average its checkpoints (`runner average`)."""

from __future__ import annotations

import os
from pathlib import Path

from runner.run_dir import RunDir, checkpoint_roots, default_data_dir, load_experiment, write_text_atomic
from runner.specs.errors import Location, SpecError

AVERAGED_DIR = RunDir.AVERAGED


def _model_from_run(run_dir: str, checkpoint: str | None, data_dir: str | None, overrides=()):
    import torch

    from runner import api
    from runner.training import checkpoint as ckpt

    experiment = load_experiment(run_dir)
    if overrides:  # decode-time settings only: beam size, alpha, batch size
        from runner.specs.overrides import apply, parse_cli
        from runner.specs.schemas import DecodeSpec

        decode = experiment.decode.model_dump()
        for o in parse_cli(overrides):
            if o.section != "decode" or len(o.path) != 2:
                raise SpecError("only decode.* settings can be changed when decoding (e.g. -o decode.beam_size=1)",
                                o.where)
            apply(decode, o.path[1:], o.value, o.where)
        experiment = experiment.model_copy(update={"decode": DecodeSpec.model_validate(decode)})
    found = run_checkpoints(run_dir)
    path = checkpoint or (found[-1] if found else None)
    if path is None:
        raise SpecError("the run has no checkpoint yet; train it first, or pass --checkpoint", Location(run_dir))
    data = api.build_problem(experiment, data_dir or default_data_dir())
    model = api.build_model(experiment, data.info)
    model.load_state_dict(ckpt.load_model_state(path))
    model.to(torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    return experiment, data, model


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
    experiment, data, model = _model_from_run(run_dir, checkpoint, data_dir, overrides)
    try:
        examples = data.examples_from_text(lines)
    except ValueError as exc:
        raise SpecError(str(exc), Location(from_file)) from None
    hypotheses = decode_examples(model, data, examples, experiment.decode)
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
