"""Perceiver: Fourier position features, one hparams shape for pixels and log-mel frames, and its
CI recipes trained end to end (digits images; one-digit FSDD utterances from a made-up corpus)."""

import json

import pytest
import torch

from runner import api
from runner.models.perceiver import AudioPerceiver, build, fourier_features, grid_positions
from runner.models.perceiver_hparams import PerceiverHparams
from runner.problems.images import ImageDataInfo
from runner.problems.speech import SpeechDataInfo

from tests.test_speech_spoken_digits import make_fsdd

TINY = dict(num_latents=4, hidden_size=16, filter_size=32, num_heads=2, num_self_attention_layers=1,
            num_blocks=2, num_frequency_bands=3, layer_prepostprocess_dropout=0.0)


def test_fourier_features_of_a_grid():
    positions = grid_positions((2, 3))
    assert positions.tolist() == [[-1, -1], [-1, 0], [-1, 1], [1, -1], [1, 0], [1, 1]]
    features = fourier_features(positions, num_bands=3, max_frequency=6.0)
    assert features.shape == (6, 2 * 7)
    # per axis: x, sin(pi f x), cos(pi f x) with f = 1, 2, 3 (linspace(1, max/2, bands))
    assert features[1, 7:].tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0])  # x = 0 on axis 2
    half = fourier_features(torch.tensor([[0.5]]), num_bands=3, max_frequency=6.0)[0]
    assert half.tolist() == pytest.approx([0.5, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0], abs=1e-6)


def test_one_hparams_shape_builds_for_images_and_audio():
    hp = PerceiverHparams(**TINY)
    images = build(hp, ImageDataInfo(input_vocab_size=0, target_vocab_size=10, input_kind="pixels",
                                     image_shape=(8, 8, 1), levels=17, target_pad_id=-1))
    logits = images({"inputs": torch.randint(0, 17, (3, 8, 8, 1), dtype=torch.uint8)}).logits
    assert logits.shape == (3, 10)
    audio = build(hp, SpeechDataInfo(input_vocab_size=0, target_vocab_size=13, input_kind="features", feature_size=40))
    assert isinstance(audio, AudioPerceiver)
    batch = {"inputs": torch.randn(2, 30, 40), "input_lengths": torch.tensor([30, 12]),
             "targets": torch.tensor([[5, 1], [7, 1]])}
    out = audio.eval()(batch).logits
    assert out.shape == (2, 2, 13)
    # frames past input_lengths are masked out of the cross-attention: changing them changes nothing
    changed = dict(batch, inputs=batch["inputs"].clone())
    changed["inputs"][1, 12:] = 100.0
    assert torch.allclose(audio(changed).logits, out, atol=1e-5)
    changed["inputs"][1, :12] = 100.0  # the real frames do count
    assert not torch.allclose(audio(changed).logits[1], out[1])
    with pytest.raises(ValueError, match="max_output_positions"):
        audio(dict(batch, targets=torch.ones(2, 17, dtype=torch.long)))
    with pytest.raises(ValueError, match="input_kind is 'tokens'"):
        build(hp, SpeechDataInfo(input_vocab_size=5, target_vocab_size=5))


@pytest.mark.slow
def test_perceiver_digits_ci_recipe_trains(tmp_path):
    experiment = api.resolve("catalog/recipes/perceiver_digits_cpu_ci.yaml", [])
    final = api.train(experiment, str(tmp_path / "run"), str(tmp_path / "data"), verbose=False)
    assert final["steps"] == 10 and 0 <= final["accuracy"] <= 1
    assert json.loads((tmp_path / "run" / "final_metrics.json").read_text()) == pytest.approx(final)


@pytest.mark.slow
def test_perceiver_spoken_digits_ci_recipe_trains(tmp_path):
    fsdd = make_fsdd(tmp_path / "fsdd", speakers=("alice", "bob", "theo"), takes=3)
    experiment = api.resolve("catalog/recipes/perceiver_spoken_digits_cpu_ci.yaml", [
        f"problem.source.path={fsdd}", "problem.utterances.train=30", "problem.utterances.eval=4",
        "problem.utterances.test=4", "problem.utterances.eval_takes_per_digit=1"])
    final = api.train(experiment, str(tmp_path / "run"), str(tmp_path / "data"), verbose=False)
    assert final["steps"] == 10 and 0 <= final["accuracy"] <= 1 and "wer" not in final
