"""`runner predict`: a trained run applied to the user's own inputs, for every problem family.

What a run takes and gives depends on its problem (docs/ARCHITECTURE.md, "Using a trained run"):
  text2text, algorithmic, prepend LMs   text lines in -> decoded text lines out (greedy / beam)
  masked_lm                             text lines with <mask> in -> the lines with masks filled
  speech                                WAV files in -> transcripts
  image_classification                  image files (PNG, JPEG, .npy) in -> labels with probabilities
  language_model, image_generation      nothing (or text prompts) in -> samples (text, PNG files)
  offline_rl                            a target return in -> episodes of the policy in its environment

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
    """One result: `source` (the input file or line; "" when sampled from nothing) and its
    `text`, `labels` (name, probability), or the `file` a generated image was written to."""

    source: str
    text: str | None = None
    labels: list[tuple[str, float]] = field(default_factory=list)
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": self.source} if self.source else {}
        if self.file is not None:
            out["file"] = self.file
        if self.text is not None:
            out["output"] = self.text
        if self.labels:
            out["labels"] = [{"label": name, "probability": round(p, 6)} for name, p in self.labels]
        return out


def task_of(run: Any) -> str:
    """What kind of prediction the run makes: text, masked, speech, classify, generate_text, generate_image."""
    info = run.data.info
    if info.input_kind == "trajectories":
        return "policy"
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


# ----------------------------------------------------------------------------- offline RL


def play(run: Any, target_return: float | None, episodes: int, seed: int | None) -> list[Prediction]:
    """Episodes of the policy in its environment (seeds seed, seed+1, ...; default: the problem's
    evaluation seeds), conditioned on `target_return` (default: the evaluation's)."""
    from runner.training.rollout import rollout, target_return_of

    data = run.data
    first = data.evaluation.seed if seed is None else seed
    seeds = [first + i for i in range(episodes)]
    target_return = target_return_of(data, target_return)
    result = rollout(run.model, data.info, seeds, target_return)
    span = data.references.expert_return - data.references.random_return
    out = []
    for s, ret, length in zip(seeds, result.returns, result.lengths):
        normalized = 100.0 * (ret - data.references.random_return) / span if span else float("nan")
        out.append(Prediction(f"{data.info.env_id} seed {s}, target return {target_return:g}",
                              text=f"return {ret:g} in {length} steps (normalized {normalized:.1f})"))
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


def sampling_requested(options: SamplingOptions) -> bool:
    """Whether the user asked a text run to sample rather than decode with its beam settings."""
    return options != SamplingOptions(max_length=options.max_length)


def _draw_settings(options: SamplingOptions) -> dict[str, Any]:
    # Temperature 0 means greedy: the most likely token, which top_k=1 draws with certainty.
    if options.temperature == 0:
        return {"temperature": 1.0, "top_k": 1, "top_p": 1.0}
    return {"temperature": options.temperature, "top_k": options.top_k, "top_p": options.top_p}


def _text_length(run: Any, options: SamplingOptions, prompt: int = 0) -> int:
    if options.max_length:
        return options.max_length
    limits = [m for m in (getattr(run.experiment.problem, "max_length", 0), run.experiment.hparams.max_length) if m > 0]
    return max(1, (min(limits) if limits else 256) - prompt)


def sample_translations(run: Any, lines: Sequence[str], options: SamplingOptions, where: str = "<input>") -> list[Prediction]:
    """`num_samples` sampled outputs for each input line of a text run (instead of beam search)."""
    from runner.training.sampling import sample

    try:
        examples = run.data.examples_from_text(list(lines))
    except ValueError as exc:
        raise SpecError(str(exc), Location(where)) from None
    device = next(run.model.parameters()).device
    out = []
    for line, example in zip(lines, examples):
        batch = {k: v.to(device) for k, v in run.data.collate([example]).items()}
        length = options.max_length or batch["inputs"].shape[1] + run.experiment.decode.extra_length
        for ids in sample(run.model, batch, max_length=length, num_samples=options.num_samples,
                          seed=options.seed, **_draw_settings(options)):
            out.append(Prediction(line, text=run.data.decode_text(ids)))
    return out


def generate(run: Any, prompts: Sequence[str], options: SamplingOptions, output_dir: str) -> list[Prediction]:
    """Samples from a language model (text; each prompt continued `num_samples` times, or
    `num_samples` unconditional samples) or an image-generation model (PNG files in output_dir)."""
    if run.data.info.input_kind == "pixels":
        return _generate_images(run, options, Path(output_dir))
    from runner.training.sampling import sample

    if not prompts:
        size = options.num_samples
        device = next(run.model.parameters()).device
        rows = sample(run.model, _rows(size, device), max_length=_text_length(run, options),
                      num_samples=1, seed=options.seed, **_draw_settings(options))
        return [Prediction("", text=run.data.decode_text(ids)) for ids in rows]
    encoded = run.data.target_vocab.encode_batch(list(prompts))
    out = []
    for prompt, ids in zip(prompts, encoded):
        ids = [int(t) for t in ids]
        for continuation in continue_prompt(run.model, ids, options, _text_length(run, options, len(ids))):
            out.append(Prediction(prompt, text=run.data.decode_text(ids + continuation)))
    return out


def _rows(rows: int, device: Any) -> dict[str, Any]:
    """A batch of `rows` empty inputs: what a plain language model's encode needs (the row
    count; sampling.encoder_inputs drops "targets", so they cannot carry it)."""
    import torch

    return {"inputs": torch.zeros(rows, 0, dtype=torch.long, device=device)}


def continue_prompt(model: Any, prompt: list[int], options: SamplingOptions, max_length: int) -> list[list[int]]:
    """`num_samples` continuations of a plain language model's prompt (sampling.sample with the
    prompt forced through the incremental decoder first)."""
    from runner.training.sampling import sample

    device = next(model.parameters()).device
    return sample(model, _rows(1, device), max_length=max_length, num_samples=options.num_samples,
                  seed=options.seed, prompt=prompt, **_draw_settings(options))


def _generate_images(run: Any, options: SamplingOptions, output_dir: Path) -> list[Prediction]:
    from runner.training.sampling import sample_images

    settings = _draw_settings(options)
    images = sample_images(run.model, options.num_samples, seed=options.seed,
                           batch_size=max(1, run.experiment.decode.batch_size), **settings)
    output_dir.mkdir(parents=True, exist_ok=True)
    taken = [int(p.stem.split("_")[-1]) for p in output_dir.glob("sample_*.png") if p.stem.split("_")[-1].isdigit()]
    first = max(taken, default=-1) + 1  # never replace earlier samples
    out = []
    for i, pixels in enumerate(images):
        path = output_dir / f"sample_{first + i:04d}.png"
        write_png(pixels, run.data.info.levels, path)
        out.append(Prediction("", file=str(path)))
    return out
