"""README "Your own data": every problem YAML shown there validates and trains for a few steps.

The YAML blocks are read from the README itself (each starts with a `# mycatalog/<kind>/<name>.yaml`
line), so the page cannot drift from what works. Small data files in each documented layout are
generated here; the hub example reads a local folder in hub layout (`datasets` loads one the way
it loads a hub name), since tests have no network.
"""

import json
import re
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from runner import api
from runner.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["train.steps=2", "train.eval_every=2", "train.eval_steps=1", "decode.beam_size=1",
        "decode.max_examples=2", "decode.extra_length=3"]
# The README's table: family -> (model, hparams set), and what shrinks each to seconds.
MODELS = {
    "text2text": ("transformer", "transformer_tiny", ["hparams.hidden_size=16", "hparams.filter_size=32",
                                                      "hparams.batch_size=256"]),
    "image_classification": ("resnet", "resnet_digits", ["hparams.batch_size=4", "hparams.filter_sizes=[4,4,8]"]),
    "speech": ("speech_transformer", "speech_transformer_digits",
               ["hparams.hidden_size=16", "hparams.filter_size=32", "hparams.num_heads=2",
                "hparams.num_encoder_layers=1", "hparams.num_decoder_layers=1", "hparams.subsampling_channels=4",
                "hparams.batch_size=2000"]),
}
PAIRS = [("how are you", "fine thanks"), ("good morning", "hello there"), ("see you", "bye now")] * 3


def readme_blocks() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Your own data\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(# mycatalog/[a-z]+/[a-z_]+\.yaml)\n(.*?)```", section, flags=re.S)
    return {header[2:]: body for header, body in blocks}


def _write_pairs(folder: Path) -> None:
    folder.mkdir(parents=True)
    for split in ("train", "valid", "test"):
        (folder / f"{split}.src").write_text("".join(f"{a}\n" for a, _ in PAIRS))
        (folder / f"{split}.tgt").write_text("".join(f"{b}\n" for _, b in PAIRS))


def _write_records(folder: Path, fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"question": a, "answer": b} for a, b in PAIRS]
    for split in ("train", "valid", "test"):
        if fmt == "jsonl":
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif fmt == "csv":
            (folder / f"{split}.csv").write_text("question,answer\n" + "".join(f"{a},{b}\n" for a, b in PAIRS))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), folder / f"{split}.parquet")


def _write_images(folder: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "eval", "test"):
        for label, shade in (("cat", 40), ("dog", 200)):
            (folder / split / label).mkdir(parents=True)
            for i in range(3):
                pixels = np.clip(rng.normal(shade, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
                suffix = ".jpg" if i == 2 else ".png"  # JPEG files are read too
                Image.fromarray(pixels).save(folder / split / label / f"{i}{suffix}")


def _write_arrays(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "eval", "test"):
        np.savez(folder / f"{split}.npz", x=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
                 y=np.arange(12) % 10)


def _write_speech(folder: Path) -> None:
    rate = 16000
    for split in ("train", "dev", "test"):
        chapter = folder / split / "spk1" / "1"
        chapter.mkdir(parents=True)
        lines = []
        for i, (word, hz) in enumerate((("low", 220.0), ("high", 880.0), ("low", 220.0), ("high", 880.0))):
            utterance = f"spk1-1-{i:04d}"
            t = np.arange(int(0.3 * rate)) / rate
            samples = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
            with wave.open(str(chapter / f"{utterance}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(samples.tobytes())
            lines.append(f"{utterance} {word}\n")
        (chapter / "spk1-1.trans.txt").write_text("".join(lines))


def _write_hub_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    rows = "".join(json.dumps({"de": a, "en": b}) + "\n" for a, b in PAIRS)
    for split in ("train", "validation", "test"):
        (folder / f"{split}.jsonl").write_text(rows)


DATA = {  # problem name -> (writer, overrides the test adds)
    "my_pairs": (lambda d: _write_pairs(d / "my_pairs"), ["problem.vocab.size=270"]),  # BPE: what 9 lines support
    "my_records": (lambda d: _write_records(d / "my_records", "jsonl"), []),
    "my_records (csv)": (lambda d: _write_records(d / "my_records", "csv"),
                         ["problem.source.format=csv", "problem.source.files.train=train.csv",
                          "problem.source.files.eval=valid.csv", "problem.source.files.test=test.csv"]),
    "my_records (parquet)": (lambda d: _write_records(d / "my_records", "parquet"),
                             ["problem.source.format=parquet", "problem.source.files.train=train.parquet",
                              "problem.source.files.eval=valid.parquet", "problem.source.files.test=test.parquet"]),
    "my_images": (lambda d: _write_images(d / "my_images"), []),
    "my_arrays": (lambda d: _write_arrays(d / "my_arrays"), []),
    "my_speech": (lambda d: _write_speech(d / "my_speech"), []),
    "my_hub_pairs": (lambda d: _write_hub_folder(d / "hub_copy"), ["problem.source.hub.dataset=data/hub_copy",
                                                                      "problem.vocab.size=270"]),
}


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for relative, body in readme_blocks().items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    return tmp_path


def test_the_readme_shows_every_kind_of_data():
    blocks = readme_blocks()
    problems = {Path(p).stem for p in blocks if "/problems/" in p}
    assert problems == {name.split(" ")[0] for name in DATA}
    assert "mycatalog/recipes/my_pairs_transformer.yaml" in blocks
    text = (ROOT / "README.md").read_text()
    for family, (model, hparams, _) in MODELS.items():
        assert f"`{model}`" in text and f"`{hparams}`" in text, family


def test_every_example_validates(catalog, capsys):
    assert main(["validate", "mycatalog"]) == 0, capsys.readouterr().err
    assert f"{len(readme_blocks())} spec files valid" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(DATA))
def test_every_example_trains_a_few_steps(catalog, example):
    name = example.split(" ")[0]
    writer, extra = DATA[example]
    writer(catalog / "data")
    family = yaml.safe_load((catalog / "mycatalog" / "problems" / f"{name}.yaml").read_text())["family"]
    model, hparams, shrink = MODELS[family]
    recipe = catalog / "mycatalog" / "recipes" / "my_pairs_transformer.yaml"
    experiment = api.resolve(str(recipe), [f"problem={name}", f"model={model}", f"hparams={hparams}",
                                           *TINY, *shrink, *extra])
    metrics = api.train(experiment, str(catalog / "runs" / name), verbose=False)
    assert metrics["steps"] == 2
    assert (catalog / "runs" / name / "final_metrics.json").is_file()


@pytest.mark.slow
def test_from_own_files_to_a_prediction(catalog, capsys):
    """The closing walkthrough: validate, dry run, run, predict on a file of one's own sentences."""
    _write_pairs(catalog / "data" / "my_pairs")
    recipe = "mycatalog/recipes/my_pairs_transformer.yaml"
    shrink = [a for o in TINY + MODELS["text2text"][2] + DATA["my_pairs"][1] for a in ("-o", o)]
    assert main(["run", recipe, "--dry-run", *shrink]) == 0
    assert "local files in" in capsys.readouterr().out
    assert main(["run", recipe, "--in-process", "--output-dir", "runs/mine", *shrink]) == 0
    (catalog / "my_sentences.txt").write_text("how are you\nsee you\n")
    capsys.readouterr()
    assert main(["predict", "runs/mine", "my_sentences.txt"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
