"""Incremental decoding (a key/value cache, recurrent state) changes nothing but the speed:
for every autoregressive model, on fixed random weights, the cached step logits equal the
uncached decode(memory, prefix) logits, and greedy / beam search give identical outputs."""

import pytest
import torch

from runner.models import image_transformer, speech_transformer
from runner.models.image_transformer_hparams import ImageTransformerHparams
from runner.models.speech_transformer_hparams import SpeechTransformerHparams
from runner.training.decode import beam_search, greedy_decode, supports_incremental
from test_models_contract import BUILDERS, TINY, VOCAB, batch, data_info, make


def speech_model():
    torch.manual_seed(0)
    info = data_info(input_kind="features")
    info.feature_size = 8
    hp = SpeechTransformerHparams(**TINY, num_encoder_layers=2, num_decoder_layers=2, subsampling_channels=4)
    return speech_transformer.build(hp, info).eval()


def speech_batch():
    generator = torch.Generator().manual_seed(2)
    return {"inputs": torch.randn(3, 20, 8, generator=generator), "input_lengths": torch.tensor([20, 13, 7]),
            "targets": batch()["targets"]}


CASES = {name: (lambda name=name: make(name), batch) for name in BUILDERS}
CASES["speech_transformer"] = (speech_model, speech_batch)


@pytest.mark.parametrize("name", list(CASES))
def test_cached_step_logits_equal_uncached(name):
    build, make_batch = CASES[name]
    model, data = build(), make_batch()
    assert supports_incremental(model)
    with torch.no_grad():
        memory = model.encode({k: v for k, v in data.items() if k != "targets"})
        prefix = torch.nn.functional.pad(data["targets"], (1, 0))  # start symbol + every target
        full = model.decode(memory, prefix)
        logits, state = model.start_decoding(memory)
        steps = [logits]
        for t in range(1, prefix.shape[1]):
            logits, state = model.decode_step(state, prefix[:, t])
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("beam_size", [1, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_cached_and_uncached_decoding_are_identical(name, beam_size):
    build, make_batch = CASES[name]
    model, data = build().double(), make_batch()  # float64: no near-tie can flip an argmax
    # EOS made less likely, so hypotheses grow long and beams reorder their caches many times.
    model.softmax.register_forward_hook(lambda module, args, out: out - 3.0 * (torch.arange(out.shape[-1]) == 1))
    if "inputs" in data and data["inputs"].is_floating_point():
        data["inputs"] = data["inputs"].double()
    if beam_size == 1:
        cached, uncached = (greedy_decode(model, data, 12, cached=c) for c in (True, False))
    else:
        cached, uncached = (beam_search(model, data, beam_size, 0.6, 12, cached=c) for c in (True, False))
    assert cached == uncached
    assert sum(len(ids) > 3 for ids in cached) >= 2  # a test that decodes nothing proves nothing


# EOS logit shifts under which these tiny random models end sentences at different steps.
LEAVING = {"transformer": 1.0, "lm_prepend_full": 0.0, "lstm_luong": 0.0}


@pytest.mark.parametrize("name", list(LEAVING))
def test_sentences_leaving_the_batch_change_nothing(name):
    """Finished sentences leave the batch (their caches and memory rows are dropped): each
    sentence decodes the same alone as in a batch whose other sentences end sooner or later."""
    model, data = make(name).double(), batch()
    model.softmax.register_forward_hook(
        lambda module, args, out: out + LEAVING[name] * (torch.arange(out.shape[-1]) == 1))
    lengths = set()
    for decode in (lambda b: greedy_decode(model, b, 12), lambda b: beam_search(model, b, 3, 0.6, 12)):
        together = decode(data)
        alone = [decode({key: value[i:i + 1] for key, value in data.items()})[0] for i in range(3)]
        assert together == alone
        lengths.add(tuple(len(ids) for ids in together))
    assert any(len(set(row)) > 1 for row in lengths)  # sentences did end at different steps
