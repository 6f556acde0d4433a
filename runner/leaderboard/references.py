"""Published reference figures shown beside ours, from `leaderboard/references.yaml`.

Only numbers printed in a paper, each with its citation and the exact wording it was
reported in; they are drawn as reference rows, never ranked with ours (they were measured
on other data sets, at other scales, often with other metric implementations).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from runner.leaderboard.paths import REFERENCES
from runner.specs.loader import load_yaml
from runner.specs.metric_names import METRIC_MODES, unknown_metric_message
from runner.specs.validation import validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Reference(_Strict):
    family: str = Field(min_length=1, description="the problem family whose table shows it (e.g. text2text)")
    metric: str = Field(description="a metric name, in the same unit as ours (accuracy and WER as fractions)")
    dataset: str = Field(min_length=1, description="what it was measured on, e.g. 'WMT14 en-de newstest2014'")
    model: str = Field(min_length=1, description="the paper's model name")
    value: float = Field(allow_inf_nan=False, description="the published figure, converted to our unit")
    reported_as: str = Field(min_length=1, description="the figure as the paper prints it")
    source: str = Field(min_length=1, description="citation: authors, year, title, table")
    url: str = Field(pattern=r"^https?://", description="where to read it")
    note: str = Field("", description="why it is not directly comparable, if it is not")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, name: str) -> str:
        if name not in METRIC_MODES:
            raise ValueError(unknown_metric_message(name))
        return name


class References(_Strict):
    references: list[Reference]


def load_references(leaderboard_dir: Path) -> list[Reference]:
    """The reference rows (an absent file means none); malformed input raises a located SpecError."""
    path = Path(leaderboard_dir) / REFERENCES
    if not path.is_file():
        return []
    doc = load_yaml(path)
    return list(validate(References, doc.data, doc).references)
