"""How each metric is computed: one function per name of the metric table.

The table (name, direction, what it needs, how it is shown) is `runner/specs/metric_names.py`,
torch-free, so specs are checked against it at validation. Here each name gets its function,
by what the table says it needs:
- "token_stats": `fn(TokenStats) -> float`, from teacher-forced logits (cheap; also run at
  every periodic eval, so Ray Tune can optimise it);
- "decoded": `fn(DecodedOutputs) -> float | MetricValue`, from decoded test output (run once,
  at the end of training; a `MetricValue.signature` is written beside the number);
- "rollout": `fn(RolloutOutputs) -> MetricValue`, from episodes of the policy in its environment
  (run once, at the end; its `std` over the episodes is reported as `<name>_std`).

To add one: a line in the table, its function in a module here and a line in `FUNCTIONS`
(tests/test_metrics_sequence.py keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from runner.metrics import bits, bleu, rl, rouge, sequence, speech
from runner.metrics.base import DecodedOutputs, MetricValue, RolloutOutputs, TokenStats
from runner.specs.errors import closest
from runner.specs.metric_names import DEFAULT_TOKEN_METRICS, TABLE

FUNCTIONS: dict[str, Callable] = {
    "loss": sequence.loss,
    "neg_log_perplexity": sequence.neg_log_perplexity,
    "accuracy": sequence.accuracy,
    "accuracy_top5": sequence.accuracy_top5,
    "accuracy_per_sequence": sequence.accuracy_per_sequence,
    "bleu": bleu.bleu,
    "rouge_1": rouge.rouge_1,
    "rouge_2": rouge.rouge_2,
    "rouge_l": rouge.rouge_l,
    "wer": speech.wer,
    "cer": speech.cer,
    "bits_per_dim": bits.bits_per_dim,
    "normalized_return": rl.normalized_return,
    "episode_return": rl.episode_return,
}


@dataclass(frozen=True)
class Metric:
    needs: str  # the table's "token_stats" | "decoded" | "rollout"
    fn: Callable


# name -> (what it needs, its function): the table's names that have a function here.
METRICS: dict[str, Metric] = {name: Metric(TABLE[name].needs, fn) for name, fn in FUNCTIONS.items()}


class UnknownMetric(ValueError):
    """For specs built without validation (tests' plain namespaces); validated specs never get here."""

    def __init__(self, names: list[str]):
        hints = []
        for name in names:
            close = closest(name, METRICS)
            hints.append(f"'{name}'" + (f" (did you mean '{close}'?)" if close else ""))
        super().__init__(f"problem.metrics: unknown metric(s) {', '.join(hints)}; "
                         f"available: {', '.join(sorted(METRICS))}")


def check_names(names: list[str]) -> None:
    """Raise `UnknownMetric` for names with no implementation (call before training starts)."""
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise UnknownMetric(unknown)


def token_metric_names(names: list[str]) -> list[str]:
    """The teacher-forced metrics to report: the defaults, then any others the problem lists."""
    check_names(names)
    extra = [n for n in names if METRICS[n].needs == "token_stats" and n not in DEFAULT_TOKEN_METRICS]
    return list(DEFAULT_TOKEN_METRICS) + extra


def decoded_metric_names(names: list[str]) -> list[str]:
    check_names(names)
    return [n for n in names if METRICS[n].needs == "decoded"]


def rollout_metric_names(names: list[str]) -> list[str]:
    check_names(names)
    return [n for n in names if METRICS[n].needs == "rollout"]


def compute_rollout_metrics(names: list[str], outputs: RolloutOutputs) -> tuple[dict[str, float], dict[str, str]]:
    """(values, signatures) for the rollout metrics `names`; each one's spread as `<name>_std`."""
    values, signatures = {}, {}
    for name in names:
        result = METRICS[name].fn(outputs)
        values[name] = float(result.value)
        if result.std is not None:
            values[f"{name}_std"] = float(result.std)
        signatures[name] = result.signature
    return values, signatures


def compute_token_metrics(names: list[str], stats: TokenStats) -> dict[str, float]:
    return {name: float(METRICS[name].fn(stats)) for name in names}


def compute_decoded_metrics(names: list[str], outputs: DecodedOutputs) -> tuple[dict[str, float], dict[str, str]]:
    """(values, signatures) for the decoded metrics `names`."""
    values, signatures = {}, {}
    for name in names:
        result = METRICS[name].fn(outputs)
        if isinstance(result, MetricValue):
            values[name] = float(result.value)
            if result.signature:
                signatures[name] = result.signature
        else:
            values[name] = float(result)
    return values, signatures


__all__ = [
    "METRICS", "FUNCTIONS", "Metric", "DEFAULT_TOKEN_METRICS", "MetricValue", "TokenStats", "DecodedOutputs", "RolloutOutputs", "UnknownMetric", "check_names",
    "token_metric_names", "decoded_metric_names", "rollout_metric_names", "compute_rollout_metrics", "compute_token_metrics", "compute_decoded_metrics",
]
