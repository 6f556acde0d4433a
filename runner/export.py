"""`runner export RUN_DIR --to DIR`: a trained run as a bundle that loads without runner's data code.

The bundle (docs/ARCHITECTURE.md, "Using a trained run"):
  bundle.json            task, model implementation, hparams, DataInfo fields, vocabulary kind,
                         class names, decode settings, spec_hash: everything to rebuild the model
  weights.pt             the state dict (of the run's latest checkpoint, or --checkpoint)
  vocab/                 the run's data_assets/ (tokenizer files, meta.json)
  model.pt2              image classifiers: pixels -> logits as a torch.export program (any batch
                         size), loaded with torch alone: torch.export.load(path).module()
  load.py                runner/export_loader.py: `load(DIR)` -> model + vocabulary, greedy translate,
                         classify; it imports runner's model code, never runner.problems or runner.training
  experiment.yaml        the resolved spec, for the record
The folder is written whole or not at all, and an existing non-empty folder is never replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.run_dir import RunDir
from runner.specs.errors import Location, SpecError

BUNDLE_FORMAT = 1


@dataclass(frozen=True)
class Exported:
    folder: str
    task: str
    program: bool  # model.pt2 written (torch.export)


def export_run(run_dir: str, to: str | None = None, checkpoint: str | None = None) -> Exported:
    """Write the bundle into `to` (default RUN_DIR/export/); returns where and what it holds."""
    import torch

    from runner import export_loader, predict
    from runner.inference import load_run

    folder = RunDir(run_dir)
    target = Path(to) if to is not None else folder.export
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SpecError("already exists and is not empty; choose a new --to folder (an export is never replaced)",
                        Location(str(target)))
    run = load_run(run_dir, checkpoint)
    task = predict.task_of(run)
    staging = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        model = run.model.cpu()
        torch.save(model.state_dict(), staging / "weights.pt")
        program = _exported_program(model, run) if task == "classify" else None
        if program is not None:
            torch.export.save(program, str(staging / export_loader.PROGRAM_FILE))
        assets = folder.file(RunDir.DATA_ASSETS)
        if assets.is_dir():
            shutil.copytree(assets, staging / "vocab")
        shutil.copy2(folder.file(RunDir.EXPERIMENT), staging / RunDir.EXPERIMENT)
        shutil.copy2(export_loader.__file__, staging / "load.py")
        (staging / export_loader.BUNDLE_FILE).write_text(json.dumps(_bundle_spec(run, task, program is not None),
                                                                    indent=2, sort_keys=True))
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Exported(str(target), task, program is not None)


def _bundle_spec(run: Any, task: str, program: bool) -> dict[str, Any]:
    experiment, data = run.experiment, run.data
    info = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(data.info).items()}
    return {
        "format": BUNDLE_FORMAT, "task": task, "model": experiment.model.implementation,
        "hparams": experiment.hparams.model_dump(mode="json"), "info": info, "vocab": _vocab_spec(data),
        "class_names": list(getattr(data, "class_names", []) or []),
        "decode": experiment.decode.model_dump(mode="json"), "recipe": experiment.recipe,
        "spec_hash": experiment.spec_hash, "checkpoint": os.path.basename(run.checkpoint),
        "program": program,
    }


def _vocab_spec(data: Any) -> dict[str, Any] | None:
    base = getattr(data, "base", data)  # a masked LM reads its text problem's vocabulary
    meta = getattr(base, "meta", None) or {}
    vocab = meta.get("vocab")
    if vocab and vocab.get("kind") in ("bpe", "byte", "symbols"):
        return {"kind": vocab["kind"], "shared": bool(vocab.get("shared", True)), "symbols": vocab.get("symbols")}
    if vocab and "tokens" in vocab:  # speech transcripts
        return {"kind": "transcript", "tokens": vocab["tokens"], "unit": vocab["unit"], "shared": True}
    return None


def _exported_program(model: Any, run: Any):
    """pixels -> logits through torch.export with a dynamic batch size, kept only when it matches
    the eager model on another batch size (None when the model cannot be exported)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, inputs):
            return self.inner({"inputs": inputs}).logits

    info = run.data.info
    generator = torch.Generator().manual_seed(0)
    example = torch.randint(0, info.levels, (2, *info.image_shape), generator=generator).to(torch.uint8)
    check = torch.randint(0, info.levels, (3, *info.image_shape), generator=generator).to(torch.uint8)
    wrapper = Logits(model).eval()
    try:
        program = torch.export.export(wrapper, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
        with torch.no_grad():
            if not torch.allclose(program.module()(check), wrapper(check), atol=1e-5, rtol=1e-4):
                return None
    except Exception:  # noqa: BLE001 - an optimisation; the state dict and load.py always work
        return None
    return program
