"""Sampling (runner/training/sampling.py): seeds reproduce, top_k=1 is greedy, top-p keeps the
nucleus of a known distribution, and image generation gives the same pixels cached or not."""

import numpy as np
import pytest
import torch

from runner.models import image_transformer
from runner.models.image_transformer_hparams import ImageTransformerHparams
from runner.training.decode import greedy_decode
from runner.training.sampling import filter_logits, sample, sample_images
from test_models_contract import batch, make


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = lambda p: torch.isfinite(filter_logits(probs.log(), top_p=p))[0].tolist()
    assert kept(0.5) == [True, False, False, False]
    assert kept(0.6) == [True, True, False, False]
    assert kept(0.8) == [True, True, False, False]
    assert kept(0.81) == [True, True, True, False]
    assert kept(1.0) == [True, True, True, True]
    assert kept(0.01) == [True, False, False, False]  # the most likely token always stays
    shuffled = probs[:, [2, 0, 3, 1]]  # the filter follows probability, not position
    assert torch.isfinite(filter_logits(shuffled.log(), top_p=0.6))[0].tolist() == [False, True, False, True]
    renormalised = filter_logits(probs.log(), top_p=0.6).softmax(-1)[0]
    torch.testing.assert_close(renormalised, torch.tensor([0.625, 0.375, 0.0, 0.0]))


def test_top_k_and_temperature():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    assert torch.isfinite(filter_logits(logits, top_k=2))[0].tolist() == [False, True, True, False]
    torch.testing.assert_close(filter_logits(logits, temperature=2.0), logits / 2)


@pytest.mark.parametrize("name", ["transformer", "lm_plain", "lm_prepend_full", "lstm_luong"])
def test_seed_reproduces_and_top_k_1_is_greedy(name):
    model, data = make(name), batch()
    first = sample(model, data, max_length=8, seed=3, num_samples=2)
    assert first == sample(model, data, max_length=8, seed=3, num_samples=2)
    assert len(first) == 6
    assert first != sample(model, data, max_length=8, seed=4, num_samples=2)
    assert sample(model, data, max_length=8, top_k=1, seed=5) == greedy_decode(model, data, 8)
    assert sample(model, data, max_length=8, top_p=1e-6, seed=6) == greedy_decode(model, data, 8)
    assert sample(model, data, max_length=8, seed=7, cached=False) == sample(model, data, max_length=8, seed=7)


def test_a_plain_language_model_samples_from_a_row_count():
    model = make("lm_plain")
    rows = {"targets": torch.zeros(2, 1, dtype=torch.long)}
    samples = sample(model, rows, max_length=6, num_samples=3, seed=0)
    assert len(samples) == 6 and samples == sample(model, rows, max_length=6, num_samples=3, seed=0)
    assert sample(model, rows, max_length=6, top_k=1) == greedy_decode(model, {"inputs": torch.zeros(2, 1).long()}, 6)


def test_a_prompt_is_forced_then_continued():
    model, data = make("lm_plain"), batch()
    greedy = sample(model, data, max_length=8, top_k=1)
    prompt = greedy[0][:2]  # greedy's own first two tokens: greedy from there must go on the same way
    first_row = {k: v[:1] for k, v in data.items()}
    continued = sample(model, first_row, max_length=6, top_k=1, prompt=prompt)
    assert continued[0] == greedy[0][2:8]
    assert continued != sample(model, first_row, max_length=6, top_k=1)  # this model's greedy output is not periodic
    drawn = sample(model, data, max_length=5, seed=2, num_samples=2, prompt=[3, 4])  # cached == uncached
    assert drawn == sample(model, data, max_length=5, seed=2, num_samples=2, prompt=[3, 4], cached=False)


def test_bad_settings_say_what_to_write():
    model, data = make("lm_plain"), batch()
    for bad, message in [({"temperature": 0.0}, "temperature"), ({"top_k": -1}, "top_k"), ({"top_p": 0.0}, "top_p"),
                         ({"top_p": 1.5}, "top_p"), ({"num_samples": 0}, "num_samples")]:
        with pytest.raises(ValueError, match=message):
            sample(model, data, max_length=4, **bad)


def image_model(block_length):
    torch.manual_seed(0)
    hp = ImageTransformerHparams(hidden_size=16, filter_size=32, num_heads=2, num_decoder_layers=2,
                                 block_length=block_length)
    info = type("Info", (), dict(image_shape=(3, 2, 3), levels=5, has_inputs=False, input_kind="pixels"))()
    return image_transformer.build(hp, info).eval().double()


@pytest.mark.parametrize("block_length", [4, 7, 64])  # local windows that split the 18 sub-pixels, and none
def test_image_generation_cached_equals_uncached(block_length):
    model = image_model(block_length)
    cached = sample_images(model, 3, seed=1, batch_size=2)
    assert cached.shape == (3, 3, 2, 3) and cached.dtype == np.int64 and 0 <= cached.min() and cached.max() < 5
    np.testing.assert_array_equal(cached, sample_images(model, 3, seed=1, batch_size=2, cached=False))
    np.testing.assert_array_equal(sample_images(model, 2, top_k=1), sample_images(model, 2, top_k=1, cached=False))
    assert not np.array_equal(cached, sample_images(model, 3, seed=2, batch_size=2))
