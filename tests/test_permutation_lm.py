"""Permutation language modelling (XLNet) as a masking mode of transformer_lm: the two-stream
masks never let a position see its own token or tokens after it in the order; eval and decoding
are left to right; the CI recipe trains on a small local text corpus."""

import gzip
import json

import pytest
import torch

from runner import api
from runner.models.blocks import shift_right
from runner.models.transformer_lm import build, factorization_ranks, permutation_attention_mask
from runner.models.transformer_lm_hparams import TransformerLMHparams
from runner.problems.base import DataInfo

TINY = dict(hidden_size=16, filter_size=32, num_heads=2, num_decoder_layers=2, layer_prepostprocess_dropout=0.0,
            attention_dropout=0.0, relu_dropout=0.0, masking="permutation")


def _model():
    torch.manual_seed(0)
    return build(TransformerLMHparams(**TINY), DataInfo(input_vocab_size=20, target_vocab_size=20, has_inputs=False))


def test_two_stream_mask_of_an_order():
    ranks = torch.tensor([[2, 0, 1]])  # order: position 1, then 2, then 0
    mask = permutation_attention_mask(ranks)[0, 0].int().tolist()
    assert mask[0] == [1, 1, 1, 0, 0, 0]  # content 0 (last in the order) sees all content
    assert mask[1] == [0, 1, 0, 0, 0, 0]  # content 1 (first) sees itself only
    assert mask[3] == [0, 1, 1, 1, 0, 0]  # query 0 sees content 1 and 2, and its own query slot
    assert mask[4] == [0, 0, 0, 0, 1, 0]  # query 1 (first in the order) sees no token at all
    with pytest.raises(ValueError, match="prepend_mode='none'"):
        TransformerLMHparams(masking="permutation", prepend_mode="prepend_inputs_masked_attention")


def test_a_position_never_sees_its_own_token_or_later_ones_in_the_order():
    model = _model().eval()
    tokens = torch.tensor([[5, 6, 7, 8, 9]])
    ranks = torch.tensor([[3, 0, 4, 1, 2]])
    base = model._two_streams(tokens, ranks)[0]
    for position in range(5):
        changed = tokens.clone()
        changed[0, position] = 3
        out = model._two_streams(changed, ranks)[0]
        for other in range(5):
            same = torch.allclose(out[0, other], base[0, other], atol=1e-6)
            assert same == (ranks[0, other] <= ranks[0, position]), (position, other)


def test_training_orders_are_random_and_eval_is_left_to_right_like_decode():
    keep = torch.tensor([[True] * 6 + [False] * 2])
    torch.manual_seed(1)
    first, second = factorization_ranks(keep, True), factorization_ranks(keep, True)
    assert not torch.equal(first, second) and set(first[0, 6:].tolist()) == {6, 7}  # padding last
    assert factorization_ranks(keep, False).tolist() == [list(range(8))]
    model = _model().eval()
    targets = torch.tensor([[5, 6, 7, 1, 0, 0], [8, 9, 1, 0, 0, 0]])
    logits = model({"targets": targets}).logits
    prefix = shift_right(targets)
    assert torch.allclose(model.decode(model.encode({"targets": targets}), prefix), logits, atol=1e-5)
    step_logits, state = model.start_decoding(model.encode({"targets": targets}))
    assert torch.allclose(step_logits, logits[:, 0], atol=1e-5)
    step_logits, state = model.decode_step(state, targets[:, 0])
    assert torch.allclose(step_logits, logits[:, 1], atol=1e-5)


def _corpus(folder):
    folder.mkdir()
    words = "a man rides a red bike down the street while two dogs play in the green park".split()
    for split, n in (("train", 300), ("val", 30), ("test_2016_flickr", 30)):
        lines = [" ".join(words[(i + k) % len(words)] for k in range(3 + i % 7)) for i in range(n)]
        with gzip.open(folder / f"{split}.en.gz", "wt") as f:
            f.write("\n".join(lines) + "\n")
    return folder


@pytest.mark.slow
def test_permutation_lm_ci_recipe_trains_and_reports_perplexity(tmp_path):
    corpus = _corpus(tmp_path / "multi30k")
    experiment = api.resolve("catalog/recipes/permutation_lm_multi30k_ci.yaml",
                             [f"problem.source.path={corpus}", "problem.vocab.size=300"])
    assert experiment.hparams.masking == "permutation"
    final = api.train(experiment, str(tmp_path / "run"), str(tmp_path / "data"), verbose=False)
    assert final["steps"] == 20 and final["neg_log_perplexity"] < 0
    assert json.loads((tmp_path / "run" / "final_metrics.json").read_text()) == pytest.approx(final)
