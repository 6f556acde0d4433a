"""The benchmark harness's shared pieces: results JSON, the table, alternation, the FLOP count."""

import json
import math
import types

import pytest
from rich.console import Console

from benchmarks.flops import forward_flops, peak_flops, training_flops
from benchmarks.padding import sentence_batches
from benchmarks.ray_overhead import steady_state
from benchmarks.results import NOT_MEASURED_NO_GPU, Result, Target, results_table, write_result
from benchmarks.timing import alternate, median, rotated


def make_result(**changes):
    fields = dict(name="demo", title="a demo", ours=120.0, baseline=100.0, unit="tok/s", higher_is_better=True,
                  ours_label="ours", baseline_label="peer", repetitions=3, target=Target("ratio", ">=", 1.2),
                  medians={"x": float("nan")}, machine={"cpu_model": "test CPU", "cores": 2}, date="2026-01-01",
                  load_start=[1.0, 1.0, 1.0], load_end=[2.0, 2.0, 2.0])
    fields.update(changes)
    return Result(**fields)


def test_result_json_has_the_fields_every_reader_needs(tmp_path):
    path = write_result(make_result(), tmp_path)
    data = json.loads(path.read_text())
    assert path.name == "demo.json"
    for key in ("name", "ours", "baseline", "ratio", "unit", "higher_is_better", "machine", "date",
                "medians", "repetitions", "details", "load_start", "load_end", "target", "target_met"):
        assert key in data, key
    assert data["ratio"] == pytest.approx(1.2)
    assert data["target"] == "ratio >= 1.2" and data["target_met"] is True
    assert data["medians"]["x"] is None  # NaN is not JSON: written as null
    assert not list(tmp_path.glob("*.tmp"))


def test_targets_on_ratio_or_ours_and_failed_checks():
    assert make_result(ours=110.0).target_met is False
    lower = make_result(ours=0.6, baseline=0.05, unit="s", higher_is_better=False, target=Target("ours", "<=", 1.5))
    assert lower.target_met is True and lower.ratio == pytest.approx(12.0)
    lower.checks = {"imports no torch": False}
    assert lower.target_met is False
    missing = make_result(ours=None, baseline=None, target=None, status=NOT_MEASURED_NO_GPU)
    assert missing.ratio is None and missing.target_met is None
    with pytest.raises(ValueError, match="ratio|ours"):
        Target("speed", ">=", 1.0)


def test_table_shows_values_load_and_not_measured():
    console = Console(record=True, width=200)
    console.print(results_table([make_result(), make_result(name="gpu", ours=None, baseline=None,
                                                            status=NOT_MEASURED_NO_GPU, target=None)]))
    text = console.export_text()
    assert "demo" in text and "120.0 tok/s" in text and "1.200" in text and "1.0→2.0" in text
    assert "not measured: no GPU" in text


def test_alternation_rotates_the_order_every_round():
    calls = []
    out = alternate({name: (lambda n=name: calls.append(n) or len(calls)) for name in "ABC"}, 3)
    assert calls == list("ABC" "BCA" "CAB")
    assert out["A"] == [1, 6, 8] and rotated(["A", "B"], 3) == ["B", "A"]
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        alternate({"A": lambda: 1}, 0)


def test_flop_count_matches_the_formula_by_hand():
    hp = types.SimpleNamespace(hidden_size=4, filter_size=8, num_encoder_layers=1, num_decoder_layers=2)
    b, s, t, v, d, f = 2, 3, 5, 10, 4, 8
    by_hand = (2 * (b * s * 1 * (4 * d * d + 2 * d * f) + b * t * 2 * (6 * d * d + 2 * d * f)
                    + b * s * 2 * (2 * d * d) + b * t * d * v)
               + 4 * b * d * (1 * s * s + 2 * t * t + 2 * t * s))
    assert forward_flops(hp, v, b, s, t) == by_hand
    assert training_flops(hp, v, b, s, t) == 3 * by_hand
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12 and peak_flops("NVIDIA H100 PCIe") == 756e12
    assert peak_flops(None) is None and peak_flops("Some CPU") is None


def test_sentence_batches_keep_corpus_order():
    import numpy as np

    assert sentence_batches(np.arange(7), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        sentence_batches(np.arange(3), 0)


def test_ray_overhead_reads_startup_and_steady_state_from_rows():
    rows = [{"step": 5, "time": 110.0, "tokens_per_sec": 50.0},
            {"step": 10, "time": 120.0, "tokens_per_sec": 100.0},
            {"step": 15, "time": 130.0, "tokens_per_sec": 102.0},
            {"step": 20, "time": 150.0, "tokens_per_sec": 98.0, "eval_loss": 3.0},  # final eval row
            {"step": 20, "done": 1, "time": 151.0}]
    got = steady_state(rows, started_at=100.0)
    assert got["startup_seconds"] == 10.0
    assert got["tokens_per_sec"] == 100.0  # median after the warm-up row
    assert math.isclose(got["wall_steps_per_sec"], 10 / 20)  # rows 5 -> 15, the eval row left out
    with pytest.raises(ValueError, match="at least 3"):
        steady_state(rows[:2], 100.0)
