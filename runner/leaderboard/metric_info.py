"""How each leaderboard metric is shown, ordered, and defined.

A number on a leaderboard is only comparable with the definition it was computed under. For
metrics whose computation depends on a library's settings (sacreBLEU's tokenizer, the text
normalization before WER) the run must have written that signature beside the number
(`final_metrics_signatures.json`); a record is refused without it. For metrics whose
definition is fixed by this repository's code, the definition below is the signature.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.specs.metric_names import METRIC_MODES


@dataclass(frozen=True)
class MetricInfo:
    label: str
    percent: bool = False  # stored as a fraction, shown as a percentage
    digits: int = 4
    definition: str | None = None  # None: the run must supply its signature


_TOKEN_SCOPE = "over every non-pad target position of the test split, teacher-forced"

METRICS: dict[str, MetricInfo] = {
    "bleu": MetricInfo("BLEU", digits=2),
    "rouge_1": MetricInfo("ROUGE-1", digits=2),
    "rouge_2": MetricInfo("ROUGE-2", digits=2),
    "rouge_l": MetricInfo("ROUGE-L", digits=2),
    "wer": MetricInfo("WER", percent=True, digits=2),
    "cer": MetricInfo("CER", percent=True, digits=2),
    "bits_per_dim": MetricInfo(
        "bits/dim", digits=3,
        definition="NLL nats / (ln 2 x dims) over the whole test split (dims = every predicted pixel channel)",
    ),
    "accuracy_per_sequence": MetricInfo(
        "per-sequence accuracy", percent=True, digits=2,
        definition="decoded exact match: fraction of test examples whose decoded token ids equal the "
        "target ids (EOS and pad stripped)",
    ),
    "accuracy": MetricInfo(
        "accuracy", percent=True, digits=2,
        definition="top-1 accuracy (argmax of the logits == target) over every non-pad target position of the "
        "test split: the class of each image for classification; teacher-forced tokens for sequences",
    ),
    "accuracy_top5": MetricInfo(
        "top-5 accuracy", percent=True, digits=2, definition=f"target among the 5 highest logits {_TOKEN_SCOPE}"
    ),
    "neg_log_perplexity": MetricInfo(
        "neg. log perplexity", digits=4, definition=f"minus the mean NLL per target token in nats {_TOKEN_SCOPE}"
    ),
    "loss": MetricInfo(
        "loss", digits=4, definition=f"mean label-smoothed cross-entropy per target token in nats {_TOKEN_SCOPE}"
    ),
}

# The result a run is known by when it reports several metrics, and the order of the tables.
HEADLINE_ORDER = ("bleu", "wer", "cer", "bits_per_dim", "accuracy_per_sequence", "rouge_2", "rouge_l",
                  "rouge_1", "accuracy", "accuracy_top5", "neg_log_perplexity", "loss")



def headline_of(listed: list[str] | tuple[str, ...]) -> str | None:
    """The headline among the metrics a run reported (its problem's metrics, in their order):
    the first in HEADLINE_ORDER, else the first listed; what `runner run` prints first and the
    leaderboard records by default."""
    for name in HEADLINE_ORDER:
        if name in listed:
            return name
    return listed[0] if listed else None


# Teacher-forced metrics are deterministic given the model; decoded ones also depend on the search.
DECODED = {"bleu", "rouge_1", "rouge_2", "rouge_l", "wer", "cer", "accuracy_per_sequence"}

# Default |reproduced - recorded| allowed for tiers that are not bit-exact (cpu, gpu):
# run-to-run noise of a GPU or a differently threaded CPU, in the metric's stored unit.
DEFAULT_TOLERANCE: dict[str, float] = {
    "bleu": 1.0, "rouge_1": 1.0, "rouge_2": 1.0, "rouge_l": 1.0,
    "wer": 0.02, "cer": 0.02, "bits_per_dim": 0.05,
    "accuracy_per_sequence": 0.02, "accuracy": 0.01, "accuracy_top5": 0.01,
    "neg_log_perplexity": 0.05, "loss": 0.05,
}


def info(metric: str) -> MetricInfo:
    return METRICS.get(metric, MetricInfo(metric))


def mode(metric: str) -> str:
    """'max' or 'min' (METRIC_MODES is the one source of directions)."""
    return METRIC_MODES[metric]


def order_key(metric: str) -> tuple[int, str]:
    return (HEADLINE_ORDER.index(metric) if metric in HEADLINE_ORDER else len(HEADLINE_ORDER), metric)


def format_value(metric: str, value: float) -> str:
    """Deterministic display text: the same number always prints the same way."""
    meta = info(metric)
    if meta.percent:
        return f"{value * 100:.{meta.digits}f} %"
    return f"{value:.{meta.digits}f}"


def direction_text(metric: str) -> str:
    return "higher is better" if mode(metric) == "max" else "lower is better"
