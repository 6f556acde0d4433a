"""The one table of metrics: every name a spec may list, which direction is better, what it needs,
and how the leaderboard shows and defines it. Torch-free, so `runner validate` checks a
problem's `metrics:` (and a tune objective, a leaderboard record) against it without importing
the implementations; `runner/metrics/` holds one function per name here, and a test keeps the two
in step.

To add a metric: a line here, and its function in `runner/metrics/__init__.py`'s `FUNCTIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator

from runner.specs.errors import did_you_mean

_TOKEN_SCOPE = "over every non-pad target position of the test split, teacher-forced"


@dataclass(frozen=True)
class MetricDef:
    name: str
    mode: Literal["max", "min"]               # "max": higher is better
    needs: Literal["token_stats", "decoded", "rollout"]  # teacher-forced sums (cheap, every eval), decoded
                                                         # test output, or episodes in the environment
    label: str                                # how tables and pages name it
    percent: bool = False                     # stored as a fraction, shown as a percentage
    digits: int = 4
    definition: str | None = None             # None: the run must supply its signature (sacreBLEU's, ...)
    tolerance: float = 0.05                   # default |reproduced - recorded| for non-bit-exact tiers

    @property
    def decoded(self) -> bool:
        return self.needs == "decoded"


# In headline order: the result a run is known by when it reports several metrics, and the
# order of the leaderboard's tables.
TABLE: dict[str, MetricDef] = {m.name: m for m in [
    MetricDef("bleu", "max", "decoded", "BLEU", digits=2, tolerance=1.0),
    # Offline RL (runner/metrics/rl.py): the run's signature says env id, episodes, seeds, target return.
    MetricDef("normalized_return", "max", "rollout", "normalized return", digits=1, tolerance=10.0,
              definition="100 x (mean episode return - random policy's) / (expert behaviour policy's - random "
              "policy's), greedy rollouts on fixed seeds (the run's signature names env, episodes, seeds, target)"),
    MetricDef("episode_return", "max", "rollout", "return", digits=1, tolerance=25.0,
              definition="mean undiscounted episode return of greedy rollouts on fixed seeds (the run's signature "
              "names env, episodes, seeds, target return)"),
    MetricDef("wer", "min", "decoded", "WER", percent=True, digits=2, tolerance=0.02),
    MetricDef("cer", "min", "decoded", "CER", percent=True, digits=2, tolerance=0.02),
    MetricDef("bits_per_dim", "min", "token_stats", "bits/dim", digits=3, tolerance=0.05,
              definition="NLL nats / (ln 2 x dims) over the whole test split (dims = every predicted pixel channel)"),
    MetricDef("accuracy_per_sequence", "max", "decoded", "per-sequence accuracy", percent=True, digits=2,
              tolerance=0.02,
              definition="decoded exact match: fraction of test examples whose decoded token ids equal the "
              "target ids (EOS and pad stripped)"),
    MetricDef("rouge_2", "max", "decoded", "ROUGE-2", digits=2, tolerance=1.0),
    MetricDef("rouge_l", "max", "decoded", "ROUGE-L", digits=2, tolerance=1.0),
    MetricDef("rouge_1", "max", "decoded", "ROUGE-1", digits=2, tolerance=1.0),
    MetricDef("accuracy", "max", "token_stats", "accuracy", percent=True, digits=2, tolerance=0.01,
              definition="top-1 accuracy (argmax of the logits == target) over every non-pad target position of "
              "the test split: the class of each image for classification; teacher-forced tokens for sequences"),
    MetricDef("accuracy_top5", "max", "token_stats", "top-5 accuracy", percent=True, digits=2, tolerance=0.01,
              definition=f"target among the 5 highest logits {_TOKEN_SCOPE}"),
    MetricDef("neg_log_perplexity", "max", "token_stats", "neg. log perplexity", tolerance=0.05,
              definition=f"minus the mean NLL per target token in nats {_TOKEN_SCOPE}"),
    MetricDef("loss", "min", "token_stats", "loss", tolerance=0.05,
              definition=f"mean label-smoothed cross-entropy per target token in nats {_TOKEN_SCOPE}"),
]}

# Always computed at a teacher-forced eval, whatever the problem lists.
DEFAULT_TOKEN_METRICS = ("loss", "neg_log_perplexity", "accuracy")

# name -> "max" | "min" (the form specs and records check names against).
METRIC_MODES: dict[str, str] = {name: m.mode for name, m in TABLE.items()}


def unknown_metric_message(name: str) -> str:
    """The one message for a metric name that is not in the table."""
    return f"unknown metric '{name}'{did_you_mean(name, TABLE)} (known: {', '.join(sorted(TABLE))})"


def _known(name: str) -> str:
    if name not in TABLE:
        raise ValueError(unknown_metric_message(name))
    return name


# A spec field holding a metric name: checked when the spec is validated, so `metrics: [acuracy]`
# is a located exit-2 error from `runner validate`, not a traceback at train time.
MetricName = Annotated[str, AfterValidator(_known)]
