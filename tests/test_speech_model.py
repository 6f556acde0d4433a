"""speech_transformer: shapes, SpecAugment only in training, batch independence, decoding contract."""

import math

import pytest
import torch

from runner.models.speech_transformer import build
from runner.models.speech_transformer_hparams import SpeechTransformerHparams
from runner.problems.base import DataInfo
from runner.problems.speech import SpeechDataInfo
from runner.training.decode import beam_search, greedy_decode

INFO = SpeechDataInfo(input_vocab_size=0, target_vocab_size=13, input_kind="features", feature_size=20)


def hparams(**changes):
    values = dict(hidden_size=32, filter_size=64, num_heads=2, num_encoder_layers=2, num_decoder_layers=1,
                  subsampling_channels=4, layer_prepostprocess_dropout=0.0, attention_dropout=0.0, relu_dropout=0.0)
    values.update(changes)
    return SpeechTransformerHparams(**values)


def batch(frames=(37, 22), targets=((4, 5, 6, 1), (7, 1, 0, 0))):
    torch.manual_seed(0)
    inputs = torch.randn(len(frames), max(frames), 20)
    for row, n in enumerate(frames):
        inputs[row, n:] = 0
    return {"inputs": inputs, "input_lengths": torch.tensor(frames), "targets": torch.tensor(targets)}


def test_shapes_and_subsampling():
    model = build(hparams(), INFO)
    b = batch()
    assert model(b).logits.shape == (2, 4, 13)
    memory = model.encode(b)
    assert memory["encoder_output"].shape == (2, 10, 32)  # ceil(ceil(37 / 2) / 2) = 10
    assert memory["source_mask"].sum(dim=1).tolist() == [10, 6]  # 22 frames -> 11 -> 6
    assert model.decode(memory, torch.zeros(2, 3, dtype=torch.long)).shape == (2, 3, 13)


def test_an_utterance_encodes_the_same_alone_and_padded():
    model = build(hparams(), INFO).eval()
    b = batch()
    alone = {"inputs": b["inputs"][1:, :22], "input_lengths": b["input_lengths"][1:]}
    padded = model.encode(b)["encoder_output"][1, :6]
    assert torch.allclose(model.encode(alone)["encoder_output"][0], padded, atol=1e-5)


def test_spec_augment_applies_in_training_only():
    model = build(hparams(specaugment_freq_masks=2, specaugment_freq_width=8,
                          specaugment_time_masks=2, specaugment_time_width=8), INFO)
    b = batch()
    model.eval()
    assert torch.equal(model(b).logits, model(b).logits)
    model.train()
    torch.manual_seed(1)
    first = model(b).logits
    torch.manual_seed(2)
    assert not torch.allclose(first, model(b).logits)  # no dropout: only the masks differ


def test_untied_weights_leave_no_unused_parameters():
    model = build(hparams(shared_embedding_and_softmax_weights=False), INFO)
    model(batch()).logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_decoding_contract():
    model = build(hparams(), INFO).eval()
    b = {k: v for k, v in batch().items() if k != "targets"}
    greedy = greedy_decode(model, b, max_length=5)
    beam = beam_search(model, b, beam_size=3, alpha=0.6, max_length=5)
    assert len(greedy) == len(beam) == 2 and all(len(ids) <= 5 for ids in greedy + beam)


def test_refuses_token_problems():
    with pytest.raises(ValueError, match="speech_transformer reads feature frames"):
        build(hparams(), DataInfo(input_vocab_size=10, target_vocab_size=10))


def test_ctc_auxiliary_loss_in_training_only():
    model = build(hparams(ctc_loss_weight=0.3), INFO)
    b = batch()
    model.train()
    aux = model(b).aux_loss
    assert aux is not None and aux.item() > 0
    aux.backward()
    assert model.ctc_projection.weight.grad is not None and model.subsampling.conv1.weight.grad is not None
    model.eval()
    assert model(b).aux_loss is None
    assert build(hparams(), INFO)(b).aux_loss is None  # weight 0: T2T's attention-only loss


def test_ctc_loss_by_hand():
    # One frame, one target token: CTC must emit that token at the only frame,
    # so the loss is -log p(token); with uniform outputs over V=13 ids that is ln 13.
    model = build(hparams(ctc_loss_weight=1.0), INFO)
    with torch.no_grad():
        model.ctc_projection.weight.zero_()
        model.ctc_projection.bias.zero_()
    memory = {"encoder_output": torch.zeros(1, 1, 32), "source_mask": torch.ones(1, 1, dtype=torch.bool)}
    targets = torch.tensor([[5, 1]])  # token 5, then EOS: 2 target positions
    assert model._ctc_loss(memory, targets).item() == pytest.approx(math.log(13) / 2, rel=1e-5)
