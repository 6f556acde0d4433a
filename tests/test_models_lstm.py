"""LSTM seq2seq with attention specifics (the contract is in test_models_contract.py)."""


import torch

from runner.models.lstm_seq2seq_attention import build
from runner.models.lstm_seq2seq_attention_hparams import LSTMSeq2SeqHparams
from runner.problems.base import DataInfo


def info(input_vocab=15, target_vocab=11):
    return DataInfo(input_vocab_size=input_vocab, target_vocab_size=target_vocab, pad_id=0)


def test_target_embedding_and_softmax_tie():
    model = build(LSTMSeq2SeqHparams(hidden_size=16, shared_embedding_and_softmax_weights=True), info())
    assert model.softmax.weight is model.target_embedding.weight
    assert model.input_embedding.weight.shape == (15, 16)  # the source keeps its own vocabulary
    untied = build(LSTMSeq2SeqHparams(hidden_size=16), info())
    assert untied.softmax.weight is not untied.target_embedding.weight


def test_forget_gate_bias_starts_at_one():
    model = build(LSTMSeq2SeqHparams(hidden_size=8, num_hidden_layers=1), info())
    bias = model.encoder.bias_ih_l0
    assert torch.all(bias[8:16] == 1.0) and torch.all(bias[:8] == 0) and torch.all(bias[16:] == 0)


def test_empty_source_gives_finite_logits():
    for mechanism in ("luong", "bahdanau"):
        model = build(LSTMSeq2SeqHparams(hidden_size=8, attention_mechanism=mechanism), info()).eval()
        out = model({"inputs": torch.tensor([[0, 0], [3, 0]]), "targets": torch.tensor([[4, 1], [5, 1]])})
        assert torch.isfinite(out.logits).all()


def test_final_state_initialises_decoder():
    torch.manual_seed(0)
    model = build(LSTMSeq2SeqHparams(hidden_size=8, num_hidden_layers=3), info()).eval()
    memory = model.encode({"inputs": torch.tensor([[3, 4, 5, 0]])})
    assert memory["initial_h"].shape == (1, 3, 8)
    torch.testing.assert_close(memory["initial_h"][0, -1], memory["encoder_output"][0, 2])  # last real step
    assert torch.all(memory["encoder_output"][0, 3] == 0)
