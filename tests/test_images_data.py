"""Image problems: scikit-learn digits, npz and PNG folders, the hub path, shape checks, augmentation."""

import time

import numpy as np
import pytest
import torch

from runner.problems import hub as hub_module
from runner.problems import images
from runner.problems.image_sources import ImageError
from runner.problems.image_spec import ImageClassificationProblem, ImageGenerationProblem
from runner.specs.errors import SpecError


def digits(**changes):
    data = dict(name="image_digits", family="image_classification", source={"sklearn": "digits"},
                image_shape=[8, 8, 1], levels=17, num_classes=10)
    data.update(changes)
    return ImageClassificationProblem.model_validate(data)


def test_sklearn_digits_splits(tmp_path):
    data = images.build(digits(), tmp_path)
    sizes = [len(data.split(s)) for s in ("train", "eval", "test")]
    assert sum(sizes) == 1797 and sizes[2] == 360 and sizes[1] == 180  # 20% test, 10% eval, stratified
    labels = data.split("test").labels
    assert np.bincount(labels, minlength=10).min() >= 35  # every class present in test
    info = data.info
    assert (info.image_shape, info.levels, info.target_vocab_size, info.target_pad_id) == ((8, 8, 1), 17, 10, -1)
    batch = data.collate([data.split("eval")[i] for i in range(5)])
    assert batch["inputs"].shape == (5, 8, 8, 1) and batch["inputs"].dtype == torch.uint8
    assert int(batch["inputs"].max()) <= 16 and batch["targets"].shape == (5,)
    assert images.build(digits(), tmp_path).folder == data.folder  # cached


def test_batches_count_images(tmp_path):
    data = images.build(digits(), tmp_path)
    plan = data.batch_plan("train", 100, 0, seed=1, epoch=0, shuffle=True)
    assert [len(b) for b in plan[:-1]] == [100] * (len(plan) - 1)
    assert sorted(i for b in plan for i in b) == list(range(len(data.split("train"))))
    assert plan == data.batch_plan("train", 100, 0, seed=1, epoch=0, shuffle=True)
    assert plan != data.batch_plan("train", 100, 0, seed=1, epoch=1, shuffle=True)


def test_augmentation_only_changes_training_images(tmp_path):
    data = images.build(digits(augmentation={"random_crop_padding": 2, "horizontal_flip": True}), tmp_path)
    evaluation = [data.split("eval")[i] for i in range(16)]
    assert torch.equal(data.collate(evaluation)["inputs"], torch.from_numpy(np.stack([e["pixels"] for e in evaluation])))
    train = [data.split("train")[i] for i in range(64)]
    torch.manual_seed(0)
    shifted = data.collate(train)["inputs"]
    original = torch.from_numpy(np.stack([e["pixels"] for e in train]))
    assert shifted.shape == original.shape and not torch.equal(shifted, original)
    assert (shifted.sum(dim=(1, 2, 3)) <= original.long().sum(dim=(1, 2, 3))).all()  # crops only lose ink


def test_generation_batches_are_all_targets(tmp_path):
    spec = ImageGenerationProblem.model_validate(dict(
        name="gen", family="image_generation", source={"sklearn": "digits"}, image_shape=[8, 8, 1], levels=17))
    data = images.build(spec, tmp_path)
    batch = data.collate([data.split("train")[i] for i in range(3)])
    assert list(batch) == ["targets"] and batch["targets"].shape == (3, 8, 8, 1)
    assert not data.info.has_inputs and data.info.target_vocab_size == 17


def npz_problem(folder, **changes):
    data = dict(name="npz_images", family="image_classification", source={"path": str(folder), "format": "npz"},
                image_shape=[4, 4, 3], levels=256, num_classes=3)
    data.update(changes)
    return ImageClassificationProblem.model_validate(data)


def write_npz(folder, shape=(4, 4, 3), n=6, bad_label=False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ("train", "eval", "test"):
        labels = np.arange(n) % 3
        if bad_label:
            labels[2] = 7
        np.savez(folder / f"{split}.npz", x=rng.integers(0, 256, (n, *shape), dtype=np.uint8), y=labels)
    return folder


def test_npz_folder(tmp_path):
    data = images.build(npz_problem(write_npz(tmp_path / "npz")), tmp_path / "cache")
    assert len(data.split("test")) == 6 and data.split("test")[4]["label"] == 1


def test_image_of_the_wrong_shape_names_the_file(tmp_path):
    folder = write_npz(tmp_path / "npz", shape=(5, 4, 3))
    with pytest.raises(ImageError, match=r"train\.npz image 0: image of shape \[5, 4, 3\], expected \[height, "
                                         r"width, channels\] = \[4, 4, 3\]"):
        images.build(npz_problem(folder), tmp_path / "cache")


def test_out_of_range_values_name_the_image(tmp_path):
    with pytest.raises(ImageError, match=r"train\.npz image 2: label 7 outside \[0, 2\]"):
        images.build(npz_problem(write_npz(tmp_path / "a", bad_label=True)), tmp_path / "cache")
    with pytest.raises(ImageError, match=r"intensities .* outside \[0, 15\]"):
        images.build(npz_problem(write_npz(tmp_path / "b"), levels=16), tmp_path / "cache")


def test_png_folders(tmp_path):
    from PIL import Image

    for split in ("train", "eval", "test"):
        for name in ("cat", "dog"):
            (tmp_path / "png" / split / name).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.full((4, 4), 40 * i, np.uint8)).save(tmp_path / "png" / split / name / f"{i}.png")
    spec = npz_problem(tmp_path / "png", source={"path": str(tmp_path / "png"), "format": "png_folders",
                                                 "files": {"train": "train", "eval": "eval", "test": "test"}},
                       image_shape=[4, 4, 1], num_classes=2)
    data = images.build(spec, tmp_path / "cache")
    assert [data.split("train")[i]["label"] for i in range(4)] == [0, 0, 1, 1]  # sorted class folders
    Image.fromarray(np.zeros((5, 4), np.uint8)).save(tmp_path / "png" / "test" / "dog" / "1.png")
    with pytest.raises(ImageError, match=r"test/dog/1\.png: image of shape \[5, 4\] \(height, width\), expected \[4, 4\]"):
        images.build(spec, tmp_path / "cache")


def test_hub_path_with_sliced_splits(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    repo = tmp_path / "cifar_like"
    repo.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 10), ("test", 4)):
        from PIL import Image

        rows = {"img": [Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)) for _ in range(n)],
                "label": [i % 3 for i in range(n)]}
        datasets.Dataset.from_dict(rows, features=datasets.Features(
            {"img": datasets.Image(), "label": datasets.Value("int64")})).to_parquet(str(repo / f"{split}.parquet"))
    spec = npz_problem(tmp_path / "absent", source={
        "path": str(tmp_path / "absent"),
        "hub": {"dataset": str(repo), "splits": {"train": "train[:7]", "eval": "train[7:]", "test": "test"}}})
    data = images.build(spec, tmp_path / "cache")
    assert [len(data.split(s)) for s in ("train", "eval", "test")] == [7, 3, 4]


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hub_module, "hub_endpoint", lambda: "https://127.0.0.1:9")
    spec = npz_problem(tmp_path, source={"hub": {"dataset": "uoft-cs/cifar10"}}, image_shape=[32, 32, 3])
    started = time.perf_counter()
    with pytest.raises(SpecError, match="the dataset hub is unreachable"):
        images.build(spec, tmp_path / "cache")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, b"not an image at all"])
def test_corrupt_png_is_one_located_spec_error(tmp_path, content):
    """Issue 12: a truncated or garbage image file is bad input (exit 2), naming the file."""
    from PIL import Image

    from runner.specs.errors import SpecError

    for split in ("train", "eval", "test"):
        for name in ("cat", "dog"):
            (tmp_path / "png" / split / name).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "png" / split / name / "0.png")
    (tmp_path / "png" / "train" / "cat" / "1.png").write_bytes(content)
    spec = npz_problem(tmp_path / "png", source={"path": str(tmp_path / "png"), "format": "png_folders",
                                                 "files": {"train": "train", "eval": "eval", "test": "test"}},
                       image_shape=[4, 4, 1], num_classes=2)
    with pytest.raises(SpecError, match=r"train/cat/1\.png: cannot read as an image"):
        images.build(spec, tmp_path / "cache")
