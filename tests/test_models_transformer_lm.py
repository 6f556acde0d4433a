"""Decoder-only Transformer: prepend modes' attention pattern, vocabulary, plain LM."""


import pytest
import torch

from runner.models.transformer_lm import build, prepend_attention_mask
from runner.models.transformer_lm_hparams import TransformerLMHparams
from runner.problems.base import DataInfo

TINY = dict(hidden_size=16, filter_size=32, num_heads=2, num_decoder_layers=2)


def info(input_vocab=11, target_vocab=11):
    return DataInfo(input_vocab_size=input_vocab, target_vocab_size=target_vocab, pad_id=0)


def test_prepend_masks():
    keep = torch.tensor([[True, True, False, True, True, True]])  # 2 inputs, 1 pad, separator, 2 targets
    masked = prepend_attention_mask(keep, prefix_length=4, full_attention=False)[0, 0].int().tolist()
    full = prepend_attention_mask(keep, prefix_length=4, full_attention=True)[0, 0].int().tolist()
    assert masked == [[1, 0, 0, 0, 0, 0],
                      [1, 1, 0, 0, 0, 0],
                      [1, 1, 1, 0, 0, 0],  # a pad query sees itself only besides real keys
                      [1, 1, 0, 1, 0, 0],
                      [1, 1, 0, 1, 1, 0],
                      [1, 1, 0, 1, 1, 1]]
    assert full == [[1, 1, 0, 1, 0, 0],  # inputs and separator see all of the prefix
                    [1, 1, 0, 1, 0, 0],
                    [1, 1, 1, 1, 0, 0],
                    [1, 1, 0, 1, 0, 0],
                    [1, 1, 0, 1, 1, 0],
                    [1, 1, 0, 1, 1, 1]]


def test_full_attention_lets_early_inputs_see_later_inputs():
    batch = {"inputs": torch.tensor([[3, 4, 5]]), "targets": torch.tensor([[6, 7]])}
    changed = {"inputs": torch.tensor([[3, 4, 9]]), "targets": batch["targets"]}
    for mode in ("prepend_inputs_full_attention", "prepend_inputs_masked_attention"):
        torch.manual_seed(0)
        model = build(TransformerLMHparams(**TINY, prepend_mode=mode), info()).eval()
        # Under both modes every target sees every input; the difference is in the input part,
        # observable through the first input's hidden state as seen by later layers.
        x = model.positions(model.embedding(torch.cat([batch["inputs"], torch.zeros(1, 1, dtype=torch.long)], 1)))
        x2 = model.positions(model.embedding(torch.cat([changed["inputs"], torch.zeros(1, 1, dtype=torch.long)], 1)))
        keep = torch.ones(1, 4, dtype=torch.bool)
        mask = prepend_attention_mask(keep, 4, mode.endswith("full_attention"))
        first, first_changed = model.decoder(x, self_mask=mask)[0][0, 0], model.decoder(x2, self_mask=mask)[0][0, 0]
        moved = (first - first_changed).abs().max().item()
        assert (moved > 1e-4) == mode.endswith("full_attention"), (mode, moved)


def test_plain_lm_ignores_inputs_and_needs_no_inputs():
    torch.manual_seed(0)
    model = build(TransformerLMHparams(**TINY), info()).eval()
    targets = torch.tensor([[5, 6, 7, 1]])
    alone = model({"targets": targets}).logits
    torch.testing.assert_close(model({"inputs": torch.tensor([[9, 9]]), "targets": targets}).logits, alone)
    assert model.encode({"targets": targets})["inputs"].shape == (1, 0)


def test_prepend_mode_needs_inputs_and_one_vocabulary():
    model = build(TransformerLMHparams(**TINY, prepend_mode="prepend_inputs_masked_attention"), info())
    with pytest.raises(ValueError, match=r"needs batch\['inputs'\]"):
        model({"targets": torch.tensor([[5, 1]])})
    with pytest.raises(ValueError, match="one vocabulary"):
        build(TransformerLMHparams(**TINY, prepend_mode="prepend_inputs_full_attention"), info(20, 11))
    assert build(TransformerLMHparams(**TINY), info(20, 11)).softmax.weight.shape == (11, 16)


def test_shared_weights_tied_in_lm():
    model = build(TransformerLMHparams(**TINY), info())
    assert model.softmax.weight is model.embedding.weight
    untied = build(TransformerLMHparams(**TINY, shared_embedding_and_softmax_weights=False), info())
    assert untied.softmax.weight is not untied.embedding.weight


def test_all_padding_inputs_give_finite_logits():
    model = build(TransformerLMHparams(**TINY, prepend_mode="prepend_inputs_full_attention"), info()).eval()
    out = model({"inputs": torch.tensor([[0, 0], [3, 0]]), "targets": torch.tensor([[4, 1], [5, 1]])})
    assert torch.isfinite(out.logits).all()
