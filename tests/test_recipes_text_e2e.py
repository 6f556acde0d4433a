"""CI trains a tiny recipe of each text model end to end, in-process: the loss falls and
final_metrics.json holds the problem's metrics. Real data (generated, or ../shared/data)."""

import json
from pathlib import Path

import pytest

from runner import api

CATALOG = Path(__file__).resolve().parents[1] / "catalog" / "recipes"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "multi30k"

CASES = {
    "reverse_ci": ["accuracy_per_sequence", "accuracy", "neg_log_perplexity"],
    "reverse_lstm_ci": ["accuracy_per_sequence", "accuracy", "neg_log_perplexity"],
    "reverse_prepend_ci": ["accuracy_per_sequence", "accuracy", "neg_log_perplexity"],
    "lm_multi30k_ci": ["neg_log_perplexity", "accuracy"],
    "multi30k_deen_ci": ["bleu", "neg_log_perplexity", "accuracy"],
}


@pytest.mark.slow
@pytest.mark.parametrize("recipe", sorted(CASES))
def test_tiny_recipe_trains_end_to_end(recipe, tmp_path):
    if "multi30k" in recipe and not SHARED.is_dir():
        pytest.skip("../shared/data/multi30k is not beside this checkout")
    experiment = api.resolve(CATALOG / f"{recipe}.yaml")
    out = tmp_path / "run"
    final = api.train(experiment, str(out), str(tmp_path / "data"), verbose=False)

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r["eval_loss"] for r in rows if "eval_loss" in r and "done" not in r]
    assert len(evals) >= 2 and evals[-1] < evals[0], f"eval loss did not fall: {evals}"
    written = json.loads((out / "final_metrics.json").read_text())
    assert written == pytest.approx(final, nan_ok=True)
    for name in CASES[recipe]:
        assert isinstance(written[name], float), f"{name} missing from final_metrics.json"
    if "bleu" in CASES[recipe]:
        signatures = json.loads((out / "final_metrics_signatures.json").read_text())
        assert signatures["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
        assert (out / "decoded_test.txt").read_text().count("\n") == experiment.decode.max_examples
