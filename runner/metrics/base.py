"""What metric functions receive and return. Plain Python: no torch, no metric libraries.

Three kinds of input, because metrics are computed three ways:
- `TokenStats`: sums gathered from teacher-forced logits (loss, perplexity, accuracy). Sums,
  not means, so shards from several batches or workers add up exactly.
- `DecodedOutputs`: what the model produced by decoding (greedy or beam search), beside the
  references. BLEU, ROUGE, WER and exact-match accuracy are computed from these and only
  these: a teacher-forced approximation is never reported under a decoded metric's name.
- `RolloutOutputs`: returns of a policy rolled out in its environment (offline RL).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass
class TokenStats:
    """Sums over non-pad target positions of one or more teacher-forced batches."""

    loss_sum: float = 0.0  # label-smoothed cross-entropy, the training objective
    nll_sum: float = 0.0  # plain negative log-likelihood (nats)
    tokens: int = 0  # non-pad target positions
    correct: int = 0  # positions where argmax == target
    correct_top5: int = 0  # positions where target is among the 5 highest logits

    def __add__(self, other: "TokenStats") -> "TokenStats":
        return TokenStats(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_list(self) -> list[float]:
        """The sums in a fixed order, e.g. to all-reduce them as one tensor."""
        return [float(getattr(self, f.name)) for f in fields(self)]

    @classmethod
    def from_list(cls, values: list[float]) -> "TokenStats":
        kwargs = {}
        for f, v in zip(fields(cls), values):
            kwargs[f.name] = int(round(v)) if f.type in ("int", int) else float(v)
        return cls(**kwargs)


@dataclass
class DecodedOutputs:
    """Decoded test output beside its references, all in the split's original order."""

    hypotheses: list[str]  # detokenized model output
    references: list[str]  # raw reference text (what sacreBLEU and ROUGE expect)
    hypothesis_ids: list[list[int]] = field(default_factory=list)  # EOS and pad stripped
    reference_ids: list[list[int]] = field(default_factory=list)  # EOS and pad stripped

    def __post_init__(self) -> None:
        if len(self.hypotheses) != len(self.references):
            raise ValueError(f"{len(self.hypotheses)} hypotheses but {len(self.references)} references; "
                             "decoded output and references must line up one to one")
        if len(self.hypothesis_ids) != len(self.reference_ids):
            raise ValueError(f"{len(self.hypothesis_ids)} decoded id sequences but "
                             f"{len(self.reference_ids)} reference id sequences")


@dataclass
class RolloutOutputs:
    """Returns of evaluation episodes of a policy, with the references that normalize them and
    the evaluation signature (env id, episodes, seeds, target return)."""

    returns: list[float]
    random_return: float  # mean return of the random policy on the same seeds
    expert_return: float  # mean return of the expert behaviour policy on the same seeds
    signature: str


@dataclass(frozen=True)
class MetricValue:
    """A number, and how it was computed when that matters for comparing it (sacreBLEU's signature)."""

    value: float
    signature: str | None = None
    std: float | None = None  # spread over episodes (rollout metrics), written as <name>_std
