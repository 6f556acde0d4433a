"""Encoder-decoder Transformer specifics: weight tying, vocabulary checks, T2T embedding."""


import pytest
import torch

from runner.models.transformer import Transformer, build
from runner.models.transformer_hparams import TransformerHparams
from runner.problems.base import DataInfo

TINY = dict(hidden_size=16, filter_size=32, num_heads=2, num_encoder_layers=1, num_decoder_layers=1)


def info(input_vocab=11, target_vocab=11, input_kind="tokens"):
    return DataInfo(input_vocab_size=input_vocab, target_vocab_size=target_vocab, pad_id=0,
                    input_kind=input_kind)


def test_shared_weights_are_one_parameter():
    model = build(TransformerHparams(**TINY), info())
    assert model.input_embedding.weight is model.target_embedding.weight is model.softmax.weight
    n_params = sum(p.numel() for p in model.parameters())
    untied = build(TransformerHparams(**TINY, shared_embedding_and_softmax_weights=False), info())
    assert sum(p.numel() for p in untied.parameters()) == n_params + 2 * 11 * 16
    # A gradient through the softmax reaches the (same) embedding matrix.
    out = model({"inputs": torch.tensor([[2, 3]]), "targets": torch.tensor([[4, 1]])})
    out.logits[..., 7].sum().backward()
    assert model.input_embedding.weight.grad[7].abs().sum() > 0


def test_tie_survives_state_dict_round_trip():
    model = build(TransformerHparams(**TINY), info())
    fresh = build(TransformerHparams(**TINY), info())
    with torch.no_grad():
        model.softmax.weight.add_(1.0)
    fresh.load_state_dict(model.state_dict())
    assert fresh.softmax.weight is fresh.input_embedding.weight
    torch.testing.assert_close(fresh.input_embedding.weight, model.input_embedding.weight)


def test_shared_weights_need_one_vocabulary():
    with pytest.raises(ValueError, match="shared_embedding_and_softmax_weights=false"):
        build(TransformerHparams(**TINY), info(input_vocab=20, target_vocab=11))
    model = build(TransformerHparams(**TINY, shared_embedding_and_softmax_weights=False), info(20, 11))
    out = model({"inputs": torch.tensor([[19, 3]]), "targets": torch.tensor([[4, 1]])})
    assert out.logits.shape == (1, 2, 11)


def test_feature_inputs_are_rejected_at_build_time():
    with pytest.raises(ValueError, match="input_kind is 'features'"):
        build(TransformerHparams(**TINY), info(input_kind="features"))


def test_first_decoder_input_is_the_bare_timing_signal():
    # T2T zeroes the pad embedding, and 0 is the start symbol: the decoder's first input is
    # the position-0 timing signal alone, whatever the embedding matrix holds.
    model = Transformer(TransformerHparams(**TINY), 11, 11).eval()
    embedded = model._embed(model.target_embedding, torch.tensor([[0, 5]]))
    torch.testing.assert_close(embedded[0, 0], torch.cat([torch.zeros(8), torch.ones(8)]))
    torch.testing.assert_close(embedded[0, 1], model.target_embedding.weight[5] * 4.0 + model.positions.table[1])


def test_initializer_gain_scales_weights():
    for gain in (0.25, 4.0):
        model = build(TransformerHparams(**TINY, initializer_gain=gain), info())
        weight = model.encoder.layers[0].feed_forward.sublayer.dense_in.weight  # [32, 16]
        limit = (3 * gain / ((16 + 32) / 2)) ** 0.5  # T2T variance_scaling(gain, fan_avg, uniform)
        assert 0.8 * limit < weight.abs().max().item() <= limit


def test_all_padding_source_gives_finite_logits():
    model = build(TransformerHparams(**TINY), info()).eval()
    out = model({"inputs": torch.tensor([[0, 0], [3, 0]]), "targets": torch.tensor([[4, 1], [5, 1]])})
    assert torch.isfinite(out.logits).all()
