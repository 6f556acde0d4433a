"""A small MNIST in the hub's on-disk layout (ylecun/mnist), made from scikit-learn's digits.

The hub's copy of MNIST is one parquet file per split under `mnist/`, with an `image` column
(PNG bytes, the `datasets` Image feature) and a `label` column (ClassLabel 0-9), and a README
whose YAML header names the files of each split. The problem's real hub loader reads such a
folder as it reads the hub, so tests exercise the same code without the network. The images
are sklearn's 8x8 digits (17 levels) scaled to 28x28 grayscale with 256 levels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

README = """---
dataset_info:
  config_name: mnist
configs:
- config_name: mnist
  data_files:
  - split: train
    path: mnist/train-*
  - split: test
    path: mnist/test-*
  default: true
---
MNIST in the hub's layout, made by tests/mnist_hub_layout.py from scikit-learn's digits.
"""


def write_mnist_hub_layout(folder: Path, train: int = 300, test: int = 60) -> Path:
    import datasets
    import sklearn.datasets
    from PIL import Image

    digits = sklearn.datasets.load_digits()
    images = [Image.fromarray((image * 255 / 16).astype(np.uint8)).resize((28, 28), Image.BILINEAR)
              for image in digits.images[: train + test]]
    labels = digits.target[: train + test].tolist()
    features = datasets.Features({"image": datasets.Image(),
                                  "label": datasets.ClassLabel(names=[str(d) for d in range(10)])})
    (folder / "mnist").mkdir(parents=True, exist_ok=True)
    for split, chosen in (("train", slice(0, train)), ("test", slice(train, train + test))):
        part = datasets.Dataset.from_dict({"image": images[chosen], "label": labels[chosen]}, features=features)
        part.to_parquet(str(folder / "mnist" / f"{split}-00000-of-00001.parquet"))
    (folder / "README.md").write_text(README)
    return folder
