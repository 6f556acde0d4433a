"""Sequence metrics, the metric registry and the final-metrics files."""

import json
import math

import pytest

from runner import metrics
from runner.metrics.base import DecodedOutputs, TokenStats
from runner.specs.metric_names import METRIC_MODES
from runner.run_dir import read_final_metrics, write_final_metrics

STATS = TokenStats(loss_sum=30.0, nll_sum=20.0, tokens=10, correct=7, correct_top5=9)


def test_token_metrics_from_sums():
    values = metrics.compute_token_metrics(["loss", "neg_log_perplexity", "accuracy", "accuracy_top5"], STATS)
    assert values == {"loss": 3.0, "neg_log_perplexity": -2.0, "accuracy": 0.7, "accuracy_top5": 0.9}


def test_stats_add_up_exactly_and_survive_a_round_trip():
    total = STATS + TokenStats(1.0, 2.0, 5, 1, 2)
    assert total == TokenStats(31.0, 22.0, 15, 8, 11)
    assert TokenStats.from_list(total.to_list()) == total


def test_no_tokens_is_an_error_not_a_nan():
    with pytest.raises(ValueError, match="no non-pad target tokens"):
        metrics.compute_token_metrics(["accuracy"], TokenStats())


def test_accuracy_per_sequence_is_decoded_exact_match():
    outputs = DecodedOutputs(["a", "b", "c"], ["a", "b", "d"], [[2, 3], [4], [5]], [[2, 3], [4, 6], [5]])
    values, _ = metrics.compute_decoded_metrics(["accuracy_per_sequence"], outputs)
    assert values["accuracy_per_sequence"] == pytest.approx(2 / 3)


def test_unknown_metric_names_suggest_the_closest():
    with pytest.raises(metrics.UnknownMetric, match="'bleuu' \\(did you mean 'bleu'\\?\\)"):
        metrics.check_names(["bleuu"])


def test_dispatch_splits_teacher_forced_and_decoded():
    names = ["bleu", "neg_log_perplexity", "accuracy_top5", "rouge_l"]
    assert metrics.token_metric_names(names) == ["loss", "neg_log_perplexity", "accuracy", "accuracy_top5"]
    assert metrics.decoded_metric_names(names) == ["bleu", "rouge_l"]


def test_every_registered_metric_has_a_direction_for_specs():
    assert set(metrics.METRICS) <= set(METRIC_MODES)


def test_the_metric_table_and_the_functions_name_the_same_metrics():
    from runner.leaderboard import metric_info
    from runner.specs.metric_names import TABLE

    assert set(metrics.FUNCTIONS) == set(TABLE) == set(metric_info.HEADLINE_ORDER) == set(metric_info.DEFAULT_TOLERANCE)
    assert metric_info.DECODED == {"bleu", "rouge_1", "rouge_2", "rouge_l", "wer", "cer", "accuracy_per_sequence"}
    assert all(metric_info.info(name).definition for name in TABLE if name not in metric_info.DECODED - {
        "accuracy_per_sequence"})


def test_write_final_metrics_numbers_only_with_signature_sidecar(tmp_path):
    write_final_metrics(str(tmp_path), {"bleu": 27.3, "steps": 10, "loss": math.nan}, {"bleu": "nrefs:1|..."})
    assert read_final_metrics(str(tmp_path)) == {"bleu": 27.3, "steps": 10, "loss": None}
    assert json.loads((tmp_path / "final_metrics_signatures.json").read_text()) == {"bleu": "nrefs:1|..."}
    with pytest.raises(TypeError, match="signatures"):
        write_final_metrics(str(tmp_path), {"bleu_signature": "nrefs:1"})
