"""Greedy and beam-search decoding against models whose probabilities are known exactly."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from runner.training.decode import (
    beam_search, decode_batch, decode_dataset, decode_split_ids, greedy_decode, length_penalty,
)
from test_training_fakes import TinyCopyData

PAD, EOS, A, B, C = 0, 1, 2, 3, 4
V = 5


class BigramModel(nn.Module):
    """p(next | previous token) from a table; each sentence picks its table by batch["table"].

    `tables[s][prev]` is a dict {token: probability}; unlisted tokens get probability 0 (-inf logit),
    and a token with no row is followed by EOS.
    Counts decode() calls so tests can see early stopping.
    """

    def __init__(self, *tables):
        super().__init__()
        logp = torch.full((len(tables), V, V), -math.inf)
        logp[:, :, EOS] = 0.0  # rows a table does not list just end (a row of all -inf has no softmax)
        for s, table in enumerate(tables):
            for prev, row in table.items():
                logp[s, prev, EOS] = -math.inf
                for token, p in row.items():
                    logp[s, prev, token] = math.log(p)
        self.register_buffer("logp", logp)
        self.dummy = nn.Parameter(torch.zeros(()))
        self.decode_calls = 0

    def encode(self, batch):
        return {"table": batch["table"]}

    def decode(self, memory, prefix):
        self.decode_calls += 1
        return self.logp[memory["table"][:, None], prefix]  # [B, T, V]


def batch_for(*tables):
    return {"table": torch.tensor(tables), "targets": torch.zeros(len(tables), 1, dtype=torch.long)}


def sequence_logp(model, table, ids):
    prev, total = PAD, 0.0
    for token in ids + [EOS]:
        total += model.logp[table, prev, token].item()
        prev = token
    return total


# Greedy takes A (0.6) and then must end (A -> EOS 0.35 is the best of a flat row): p = 0.21.
# Beam search finds B EOS: 0.4 * 1.0 = 0.4.
GREEDY_TRAP = {PAD: {A: 0.6, B: 0.4}, A: {EOS: 0.35, A: 0.33, B: 0.32}, B: {EOS: 1.0}}


def test_length_penalty_values():
    assert length_penalty(1, 0.6) == 1.0
    assert length_penalty(7, 0.6) == pytest.approx(2 ** 0.6)            # (5+7)/6 = 2
    assert length_penalty(10, 0.6) == pytest.approx(2.5 ** 0.6)         # 1.7338...
    assert length_penalty(25, 1.0) == pytest.approx(5.0)
    assert length_penalty(50, 0.0) == 1.0


def test_beam_search_finds_what_greedy_misses():
    model = BigramModel(GREEDY_TRAP)
    batch = batch_for(0)
    assert greedy_decode(model, batch, max_length=5) == [[A]]
    assert beam_search(model, batch, beam_size=2, alpha=0.0, max_length=5) == [[B]]
    assert sequence_logp(model, 0, [B]) > sequence_logp(model, 0, [A])


def test_beam_size_one_is_greedy():
    model = BigramModel(GREEDY_TRAP)
    assert decode_batch(model, batch_for(0), beam_size=1, alpha=0.6, max_length=5) == [[A]]


def test_beam_one_never_scores_below_greedy_on_random_models():
    torch.manual_seed(0)
    for trial in range(10):
        tables = []
        for _ in range(3):
            table = {}
            for prev in range(V):
                p = torch.rand(V - 1).softmax(0) if trial % 2 else torch.rand(V - 1) ** 3
                p = (p / p.sum()).tolist()
                table[prev] = {tok: p[tok - 1] for tok in range(1, V)}  # no pad: EOS and 3 symbols
            tables.append(table)
        model = BigramModel(*tables)
        batch = batch_for(0, 1, 2)
        greedy = greedy_decode(model, batch, 6)
        beam1 = beam_search(model, batch, 1, 0.0, 6)
        beam3 = beam_search(model, batch, 3, 0.0, 6)
        for s in range(3):
            # Only ended hypotheses are comparable; greedy may hit max_length without EOS.
            if len(greedy[s]) < 6:
                assert sequence_logp(model, s, beam1[s]) >= sequence_logp(model, s, greedy[s]) - 1e-6
                assert sequence_logp(model, s, beam3[s]) >= sequence_logp(model, s, beam1[s]) - 1e-6


def test_a_finished_hypothesis_is_kept_while_beams_go_on_and_search_stops_early():
    # Ending at once has p 0.45; every continuation halves forever and never ends.
    never_ends = {PAD: {EOS: 0.45, A: 0.55}, A: {A: 0.5, B: 0.5}, B: {A: 0.5, B: 0.5}}
    model = BigramModel(never_ends)
    assert beam_search(model, batch_for(0), beam_size=2, alpha=0.0, max_length=20) == [[]]
    # The bound (best alive log p / max penalty) fell below log 0.45 after two steps.
    assert model.decode_calls == 2


def test_length_penalty_decides_between_finished_hypotheses():
    # [EOS] has p 0.5; [A, EOS] has p 0.45. Without a penalty the short one wins; alpha=2
    # divides by ((5+2)/6)^2 = 1.36 and the longer one wins, as in T2T.
    table = {PAD: {EOS: 0.5, A: 0.5}, A: {EOS: 0.9, B: 0.1}, B: {EOS: 1.0}}
    model = BigramModel(table)
    assert beam_search(model, batch_for(0), 2, alpha=0.0, max_length=6) == [[]]
    assert beam_search(model, batch_for(0), 2, alpha=2.0, max_length=6) == [[A]]


def test_sentences_in_one_batch_are_searched_independently():
    other = {PAD: {C: 0.9, EOS: 0.1}, C: {C: 0.2, EOS: 0.8}}
    model = BigramModel(GREEDY_TRAP, other)
    assert beam_search(model, batch_for(0, 1, 0), 3, 0.6, 5) == [[B], [C], [B]]
    assert greedy_decode(model, batch_for(1, 0), 5) == [[C], [A]]


def test_max_length_caps_unfinished_output():
    loop = {PAD: {A: 1.0}, A: {A: 0.9, EOS: 0.1}}
    model = BigramModel(loop)
    assert greedy_decode(model, batch_for(0), 4) == [[A, A, A, A]]
    # No hypothesis ends within 2 tokens except [A, EOS]; beam search returns it.
    assert beam_search(model, batch_for(0), 2, 0.0, 2) == [[A]]


class CopyOracle(nn.Module):
    """Predicts inputs[t] at position t (EOS after the end): decoding must reproduce the inputs."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab = vocab
        self.dummy = nn.Parameter(torch.zeros(()))

    def encode(self, batch):
        return {"inputs": batch["inputs"]}

    def decode(self, memory, prefix):
        inputs = memory["inputs"]
        t = prefix.shape[1]
        padded = torch.cat([inputs, torch.full((inputs.shape[0], t), EOS)], dim=1)[:, :t]
        padded = torch.where(padded == PAD, torch.full_like(padded, EOS), padded)
        return torch.nn.functional.one_hot(padded, self.vocab).float() * 10


@pytest.mark.parametrize("beam_size", [1, 3])
def test_decode_dataset_restores_the_original_order(beam_size):
    data = TinyCopyData(sizes=(4, 4, 23))
    spec = SimpleNamespace(beam_size=beam_size, alpha=0.6, extra_length=2, batch_size=4, max_examples=0)
    model = CopyOracle(8)
    assert decode_dataset(model, data, "test", spec) == data.reference_texts("test")
    hyps, refs = decode_split_ids(model, data, "test", spec)
    assert hyps == refs and refs[0] == data.split("test")[0]["targets"][:-1].tolist()


def test_decode_dataset_max_examples_and_no_target_leak():
    data = TinyCopyData(sizes=(4, 4, 10))
    spec = SimpleNamespace(beam_size=2, alpha=0.6, extra_length=2, batch_size=3, max_examples=4)

    class Peeking(CopyOracle):
        def encode(self, batch):
            assert "targets" not in batch
            return super().encode(batch)

    assert decode_dataset(Peeking(8), data, "test", spec) == data.reference_texts("test")[:4]


def test_models_without_decode_are_refused():
    data = TinyCopyData(sizes=(4, 4, 4))
    spec = SimpleNamespace(beam_size=1, alpha=0.6, extra_length=2, batch_size=3, max_examples=0)
    with pytest.raises(ValueError, match="no encode\\(\\)/decode\\(\\)"):
        decode_dataset(nn.Linear(2, 2), data, "test", spec)


def test_decode_batches_are_packed_by_tokens():
    from runner.training.decode import token_packed_batches

    lengths = [30, 2, 2, 30, 2, 2, 10, 2]  # mean 10: a budget of 2 x 10 = 20 tokens per batch
    batches = token_packed_batches(lengths, 2)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert batches == [[1, 2, 4, 5, 7], [6], [0], [3]]  # sorted by length; short ones share a batch
    assert all(len(b) * max(lengths[i] for i in b) <= 20 or len(b) == 1 for b in batches)
    assert token_packed_batches([0] * 5, 2) == [[0, 1], [2, 3], [4]]  # no inputs: batch_size rows


def test_decode_progress_counts_sentences_and_tokens(monkeypatch):
    from rich.progress import Progress

    from runner.training.decode_progress import decode_progress

    seen, original = [], Progress.update
    monkeypatch.setattr(Progress, "update", lambda self, task, **kw: seen.append(kw) or original(self, task, **kw))
    with decode_progress(5, enabled=True) as update:
        update(3, 12)
        update(2, 8)
    assert [kw["advance"] for kw in seen] == [3, 2] and seen[-1]["rate"].endswith("tokens/s")
    with decode_progress(5, enabled=False) as update:  # a non-terminal: a no-op, nothing printed
        update(5, 20)
