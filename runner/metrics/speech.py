"""Word and character error rates (jiwer) of DECODED transcripts against the references.

Computed only from what the model produced by greedy or beam decoding, never from
teacher-forced logits. Both are corpus-level: total edits (substitutions + deletions +
insertions) over the whole split divided by total reference words (characters), so long and
short utterances weigh by their length, as in every published WER.
"""

from __future__ import annotations

from importlib.metadata import version

import jiwer

from runner.metrics.base import DecodedOutputs, MetricValue


def _check(outputs: DecodedOutputs, name: str) -> None:
    if not outputs.references:
        raise ValueError(f"{name}: no decoded examples to score")
    empty = [i for i, ref in enumerate(outputs.references) if not ref.strip()]
    if empty:
        raise ValueError(f"{name}: reference {empty[0]} is empty ({len(empty)} in all); an error rate needs "
                         "words to divide by")


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """jiwer.wer over the corpus (a fraction: 0.05 = 5%; may exceed 1 with many insertions)."""
    return float(jiwer.wer(references, hypotheses))


def character_error_rate(references: list[str], hypotheses: list[str]) -> float:
    return float(jiwer.cer(references, hypotheses))


def _signature() -> str:
    # jiwer's default transform is the only normalization applied at scoring time: strip and
    # collapse whitespace, split on spaces; case and punctuation are kept. Whatever the problem
    # does to transcripts (e.g. lowercasing) happens at datagen, to references and training
    # targets alike, and is part of the spec_hash.
    return f"jiwer:{version('jiwer')}|corpus|decoded|norm:strip+collapse-spaces|case:kept|punct:kept"


def wer(outputs: DecodedOutputs) -> MetricValue:
    _check(outputs, "wer")
    return MetricValue(word_error_rate(outputs.references, outputs.hypotheses), _signature())


def cer(outputs: DecodedOutputs) -> MetricValue:
    _check(outputs, "cer")
    return MetricValue(character_error_rate(outputs.references, outputs.hypotheses), _signature())
