"""`runner predict` from the run folder alone: text, image and audio runs trained here for a few steps.

Each run is trained in-process into a temp folder, then its data cache is deleted, so the
predictions can only come from what the run folder holds (data_assets/, experiment.yaml,
checkpoints)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from runner import api
from runner.cli import main
from tests.conftest import TINY_OVERRIDES
from tests.test_speech_spoken_digits import make_fsdd


def _train(tmp_path, recipe, overrides):
    experiment = api.resolve(recipe, overrides)
    run_dir, data_dir = tmp_path / "run", tmp_path / "data"
    api.train(experiment, str(run_dir), str(data_dir), verbose=False)
    shutil.rmtree(data_dir)  # predict must not need the data cache
    return run_dir


@pytest.fixture(autouse=True)
def _empty_data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_DATA_DIR", str(tmp_path / "no-cache-here"))


def _predict(capsys, *argv):
    capsys.readouterr()
    status = main(["predict", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reverse")
    return _train(tmp, "catalog/recipes/reverse_transformer_cpu.yaml", TINY_OVERRIDES + ["train.steps=5"])


def test_text_run_decodes_files_and_stdin(reverse_run, tmp_path, capsys, monkeypatch):
    import io

    assert (reverse_run / "data_assets" / "meta.json").is_file()
    lines = ["0 1 1", "1 0 0 1"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    status, out, _ = _predict(capsys, reverse_run, tmp_path / "in.txt", "--format", "jsonl")
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == lines
    assert all(set(r["output"].split()) <= {"0", "1"} for r in rows)
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    status, plain, _ = _predict(capsys, reverse_run)
    assert status == 0 and plain.splitlines() == [r["output"] for r in rows]
    monkeypatch.setattr("sys.stdin", io.StringIO("1 1\n\n"))
    status, typed, _ = _predict(capsys, reverse_run, "--interactive")
    assert status == 0 and len(typed.splitlines()) == 1


def test_text_run_bad_inputs_exit_2_with_one_message(reverse_run, tmp_path, capsys, monkeypatch):
    import io

    status, _, err = _predict(capsys, reverse_run, tmp_path / "missing.txt")
    assert status == 2 and "missing.txt: no such input file" in err
    (tmp_path / "bad.txt").write_text("0 1\n0 7\n")
    status, _, err = _predict(capsys, reverse_run, tmp_path / "bad.txt")
    assert status == 2 and "bad.txt: line 2:" in err and "unknown symbol(s) ['7']" in err
    status, _, err = _predict(capsys, tmp_path, "x")
    assert status == 2 and "no experiment.yaml here" in err
    status, _, err = _predict(capsys, reverse_run, "--top-p", "0")
    assert status == 2 and "--top-p" in err


def test_decode_refuses_a_non_text_run_without_a_traceback(tmp_path, capsys):
    run = _train(tmp_path, "catalog/recipes/digits_cpu_ci.yaml", ["train.steps=2", "train.eval_every=2"])
    (tmp_path / "in.txt").write_text("x\n")
    status = main(["decode", str(run), "--from-file", str(tmp_path / "in.txt"), "--to-file", str(tmp_path / "o")])
    assert status == 2 and "runner predict" in capsys.readouterr().err


def test_image_run_labels_files_with_probabilities(tmp_path, capsys):
    from PIL import Image

    run = _train(tmp_path, "catalog/recipes/digits_cpu_ci.yaml", ["train.steps=4", "train.eval_every=2"])
    array = tmp_path / "seven.npy"
    np.save(array, np.random.default_rng(0).integers(0, 17, (8, 8, 1)))
    png = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)).save(png)
    status, out, err = _predict(capsys, run, array, png, "--top", "3", "--format", "jsonl")
    assert status == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in rows] == [str(array), str(png)]
    for row in rows:
        probs = [label["probability"] for label in row["labels"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
        assert {label["label"] for label in row["labels"]} <= {str(d) for d in range(10)}
    assert "resized from 16x16 to 8x8" in err
    (tmp_path / "broken.png").write_bytes(b"not an image")
    status, _, err = _predict(capsys, run, tmp_path / "broken.png")
    assert status == 2 and "broken.png: cannot read as an image" in err


def test_audio_run_transcribes_wav_files(tmp_path, capsys):
    from runner.problems.audio import write_wav

    fsdd = make_fsdd(tmp_path / "fsdd", speakers=("alice", "bob", "theo"), takes=3)
    run = _train(tmp_path, "catalog/recipes/spoken_digits_cpu_ci.yaml", [
        f"problem.source.path={fsdd}", "problem.utterances.train=30", "problem.utterances.eval=4",
        "problem.utterances.test=4", "problem.utterances.eval_takes_per_digit=1", "train.steps=3",
        "train.eval_every=3", "decode.max_examples=2"])
    wavs = sorted(fsdd.glob("*_theo_0.wav"))[:2]
    status, out, err = _predict(capsys, run, *wavs)
    assert status == 0, err
    lines = out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(w) for w in wavs]
    vocabulary = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "<unk>"}
    assert all(set(line.split("\t")[1].split()) <= vocabulary for line in lines)
    write_wav(tmp_path / "fast.wav", np.zeros(800), 16000)
    status, _, err = _predict(capsys, run, tmp_path / "fast.wav")
    assert status == 2 and "fast.wav: sampled at 16000 Hz, but this problem expects 8000 Hz" in err


def _lm_run(tmp_path):
    import gzip

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    words = ["a dog runs", "two cats sleep", "a man rides a bike", "the girl smiles"]
    for name, count in (("train", 200), ("val", 20), ("test_2016_flickr", 20)):
        with gzip.open(corpus / f"{name}.en.gz", "wt", encoding="utf-8") as f:
            f.write("".join(words[i % len(words)] + "\n" for i in range(count)))
    return _train(tmp_path, "catalog/recipes/lm_multi30k_ci.yaml", [
        f"problem.source.path={corpus}", "problem.vocab.size=270", "problem.max_examples=0",
        "hparams.hidden_size=32", "hparams.filter_size=32", "hparams.batch_size=512", "train.steps=3",
        "train.eval_every=3", "train.eval_steps=1"])


def test_language_model_samples_with_a_seed_and_continues_prompts(tmp_path, capsys):
    run = _lm_run(tmp_path)
    first = _predict(capsys, run, "--num-samples", "3", "--seed", "7", "--max-length", "12", "--top-k", "20")
    again = _predict(capsys, run, "--num-samples", "3", "--seed", "7", "--max-length", "12", "--top-k", "20")
    assert first[0] == 0, first[2]
    assert first[1] == again[1] and len(first[1].split("\n")) == 4  # same seed, same samples
    (tmp_path / "prompts.txt").write_text("a dog\n")
    status, out, err = _predict(capsys, run, tmp_path / "prompts.txt", "--num-samples", "2", "--seed", "1",
                                "--max-length", "5", "--temperature", "0.7", "--top-p", "0.9")
    assert status == 0, err
    rows = [line.split("\t") for line in out.rstrip("\n").split("\n")]
    assert len(rows) == 2 and all(src == "a dog" and text.startswith("a dog") for src, text in rows)
    status, greedy, _ = _predict(capsys, run, tmp_path / "prompts.txt", "--num-samples", "2", "--temperature", "0",
                                 "--max-length", "5")
    assert status == 0 and len(set(greedy.rstrip("\n").split("\n"))) == 1  # temperature 0 is greedy: both samples agree


def test_image_generation_writes_png_samples_and_never_replaces_them(tmp_path, capsys):
    from PIL import Image

    run = _train(tmp_path, "catalog/recipes/digits_gen_cpu_ci.yaml", ["train.steps=2", "train.eval_every=2"])
    out_dir = tmp_path / "samples"
    status, out, err = _predict(capsys, run, "--num-samples", "2", "--seed", "3", "--output-dir", out_dir)
    assert status == 0, err
    files = out.splitlines()
    assert [f.rsplit("/", 1)[-1] for f in files] == ["sample_0000.png", "sample_0001.png"]
    with Image.open(files[0]) as image:
        assert image.size == (8, 8) and image.mode == "L"
    status, out, _ = _predict(capsys, run, "--output-dir", out_dir)
    assert status == 0 and out.strip().endswith("sample_0002.png")


_NO_DATA_CODE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import load
bundle = load.load(sys.argv[1])
{body}
data_code = sorted(m for m in sys.modules if m.startswith(("runner.problems", "runner.training")))
print(json.dumps({{"out": out, "data_code": data_code}}))
"""


def _in_subprocess(bundle, body):
    import subprocess
    import sys

    script = _NO_DATA_CODE.format(body=body)
    done = subprocess.run([sys.executable, "-c", script, str(bundle)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_export_round_trip_text_without_data_code(reverse_run, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    status = main(["export", str(reverse_run), "--to", str(bundle), "--no-mlflow"])
    assert status == 0 and (bundle / "bundle.json").is_file() and (bundle / "load.py").is_file()
    lines = ["0 1 1", "1 1 0 0 1"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    status, expected, _ = _predict(capsys, reverse_run, tmp_path / "in.txt", "-o", "decode.beam_size=1")
    logits = ("import torch\nids = torch.tensor([bundle.input_vocab.encode(l) + [1] for l in {lines!r}])\n"
              "steps = bundle.model.decode(bundle.model.encode({{'inputs': ids}}), torch.zeros(2, 3, dtype=torch.long))\n")
    got = _in_subprocess(bundle, logits.format(lines=lines[:1] * 2)
                         + f"out = [bundle.translate({lines!r}), steps.tolist()]")
    assert got["data_code"] == []
    assert got["out"][0] == expected.split("\n")[:-1]
    from runner.inference import load_run

    loaded = load_run(str(reverse_run))
    import torch

    ids = torch.tensor([list(loaded.data.input_vocab.encode_batch(lines[:1])[0]) + [1]] * 2)
    with torch.no_grad():
        steps = loaded.model.decode(loaded.model.encode({"inputs": ids}), torch.zeros(2, 3, dtype=torch.long))
    assert np.allclose(got["out"][1], steps.numpy(), atol=1e-6)
    status = main(["export", str(reverse_run), "--to", str(bundle), "--no-mlflow"])
    assert status == 2 and "never replaced" in capsys.readouterr().err


def test_export_image_classifier_as_program_and_mlflow_model(tmp_path, capsys, monkeypatch):
    import mlflow
    import mlflow.pyfunc
    import torch

    from runner.tracking.runs import TrackedRun, _remember

    run = _train(tmp_path, "catalog/recipes/digits_cpu_ci.yaml", ["train.steps=2", "train.eval_every=2"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("export-test")).info.run_id
    client.set_terminated(run_id)
    _remember(str(run), TrackedRun(run_id, uri, "", resumed=False))
    bundle = tmp_path / "bundle"
    assert main(["export", str(run), "--to", str(bundle)]) == 0
    assert "logged to MLflow as models:/" in capsys.readouterr().err
    pixels = np.random.default_rng(0).integers(0, 17, (3, 8, 8, 1)).astype(np.uint8)
    np.save(tmp_path / "one.npy", pixels[0])
    _, predicted, _ = _predict(capsys, run, tmp_path / "one.npy", "--format", "jsonl", "--top", "10")
    expected = {row["label"]: row["probability"] for row in json.loads(predicted)["labels"]}
    # The exported program alone: no runner import at all.
    program = torch.export.load(str(bundle / "model.pt2")).module()
    with torch.no_grad():
        probs = torch.softmax(program(torch.from_numpy(pixels)), dim=-1)
    assert {str(i): round(float(p), 6) for i, p in enumerate(probs[0])} == pytest.approx(expected, abs=1e-5)
    got = _in_subprocess(bundle, f"import numpy as np\nout = bundle.classify(np.array({pixels.tolist()})).tolist()")
    assert got["data_code"] == [] and np.allclose(got["out"], probs.detach().numpy(), atol=1e-5)
    assert client.get_run(run_id).info.status == "FINISHED"
    mlflow.set_tracking_uri(uri)
    served = mlflow.pyfunc.load_model(client.search_logged_models([client.get_run(run_id).info.experiment_id])[0].model_uri
                                      if hasattr(client, "search_logged_models") else f"runs:/{run_id}/model")
    assert np.allclose(served.predict(pixels), probs.detach().numpy(), atol=1e-5)
