"""Fields every problem spec shares; each problem family subclasses `ProblemSpec`.

Family-specific specs live beside their data code in `runner/problems/<family>_spec.py`
(torch-free) and are registered by family name in `runner/registry.py`.
"""

from pydantic import Field

from runner.specs.base import PlainName, Spec
from runner.specs.metric_names import TABLE as METRIC_TABLE
from runner.specs.metric_names import MetricName


# Fields that annotate a problem without changing its data (left out of fingerprints and spec_hash).
PROBLEM_NOTES = ("t2t_source", "differs_from_t2t")


def t2t_source_field():
    return Field(None, description="Where Tensor2Tensor defines the spec of this name ('file.py function'); "
                 "unset for a spec that is ours alone. Shown by `runner list`.")


def differs_from_t2t_field():
    return Field(None, description="How and why this spec deliberately differs from T2T's of the same name; "
                 "unset when it is T2T's as published. Shown by `runner list` and `runner show`.")


class ProblemSpec(Spec):
    """A problem: where data comes from, how it is encoded, and how it is scored."""

    name: PlainName = Field("", description="Filled in from the file stem; do not set by hand.")
    description: str = Field("", description="One line shown by `runner list problems`.")
    family: str
    t2t_source: str | None = t2t_source_field()
    differs_from_t2t: str | None = differs_from_t2t_field()
    plugins: list[str] = Field(
        default_factory=list, description="Python modules that register this problem's family (a user's own)."
    )
    metrics: list[MetricName] = Field(
        default_factory=list, description=f"Metrics reported at eval, any of: {', '.join(METRIC_TABLE)}."
    )
    max_length: int = Field(
        0, ge=0, description="Longest example (tokens) the problem keeps for training; 0 = no limit."
    )
