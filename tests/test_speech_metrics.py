"""WER and CER: jiwer on decoded transcripts, hand-checked, and wired into the metric registry."""

import pytest

from runner import metrics
from runner.metrics.base import DecodedOutputs
from runner.metrics.speech import cer, wer


def outputs(references, hypotheses):
    return DecodedOutputs(hypotheses=hypotheses, references=references)


def test_wer_by_hand():
    # 'one two three' -> 'one too three': 1 substitution; 'four five' -> 'four five six': 1 insertion.
    # 2 edits over 5 reference words = 0.4 (corpus level, not the mean of 1/3 and 1/2).
    result = wer(outputs(["one two three", "four five"], ["one too three", "four five six"]))
    assert result.value == pytest.approx(0.4)
    assert result.signature.startswith("jiwer:") and "decoded" in result.signature
    assert "norm:strip+collapse-spaces|case:kept|punct:kept" in result.signature
    # ...and the signature tells the truth: spaces are normalized, case and punctuation are not.
    assert wer(outputs(["one two"], ["  one   two "])).value == 0.0
    assert wer(outputs(["one two"], ["One two."])).value == 1.0
    assert wer(outputs(["seven"], [""])).value == 1.0  # an empty hypothesis deletes every word


def test_cer_by_hand():
    # 'three' vs 'tree': one deletion over 5 characters.
    assert cer(outputs(["three"], ["tree"])).value == pytest.approx(0.2)


def test_registered_as_decoded_metrics():
    assert metrics.METRICS["wer"].needs == "decoded" and metrics.METRICS["cer"].needs == "decoded"
    values, signatures = metrics.compute_decoded_metrics(["wer", "cer"], outputs(["one two"], ["one two"]))
    assert values == {"wer": 0.0, "cer": 0.0} and set(signatures) == {"wer", "cer"}


def test_empty_reference_is_an_error():
    with pytest.raises(ValueError, match="reference 1 is empty"):
        wer(outputs(["one", " "], ["one", "two"]))
