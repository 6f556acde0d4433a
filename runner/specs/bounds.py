"""Sane ranges for numbers in any spec, by field name, so that a typo is refused at validation.

A spec's own schema says what is *valid* (`gt=0`, `lt=1`); these say what is *sane* for every
schema at once, including models' and problems' own hparams: sizes like 2^70 pass a `gt=0`
check and then crash when the model is built, a learning rate of 1e30 trains to NaN. Each
limit is far beyond any real use (the README's bad-input section lists them).
"""

from __future__ import annotations

import re

MAX_INT = 2**31 - 1  # any integer (steps, seeds, counts)
MAX_FLOAT = 1e12  # any other number's magnitude

# (pattern on the field name, largest value, what it is). The first match wins.
RULES: tuple[tuple[re.Pattern, float, str], ...] = tuple(
    (re.compile(pattern), limit, what) for pattern, limit, what in (
        (r"^batch_size$", 1 << 24, "a batch size"),
        (r"^(train|eval|test)_size$|_examples$", 1 << 30, "a number of examples"),
        (r"(^|_)size$|_width$|_channels$|^max_length$|^extra_length$", 1 << 20, "a size or length"),
        (r"^num_|_layers$|_heads$|_experts$|_masks$|_branches$", 4096, "a count of layers, heads or experts"),
        (r"learning_rate_constant$|^lr$", 1e3, "a learning rate"),
        (r"^weight_decay$", 1.0, "a weight decay"),
        (r"^(cpus|gpus)_per_worker$", 4096, "a number of CPUs or GPUs"),
        (r"^workers$|_trials$", 65536, "a number of workers or trials"),
    )
)


def check(name: str, value: object) -> None:
    """Raise ValueError (pydantic turns it into a located message) if `value` is out of its sane range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    for pattern, limit, what in RULES:
        if pattern.search(name):
            if abs(value) > limit:
                raise ValueError(f"{_text(value)} is out of range for {what}: the largest accepted is {_text(limit)}")
            return
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise ValueError(f"{value} is out of range: integers in specs are at most {MAX_INT} (2^31 - 1)")
    if isinstance(value, float) and abs(value) > MAX_FLOAT:
        raise ValueError(f"{value:g} is out of range: numbers in specs are at most {MAX_FLOAT:g} in magnitude")


def _text(number: float) -> str:
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"
