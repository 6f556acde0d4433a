"""Datagen and batches for image problems (families `image_classification`, `image_generation`).

`build(spec, data_dir)` reads every split once (checking each image's shape and intensities),
and caches `<split>.images.npy` (uint8 [N, H, W, C]) and, for classification,
`<split>.labels.npy`. The cache key is the spec's data fields plus the content hash of every
source file (cache.py). For images `batch_size` counts EXAMPLES.

Batches:
  classification  {"inputs": uint8 [B, H, W, C] pixels, "targets": int64 [B] class ids}
  generation      {"targets": int64 [B, H, W, C] intensities}   (every sub-pixel is a target)
Nothing is padding, so `target_pad_id` is -1 (no id is ever ignored). Training images of a
classification problem get the random crop / flip of `problem.augmentation`, drawn from
torch's RNG (seeded by the loop and saved in checkpoints).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np

from runner.problems import cache, image_sources
from runner.problems.base import SPLITS, DataInfo, ProblemData, check_split_name, example_batches
from runner.problems.image_spec import ImageClassificationProblem, _ImageProblem

log = logging.getLogger(__name__)

NO_PAD = -1  # every label / sub-pixel is scored
_NOT_IN_FINGERPRINT = {"description", "metrics", "max_length", "augmentation"}


@dataclass(frozen=True)
class ImageDataInfo(DataInfo):
    """DataInfo plus the image geometry models are built for."""

    image_shape: tuple[int, int, int] = (0, 0, 0)  # height, width, channels
    levels: int = 256


def relative_hashes(files: list[Path], data_dir: Path) -> dict[str, str]:
    """Content hashes keyed by path relative to the files' common folder: PNGs in different
    split and class folders often share names (cache.content_hashes keys by name alone)."""
    if not files:
        return {}
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    hashes = {}
    for parent, group in groupby(sorted(files), key=lambda p: p.parent):
        for name, digest in cache.content_hashes(list(group), data_dir).items():
            hashes[str((parent / name).relative_to(root))] = digest
    return hashes


def fingerprint_data(spec: _ImageProblem, source_kind: str) -> dict[str, Any]:
    data = spec.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT)
    source = data["source"]
    if source_kind == "hub":
        data["source"] = {"hub": source["hub"]}
    elif source_kind == "local":
        data["source"] = {k: source[k] for k in ("format", "files")}
    else:
        data["source"] = {k: source[k] for k in ("sklearn", "eval_fraction", "test_fraction", "split_seed")}
    return data


def locate(spec: _ImageProblem, data_dir: str | Path) -> cache.Located:
    """The images' source (checked) and this spec's cache folder."""
    data_dir = Path(data_dir)
    plan = image_sources.resolve(spec)
    spec_data = fingerprint_data(spec, plan.kind)
    fp = cache.fingerprint(spec_data, relative_hashes(plan.files, data_dir))
    return cache.Located(plan, plan.kind, plan.description, spec_data, fp, cache.cache_folder(data_dir, spec.name, fp))


def build(spec: _ImageProblem, data_dir: str | Path) -> "ImageData":
    at = locate(spec, data_dir)
    cache.ensure(at.folder, lambda: _generate(spec, at.plan, at.folder, at.fingerprint, at.spec_data))
    return ImageData(at.folder, spec)


def from_assets(spec: _ImageProblem, folder: Path) -> "ImageData":
    """Class names from a run's data_assets/ folder (assets.py); geometry from the spec."""
    return ImageData(folder, spec)


def _generate(spec: _ImageProblem, plan, folder: Path, fp: str, spec_data: dict) -> None:
    started = time.perf_counter()
    meta: dict[str, Any] = {"fingerprint": fp, "problem": spec.name, "family": spec.family,
                            "source": plan.description, "spec": spec_data}
    if plan.class_names:  # not data: `runner predict` prints them beside the label ids
        meta["class_names"] = plan.class_names
    counts = {}
    with cache.atomic_folder(folder, meta) as tmp:
        for split in SPLITS:
            images, labels = plan.read(split)
            if images.shape[0] == 0:
                raise image_sources.ImageError(f"the {split} split of {plan.description} has no images")
            np.save(tmp / f"{split}.images.npy", images)
            if labels is not None:
                np.save(tmp / f"{split}.labels.npy", labels)
            counts[split] = int(images.shape[0])
        meta.update(splits=counts, datagen_seconds=round(time.perf_counter() - started, 3))
    log.info("datagen: %s from %s done in %.1f s (%s)", spec.name, plan.description, time.perf_counter() - started,
             ", ".join(f"{k} {v}" for k, v in counts.items()))


class ImageSplit(Sequence):
    """Examples {"pixels": uint8 [H, W, C], "label": int (classification), "augment": bool}."""

    def __init__(self, folder: Path, split: str, labelled: bool, augment: bool):
        self.images = np.load(folder / f"{split}.images.npy", mmap_mode="r")
        self.labels = np.load(folder / f"{split}.labels.npy") if labelled else None
        self.augment = augment

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        example = {"pixels": self.images[index], "augment": self.augment}
        if self.labels is not None:
            example["label"] = int(self.labels[index])
        return example


class ImageData(ProblemData):
    def __init__(self, folder: Path, spec: _ImageProblem):
        self.folder, self.spec = Path(folder), spec
        meta = cache.read_meta(self.folder)
        self.fingerprint: str = meta["fingerprint"]
        self.class_names: list[str] = list(meta.get("class_names", []))
        self.classification = isinstance(spec, ImageClassificationProblem)
        shape = tuple(spec.image_shape)
        self.info = ImageDataInfo(
            input_vocab_size=spec.levels,
            target_vocab_size=spec.num_classes if self.classification else spec.levels,
            target_pad_id=NO_PAD, input_kind="pixels", has_inputs=self.classification,
            image_shape=shape, levels=spec.levels,
        )
        self._splits: dict[str, ImageSplit] = {}

    def split(self, name: str) -> ImageSplit:
        check_split_name(name)
        if name not in self._splits:
            augment = name == "train" and self.classification and self._augments()
            self._splits[name] = ImageSplit(self.folder, name, self.classification, augment)
        return self._splits[name]

    def _augments(self) -> bool:
        a = self.spec.augmentation
        return a.random_crop_padding > 0 or a.horizontal_flip

    def batch_plan(self, split: str, batch_size: int, max_length: int, seed: int, epoch: int,
                   shuffle: bool) -> list[list[int]]:
        """Fixed-size batches of `batch_size` IMAGES (max_length does not apply to images)."""
        return example_batches(len(self.split(split)), batch_size, seed, epoch, shuffle)

    def collate(self, examples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        pixels = torch.from_numpy(np.stack([ex["pixels"] for ex in examples]))
        if not self.classification:
            return {"targets": pixels.long()}
        if examples and examples[0]["augment"]:
            pixels = augment(pixels, self.spec.augmentation.random_crop_padding, self.spec.augmentation.horizontal_flip)
        return {"inputs": pixels, "targets": torch.tensor([ex["label"] for ex in examples], dtype=torch.long)}


def augment(pixels, padding: int, flip: bool):
    """Random crop after zero padding, and random horizontal flips, per image: [B, H, W, C] uint8."""
    import torch

    batch, height, width, _ = pixels.shape
    if padding:
        padded = torch.nn.functional.pad(pixels, (0, 0, padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (batch,))
        dx = torch.randint(0, 2 * padding + 1, (batch,))
        rows = (dy[:, None] + torch.arange(height)[None, :])[:, :, None]  # [B, H, 1]
        cols = (dx[:, None] + torch.arange(width)[None, :])[:, None, :]  # [B, 1, W]
        pixels = padded[torch.arange(batch)[:, None, None], rows, cols]
    if flip:
        mirror = torch.rand(batch) < 0.5
        pixels = torch.where(mirror[:, None, None, None], pixels.flip(2), pixels)
    return pixels
