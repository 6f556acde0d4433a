"""Specs of the image families: classification and autoregressive generation. Torch-free.

Where images come from (`source`), in the text families' order: a local folder when
`source.path` exists (npz arrays or class-named folders of PNGs), else a hub dataset
(`source.hub`); or a small dataset bundled with scikit-learn (`source.sklearn`, no download).
Every image must have `image_shape` and intensities in [0, levels); one that does not is an
error naming its file and index.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runner.problems.text_spec import HubSource, SplitName, _require_all_splits
from runner.specs.base import Spec
from runner.specs.problem_base import ProblemSpec


class ImageHubSource(HubSource):
    """A hub image dataset. Split names may slice, e.g. 'train[:45000]' / 'train[45000:]' to carve
    an eval split out of a dataset that has only train and test (CIFAR-10, MNIST)."""

    target_field: str = Field("label", description="Field holding the class id (classification only).")
    image_field: str = Field("img", description="Field holding the image ('img' for cifar10, 'image' for mnist).")


class ImageSource(Spec):
    """A local folder (tried first when `path` exists), a hub dataset (the fallback), or a
    scikit-learn bundled dataset."""

    path: str | None = Field(
        None, description="Local folder; relative paths resolve against the working directory, then the "
        "repository root. When it does not exist, `hub` is used.")
    format: Literal["npz", "png_folders"] = Field(
        "npz", description="npz: one .npz per split with x (uint8 [N, H, W] or [N, H, W, C]) and y ([N] class "
        "ids; optional for generation). png_folders: per split a folder with one sub-folder of PNG or JPEG "
        "files per class; class ids follow the sorted sub-folder names.")
    files: dict[SplitName, str] = Field(
        default_factory=lambda: {"train": "train.npz", "eval": "eval.npz", "test": "test.npz"},
        description="The file (npz) or folder (png_folders) of each split, relative to `path`.")
    hub: ImageHubSource | None = None
    sklearn: Literal["digits"] | None = Field(
        None, description="digits: scikit-learn's load_digits (1,797 8x8 images, intensities 0..16), split "
        "into train/eval/test by the fractions below, stratified by class.")
    eval_fraction: float = Field(0.1, gt=0, lt=1, description="sklearn: share of the images held out for eval.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="sklearn: share of the images held out for test.")
    split_seed: int = Field(1, ge=0, description="sklearn: seed of the stratified split.")

    @model_validator(mode="after")
    def _usable(self) -> "ImageSource":
        if self.sklearn is not None and (self.path is not None or self.hub is not None):
            raise ValueError("source.sklearn is a complete source; remove source.path and source.hub")
        if self.sklearn is None and self.path is None and self.hub is None:
            raise ValueError("source needs a local `path`, a `hub` dataset (or both), or `sklearn`")
        if self.eval_fraction + self.test_fraction >= 1:
            raise ValueError(f"eval_fraction + test_fraction ({self.eval_fraction} + {self.test_fraction}) "
                             "must leave images to train on (sum below 1)")
        _require_all_splits(self.files, "source.files")
        return self


class ImageAugmentation(Spec):
    """Random training-time transforms (eval and test images are never changed)."""

    random_crop_padding: int = Field(
        0, ge=0, description="Pad by this many zero pixels on each side, then crop back at a random offset "
        "(CIFAR's standard 4); 0 = off.")
    horizontal_flip: bool = Field(False, description="Mirror left-right with probability 1/2 (not for digits).")


class _ImageProblem(ProblemSpec):
    source: ImageSource
    image_shape: tuple[int, int, int] = Field(description="[height, width, channels] every image must have.")
    levels: int = Field(256, ge=2, le=256, description="Intensity levels: pixels are integers in [0, levels).")
    max_examples: int = Field(0, ge=0, description="Keep only the first N images of each split; 0 = all.")

    @model_validator(mode="after")
    def _positive_shape(self) -> "_ImageProblem":
        if min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be positive [height, width, channels], got {list(self.image_shape)}")
        return self


class ImageClassificationProblem(_ImageProblem):
    """Image -> class id; scored by accuracy (and top-5)."""

    family: Literal["image_classification"] = "image_classification"
    num_classes: int = Field(ge=2, description="Class ids are 0 .. num_classes - 1.")
    augmentation: ImageAugmentation = ImageAugmentation()


class ImageGenerationProblem(_ImageProblem):
    """Unconditional autoregressive generation: every sub-pixel is a `levels`-way categorical
    target, scored in bits per dimension."""

    family: Literal["image_generation"] = "image_generation"
