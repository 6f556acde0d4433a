"""`runner predict`: a trained run applied to the user's own inputs, for every problem family.

What a run takes and gives depends on its problem (docs/ARCHITECTURE.md, "Using a trained run"):
  text2text, algorithmic, prepend LMs   text lines in -> decoded text lines out (greedy / beam)
  masked_lm                             text lines with <mask> in -> the lines with masks filled
  speech                                WAV files in -> transcripts
  image_classification                  image files (PNG, JPEG, .npy) in -> labels with probabilities
  language_model, image_generation      nothing (or text prompts) in -> samples (text, PNG files)

Everything comes from the run folder (`inference.load_run`): the vocabulary and feature
settings travel with it (data_assets/ and experiment.yaml), so no data cache or catalog is read.
Bad inputs (a missing or unreadable file, a wrong sample rate) are SpecErrors naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner.specs.errors import Location, SpecError

MASK_TOKEN = "<mask>"  # how a user marks the positions a masked LM should fill


@dataclass(frozen=True)
class SamplingOptions:
    """`--temperature --top-k --top-p --num-samples --seed --max-length` for generative runs."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_samples: int = 1
    seed: int | None = None
    max_length: int = 0  # 0 = the problem's own length (text: decode.extra_length + prompt)


@dataclass
class Prediction:
    """One result: `source` (a file name or the input line), `text` and/or `labels` or `image`."""

    source: str
    text: str | None = None
    labels: list[tuple[str, float]] = field(default_factory=list)
    image: Any = None  # uint8 [H, W, C] for generated images

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": self.source}
        if self.text is not None:
            out["output"] = self.text
        if self.labels:
            out["labels"] = [{"label": name, "probability": round(p, 6)} for name, p in self.labels]
        return out


def task_of(run: Any) -> str:
    """What kind of prediction the run makes: text, masked, speech, classify, generate_text, generate_image."""
    info = run.data.info
    if info.input_kind == "pixels":
        return "classify" if info.has_inputs else "generate_image"
    if info.input_kind == "features":
        return "speech"
    if getattr(run.data, "mask_id", None) is not None:
        return "masked"
    return "text" if info.has_inputs else "generate_text"


TAKES_FILES = {"speech": "WAV files", "classify": "image files (PNG, JPEG or .npy)"}


# ----------------------------------------------------------------------------- text


def translate(run: Any, lines: Sequence[str], where: str = "<input>") -> list[Prediction]:
    """Decode each input line with the run's decode settings (greedy or beam search)."""
    from runner.training.decode import decode_examples

    try:
        examples = run.data.examples_from_text(list(lines))
    except ValueError as exc:
        raise SpecError(str(exc), Location(where)) from None
    hypotheses = decode_examples(run.model, run.data, examples, run.experiment.decode)
    return [Prediction(line, text=run.data.decode_text(ids)) for line, ids in zip(lines, hypotheses)]


def fill_masks(run: Any, lines: Sequence[str], where: str = "<input>") -> list[Prediction]:
    """Each `<mask>` in a line replaced by the masked LM's most likely token."""
    import torch

    data, out = run.data, []
    vocab, eos = data.base.input_vocab, data.info.eos_id
    device = next(run.model.parameters()).device
    for line_no, line in enumerate(lines, 1):
        pieces = line.split(MASK_TOKEN)
        if len(pieces) == 1:
            raise SpecError(f"line {line_no} has no {MASK_TOKEN}; mark each token to fill with {MASK_TOKEN}",
                            Location(where, line_no))
        ids: list[int] = []
        for i, piece in enumerate(pieces):
            if i:
                ids.append(data.mask_id)
            ids.extend(int(t) for t in (vocab.encode_batch([piece])[0] if piece else []))
        ids.append(eos)
        inputs = torch.tensor([ids], dtype=torch.long, device=device)
        with torch.no_grad():
            logits = run.model({"inputs": inputs, "targets": torch.zeros_like(inputs)}).logits[0]
        logits[:, data.mask_id] = float("-inf")  # never "fill" a mask with the mask itself
        filled = [int(logits[i].argmax()) if t == data.mask_id else t for i, t in enumerate(ids)]
        out.append(Prediction(line, text=data.decode_text(filled)))
    return out


# ----------------------------------------------------------------------------- speech


def transcribe(run: Any, paths: Sequence[str]) -> list[Prediction]:
    """WAV files -> transcripts, through the problem's own log-mel features."""
    from runner.problems.audio import AudioError, read_wav, to_pcm16
    from runner.training.decode import decode_examples

    spec = run.experiment.problem
    examples = []
    for path in paths:
        _require_file(path, "WAV file")
        try:
            samples, _ = read_wav(path, expected_rate=spec.sample_rate)
        except AudioError as exc:
            raise SpecError(str(exc).removeprefix(f"{path}: "), Location(path)) from None
        examples.append({"audio": to_pcm16(samples), "targets": np.array([run.data.info.eos_id], dtype=np.int32)})
    hypotheses = decode_examples(run.model, run.data, examples, run.experiment.decode)
    return [Prediction(path, text=run.data.decode_text(ids)) for path, ids in zip(paths, hypotheses)]


# ----------------------------------------------------------------------------- images


def read_image(path: str, shape: tuple[int, int, int], levels: int) -> tuple[np.ndarray, str | None]:
    """uint8 [H, W, C] pixels in [0, levels) from an image file or a .npy array, and a note
    when the file had to be resized or re-quantized to fit the problem."""
    _require_file(path, "image file")
    height, width, channels = shape
    note = None
    if path.endswith(".npy"):
        try:
            pixels = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SpecError(f"cannot read as a .npy array: {exc}", Location(path)) from None
        if pixels.ndim == 2 and channels == 1:
            pixels = pixels[..., None]
        if tuple(pixels.shape) != tuple(shape):
            raise SpecError(f"array of shape {list(pixels.shape)}, expected [height, width, channels] = {list(shape)}",
                            Location(path))
        if pixels.min() < 0 or pixels.max() >= levels:
            raise SpecError(f"values {pixels.min()}..{pixels.max()} outside [0, {levels - 1}] (the problem's levels)",
                            Location(path))
        return pixels.astype(np.uint8), None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            if image.size != (width, height):
                note = f"{path}: resized from {image.size[0]}x{image.size[1]} to {width}x{height} (the problem's image_shape)"
                image = image.resize((width, height), Image.BILINEAR)
            pixels = np.asarray(image, dtype=np.int64).reshape(height, width, channels)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise SpecError(f"cannot read as an image ({exc}); expected a PNG or JPEG file, or a .npy array",
                        Location(path)) from None
    if levels != 256:  # 8-bit intensities onto the problem's scale (e.g. 17 levels for sklearn digits)
        pixels = pixels * levels // 256
        note = (note + "; " if note else f"{path}: ") + f"intensities scaled from 256 to {levels} levels"
    return pixels.astype(np.uint8), note


def classify(run: Any, paths: Sequence[str], top: int = 5, notes: list[str] | None = None) -> list[Prediction]:
    """Image files -> the `top` most probable labels with their probabilities."""
    import torch

    info = run.data.info
    images = []
    for path in paths:
        pixels, note = read_image(path, tuple(info.image_shape), info.levels)
        images.append(pixels)
        if note and notes is not None:
            notes.append(note)
    names = list(getattr(run.data, "class_names", []) or [])
    device = next(run.model.parameters()).device
    out = []
    batch_size = max(1, run.experiment.decode.batch_size)
    for start in range(0, len(images), batch_size):
        chunk = torch.from_numpy(np.stack(images[start:start + batch_size])).to(device)
        with torch.no_grad():
            probs = torch.softmax(run.model({"inputs": chunk}).logits.float(), dim=-1)
        values, ids = probs.topk(min(top, probs.shape[-1]), dim=-1)
        for row, path in enumerate(paths[start:start + batch_size]):
            labels = [(names[i] if i < len(names) else str(i), float(v))
                      for v, i in zip(values[row].tolist(), ids[row].tolist())]
            out.append(Prediction(path, labels=labels))
    return out


def write_png(pixels: np.ndarray, levels: int, path: Path) -> None:
    """Save generated [H, W, C] intensities in [0, levels) as an 8-bit PNG."""
    from PIL import Image

    scaled = np.round(pixels.astype(np.float64) * 255.0 / max(levels - 1, 1)).astype(np.uint8)
    Image.fromarray(scaled[..., 0] if scaled.shape[-1] == 1 else scaled).save(path)


# ----------------------------------------------------------------------------- helpers


def _require_file(path: str, what: str) -> None:
    target = Path(path)
    if not target.exists():
        raise SpecError(f"no such {what}", Location(path))
    if not target.is_file():
        raise SpecError(f"not a file; pass {what}s", Location(path))


# ----------------------------------------------------------------------------- sampling


def generate(run: Any, prompts: Sequence[str], options: SamplingOptions, output_dir: str) -> list[Prediction]:
    """Samples from a language model (text) or an image-generation model (PNG files in output_dir)."""
    try:
        from runner.training import sampling
    except ImportError:
        raise SpecError("sampling is not available in this version of runner (runner.training.sampling)") from None
    raise SpecError(f"sampling from {run.experiment.problem.family} runs is not wired yet ({sampling.__name__})")
