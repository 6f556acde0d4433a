"""How the leaderboard shows, orders and defines each metric: read from the one metric table
(runner/specs/metric_names.py), formatted here.

A number on a leaderboard is only comparable with the definition it was computed under. For
metrics whose computation depends on a library's settings (sacreBLEU's tokenizer, the text
normalization before WER) the run must have written that signature beside the number
(`final_metrics_signatures.json`); a record is refused without it. For metrics whose
definition is fixed by this repository's code, the table's definition is the signature.
"""

from __future__ import annotations

from runner.specs.metric_names import TABLE, MetricDef

# The result a run is known by when it reports several metrics, and the order of the tables:
# the table's own order.
HEADLINE_ORDER = tuple(TABLE)



def headline_of(listed: list[str] | tuple[str, ...]) -> str | None:
    """The headline among the metrics a run reported (its problem's metrics, in their order):
    the first in HEADLINE_ORDER, else the first listed; what `runner run` prints first and the
    leaderboard records by default."""
    for name in HEADLINE_ORDER:
        if name in listed:
            return name
    return listed[0] if listed else None


# Teacher-forced metrics are deterministic given the model; decoded ones also depend on the search.
DECODED = {name for name, m in TABLE.items() if m.decoded}

# Default |reproduced - recorded| allowed for tiers that are not bit-exact (cpu, gpu):
# run-to-run noise of a GPU or a differently threaded CPU, in the metric's stored unit.
DEFAULT_TOLERANCE: dict[str, float] = {name: m.tolerance for name, m in TABLE.items()}


def info(metric: str) -> MetricDef:
    return TABLE.get(metric) or MetricDef(metric, "max", "token_stats", metric)


def mode(metric: str) -> str:
    """'max' or 'min'."""
    return TABLE[metric].mode


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
