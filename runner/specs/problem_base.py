"""Fields every problem spec shares; each problem family subclasses `ProblemSpec`.

Family-specific specs live beside their data code in `runner/problems/<family>_spec.py`
(torch-free) and are registered by family name in `runner/registry.py`.
"""

from pydantic import Field

from runner.specs.base import PlainName, Spec


class ProblemSpec(Spec):
    """A problem: where data comes from, how it is encoded, and how it is scored."""

    name: PlainName = Field("", description="Filled in from the file stem; do not set by hand.")
    description: str = Field("", description="One line shown by `runner list problems`.")
    family: str
    plugins: list[str] = Field(
        default_factory=list, description="Python modules that register this problem's family (a user's own)."
    )
    metrics: list[str] = Field(default_factory=list, description="Metrics reported at eval.")
    max_length: int = Field(
        0, ge=0, description="Longest example (tokens) the problem keeps for training; 0 = no limit."
    )
