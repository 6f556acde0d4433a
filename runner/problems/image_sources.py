"""Where image problems read pixels: npz arrays, class-named PNG folders, a hub dataset, or
scikit-learn's bundled digits.

Each source resolves to an `ImageSourcePlan`: which files to hash into the cache fingerprint,
and `read(split) -> (images uint8 [N, H, W, C], labels int64 [N] or None)`. Every image is
checked against the problem's `image_shape` and `levels`; a bad one is an error naming its
file (and index), what it was and what was expected.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runner.problems.base import SPLITS
from runner.problems.image_spec import ImageClassificationProblem, _ImageProblem
from runner.problems.local_or_hub import choose
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)

_SLICED = re.compile(r"^([^\[\]]+?)(?:\[(-?\d*):(-?\d*)\])?$")

Arrays = tuple[np.ndarray, np.ndarray | None]


class ImageError(SpecError, ValueError):
    """An image or label that does not fit the problem; the message names where it came from (exit 2)."""


@dataclass
class ImageSourcePlan:
    kind: str  # "local", "hub" or "sklearn"
    description: str
    files: list[Path] = field(default_factory=list)
    read: Callable[[str], Arrays] = None
    class_names: list[str] = field(default_factory=list)  # label id -> name, where the source names classes


def needs_labels(spec: _ImageProblem) -> bool:
    return isinstance(spec, ImageClassificationProblem)


def check_images(spec: _ImageProblem, images: np.ndarray, labels: np.ndarray | None, where: Callable[[int], str]) -> Arrays:
    """Validate a split's arrays; `where(i)` names image i's origin in error messages."""
    expected = tuple(spec.image_shape)
    if images.ndim == 3 and expected[2] == 1:
        images = images[..., None]  # grayscale stored without a channel axis
    if images.ndim != 4 or images.shape[1:] != expected:
        got = images.shape[1:] if images.ndim >= 2 else images.shape
        raise ImageError(f"{where(0)}: image of shape {list(got)}, expected [height, width, channels] = "
                         f"{list(expected)} (problem.image_shape)")
    if images.size and (images.min() < 0 or images.max() >= spec.levels):
        bad = int(np.argmax((images < 0).any(axis=(1, 2, 3)) | (images >= spec.levels).any(axis=(1, 2, 3))))
        raise ImageError(f"{where(bad)}: intensities {images[bad].min()}..{images[bad].max()} outside "
                         f"[0, {spec.levels - 1}] (problem.levels = {spec.levels})")
    if needs_labels(spec):
        if labels is None:
            raise ImageError(f"{where(0)}: no class labels; image_classification needs one per image")
        labels = np.asarray(labels).astype(np.int64).reshape(-1)
        if labels.size != images.shape[0]:
            raise ImageError(f"{where(0)}: {images.shape[0]} images but {labels.size} labels")
        outside = np.flatnonzero((labels < 0) | (labels >= spec.num_classes))
        if outside.size:
            raise ImageError(f"{where(int(outside[0]))}: label {labels[outside[0]]} outside "
                             f"[0, {spec.num_classes - 1}] (problem.num_classes = {spec.num_classes})")
    return images.astype(np.uint8), labels if needs_labels(spec) else None


def resolve(spec: _ImageProblem) -> ImageSourcePlan:
    source = spec.source
    if source.sklearn == "digits":
        return _sklearn_digits(spec)
    folder = choose(source, "image")
    if folder is not None:
        paths = {split: folder / source.files[split] for split in SPLITS}
        return _npz(spec, paths) if source.format == "npz" else _png_folders(spec, paths)
    return ImageSourcePlan("hub", f"hub:{source.hub.dataset}", [], _hub_reader(spec))


# ----------------------------------------------------------------------------- local files

def _npz(spec: _ImageProblem, paths: dict[str, Path]) -> ImageSourcePlan:
    for split, path in paths.items():
        if not path.is_file():
            raise SpecError(f"missing {split} split: no file {path}", field=f"problem.source.files.{split}")

    def read(split: str) -> Arrays:
        path = paths[split]
        try:
            with np.load(path) as archive:
                arrays = {k: archive[k] for k in archive.files}
        except (OSError, ValueError) as exc:
            raise ImageError(f"{path}: cannot read as .npz: {exc}") from None
        if "x" not in arrays:
            raise ImageError(f"{path}: no array 'x' (found: {', '.join(arrays) or 'none'}); expected x = images, "
                             "y = labels")
        limit = spec.max_examples or None
        labels = arrays["y"][:limit] if "y" in arrays else None
        return check_images(spec, arrays["x"][:limit], labels, lambda i: f"{path} image {i}")

    return ImageSourcePlan("local", str(paths["train"].parent), list(paths.values()), read)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # format png_folders reads PNG and JPEG files (case-insensitive)


def _png_folders(spec: _ImageProblem, paths: dict[str, Path]) -> ImageSourcePlan:
    files: dict[str, list[tuple[Path, str]]] = {}
    for split, folder in paths.items():
        if not folder.is_dir():
            raise SpecError(f"missing {split} split: no folder {folder}", field=f"problem.source.files.{split}")
        files[split] = [(image, d.name) for d in sorted(p for p in folder.iterdir() if p.is_dir())
                        for image in sorted(d.iterdir()) if image.suffix.lower() in IMAGE_SUFFIXES]
        if not files[split]:
            raise SpecError(f"{folder}: no PNG or JPEG files in class sub-folders (expected "
                            f"{folder}/<class>/*.png or *.jpg)")
    classes = sorted({name for _, name in files["train"]})

    def read(split: str) -> Arrays:
        from PIL import Image

        items = files[split][: spec.max_examples or None]
        images, labels = [], []
        for path, class_name in items:
            if class_name not in classes:
                raise ImageError(f"{path}: class folder '{class_name}' does not exist in the train split "
                                 f"(classes: {', '.join(classes)})")
            try:
                with Image.open(path) as image:
                    pixels = np.asarray(image.convert("L" if spec.image_shape[2] == 1 else "RGB"))
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # PIL's kinds of "bad file"
                raise ImageError(f"{path}: cannot read as an image: {exc}") from None
            if pixels.shape[:2] != tuple(spec.image_shape[:2]):
                raise ImageError(f"{path}: image of shape {list(pixels.shape[:2])} (height, width), expected "
                                 f"{list(spec.image_shape[:2])} (problem.image_shape)")
            images.append(pixels.reshape(*pixels.shape[:2], -1))
            labels.append(classes.index(class_name))
        return check_images(spec, np.stack(images), np.array(labels), lambda i: str(items[i][0]))

    return ImageSourcePlan("local", str(paths["train"].parent), [p for split in files.values() for p, _ in split],
                           read, class_names=classes)


# ----------------------------------------------------------------------------- scikit-learn digits

def _sklearn_digits(spec: _ImageProblem) -> ImageSourcePlan:
    # Located without importing scikit-learn (seconds of scipy imports), which only datagen needs.
    package = importlib.util.find_spec("sklearn")
    data_file = Path(package.origin).parent / "datasets" / "data" / "digits.csv.gz" if package else None
    loaded: dict[str, Any] = {}

    def split_index() -> dict[str, Any]:
        if not loaded:
            import sklearn.datasets
            from sklearn.model_selection import train_test_split

            digits = sklearn.datasets.load_digits()
            labels = digits.target.astype(np.int64)
            s = spec.source
            rest, test = train_test_split(np.arange(len(labels)), test_size=s.test_fraction,
                                          random_state=s.split_seed, stratify=labels)
            train, evaluation = train_test_split(rest, test_size=s.eval_fraction / (1 - s.test_fraction),
                                                 random_state=s.split_seed, stratify=labels[rest])
            loaded.update(images=digits.images.astype(np.int64), labels=labels,
                          index={"train": np.sort(train), "eval": np.sort(evaluation), "test": np.sort(test)})
        return loaded

    def read(split: str) -> Arrays:
        data = split_index()
        chosen = data["index"][split][: spec.max_examples or None]
        return check_images(spec, data["images"][chosen], data["labels"][chosen],
                            lambda i: f"sklearn digits image {chosen[i]}")

    return ImageSourcePlan("sklearn", "sklearn:digits", [data_file] if data_file and data_file.is_file() else [], read)


# ----------------------------------------------------------------------------- hub

def _hub_split(data, hub, split: str):
    """data[name], or data[name].select(range(a, b)) for a sliced name such as 'train[:45000]'."""
    spelled = hub.splits[split]
    match = _SLICED.match(spelled)
    name = match.group(1) if match else spelled
    if name not in data:
        raise SpecError(f"hub dataset '{hub.dataset}' has no split '{name}' (it has: {', '.join(data)})",
                        field=f"problem.source.hub.splits.{split}")
    dataset = data[name]
    if match and match.group(2) is not None:
        start = int(match.group(2) or 0)
        stop = int(match.group(3)) if match.group(3) else len(dataset)
        start, stop, _ = slice(start, stop).indices(len(dataset))
        dataset = dataset.select(range(start, stop))
    return dataset, spelled


def _hub_reader(spec: _ImageProblem) -> Callable[[str], Arrays]:
    loaded = {}

    def read(split: str) -> Arrays:
        from runner.problems.hub import load_hub_dataset

        hub = spec.source.hub
        if "data" not in loaded:
            loaded["data"] = load_hub_dataset(hub)
        dataset, spelled = _hub_split(loaded["data"], hub, split)
        wanted = [hub.image_field] + ([hub.target_field] if needs_labels(spec) else [])
        missing = [f for f in wanted if f not in dataset.column_names]
        if missing:
            raise SpecError(f"hub dataset '{hub.dataset}' split '{spelled}' has no field(s) {missing} (it has: "
                            f"{', '.join(dataset.column_names)})", field="problem.source.hub")
        if spec.max_examples:
            dataset = dataset.select(range(min(spec.max_examples, len(dataset))))
        where = lambda i: f"hub dataset '{hub.dataset}' split '{spelled}' record {i + 1}"  # noqa: E731
        images = []
        for i, image in enumerate(dataset[hub.image_field]):
            pixels = np.asarray(image)
            pixels = pixels.reshape(*pixels.shape[:2], -1) if pixels.ndim >= 2 else pixels
            if pixels.shape != tuple(spec.image_shape):
                raise ImageError(f"{where(i)}: image of shape {list(pixels.shape)}, expected "
                                 f"{list(spec.image_shape)} (problem.image_shape)")
            images.append(pixels)
        labels = np.asarray(dataset[hub.target_field]) if needs_labels(spec) else None
        return check_images(spec, np.stack(images), labels, where)

    return read
