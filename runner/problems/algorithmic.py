"""Generated symbol-sequence problems, as T2T's algorithmic.py, vectorized with numpy.

Each generator draws `n` examples from a seeded numpy Generator and returns them as ragged
arrays (flat symbols + lengths) of raw symbols 0..V-1; `build` shifts them to ids (+2), adds
EOS to both sides as T2T does, and caches them like any other problem. Lengths follow T2T:
uniform in 1..max_length for reverse/copy; for addition the two numbers share max_length.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from runner.problems import cache
from runner.problems.algorithmic_spec import AlgorithmicProblem
from runner.problems.base import FIRST_REAL_ID
from runner.problems.ragged import append_eos, write_ragged
from runner.problems.sequence_data import SequenceData

log = logging.getLogger(__name__)

Ragged = tuple[np.ndarray, np.ndarray]  # (flat symbols, lengths)
_NOT_IN_FINGERPRINT = {"description", "metrics", "max_length"}
_SPLIT_INDEX = {"train": 0, "eval": 1, "test": 2}  # each split draws from its own seeded stream


def _random_strings(rng: np.random.Generator, n: int, max_length: int, num_symbols: int) -> Ragged:
    lengths = rng.integers(1, max_length + 1, size=n)
    return rng.integers(0, num_symbols, size=int(lengths.sum())), lengths


def _positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every flat element: the start of its sequence, and its position inside it."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if lengths.size else lengths
    start_of = np.repeat(starts, lengths)
    return start_of, np.arange(int(lengths.sum())) - start_of


def reverse(rng: np.random.Generator, n: int, max_length: int, num_symbols: int) -> tuple[Ragged, Ragged]:
    flat, lengths = _random_strings(rng, n, max_length, num_symbols)
    start_of, pos = _positions(lengths)
    mirrored = start_of + np.repeat(lengths, lengths) - 1 - pos
    return (flat, lengths), (flat[mirrored], lengths)


def copy(rng: np.random.Generator, n: int, max_length: int, num_symbols: int) -> tuple[Ragged, Ragged]:
    flat, lengths = _random_strings(rng, n, max_length, num_symbols)
    return (flat, lengths), (flat.copy(), lengths.copy())


def copy_or_repeat_even(rng: np.random.Generator, n: int, max_length: int, num_symbols: int):
    """Half the examples (a seeded coin each) copy the input; the rest write every symbol at an
    even position (0, 2, 4, ...) twice: 'a b c d' -> 'a a b c c d'. The same input thus has two
    right answers, so a model must learn a distribution, not a function."""
    flat, lengths = _random_strings(rng, n, max_length, num_symbols)
    repeat = rng.random(n) < 0.5
    _, pos = _positions(lengths)
    counts = 1 + ((pos % 2 == 0) & np.repeat(repeat, lengths))
    target_lengths = lengths + np.where(repeat, (lengths + 1) // 2, 0)
    return (flat, lengths), (np.repeat(flat, counts), target_lengths)


def _random_numbers(rng: np.random.Generator, lengths: np.ndarray, base: int) -> np.ndarray:
    """Digits (lowest first) of numbers with the given digit counts, padded with zeros to one width.
    As in T2T, a number longer than one digit has a non-zero leading digit."""
    n, width = lengths.size, int(lengths.max(initial=1))
    digits = rng.integers(0, base, size=(n, width))
    digits[np.arange(width) >= lengths[:, None]] = 0
    leading = rng.integers(1, base, size=n)
    rows = np.arange(n)
    digits[rows, lengths - 1] = np.where(lengths > 1, leading, digits[rows, lengths - 1])
    return digits


def _add(a: np.ndarray, b: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise addition with carry of lower-endian digit matrices; returns (digits, lengths)."""
    width = max(a.shape[1], b.shape[1]) + 1
    a = np.pad(a, ((0, 0), (0, width - a.shape[1])))
    b = np.pad(b, ((0, 0), (0, width - b.shape[1])))
    out = np.zeros_like(a)
    carry = np.zeros(a.shape[0], dtype=a.dtype)
    for column in range(width):
        total = a[:, column] + b[:, column] + carry
        out[:, column], carry = total % base, total // base
    nonzero = out != 0
    last = width - 1 - np.argmax(nonzero[:, ::-1], axis=1)
    return out, np.where(nonzero.any(axis=1), last + 1, 1)  # zero is written as one digit


def _matrix_rows(matrix: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first lengths[i] entries of each row, back to back."""
    return matrix[np.arange(matrix.shape[1]) < lengths[:, None]]


def addition(rng: np.random.Generator, n: int, max_length: int, base: int) -> tuple[Ragged, Ragged]:
    """'a + b' -> a+b in base `base`, digits lowest first; '+' is symbol `base` (T2T's layout)."""
    len_a = rng.integers(0, max_length // 2, size=n) + 1
    len_b = rng.integers(0, max_length - len_a - 1) + 1  # the whole input fits in max_length
    a, b = _random_numbers(rng, len_a, base), _random_numbers(rng, len_b, base)
    total, total_lengths = _add(a, b, base)

    input_lengths = len_a + 1 + len_b
    col = np.arange(int(input_lengths.max(initial=1)))[None, :]
    from_a = np.take_along_axis(a, np.minimum(col, a.shape[1] - 1).repeat(n, 0), axis=1)
    b_col = np.clip(col - len_a[:, None] - 1, 0, b.shape[1] - 1)
    from_b = np.take_along_axis(b, b_col, axis=1)
    inputs = np.where(col < len_a[:, None], from_a, np.where(col == len_a[:, None], base, from_b))
    return (_matrix_rows(inputs, input_lengths), input_lengths), (_matrix_rows(total, total_lengths), total_lengths)


GENERATORS = {"reverse": reverse, "addition": addition, "copy": copy, "copy_or_repeat_even": copy_or_repeat_even}


def symbols(spec: AlgorithmicProblem) -> list[str]:
    names = [str(k) for k in range(spec.num_symbols)]
    return names + ["+"] if spec.generator == "addition" else names


def split_sizes(spec: AlgorithmicProblem) -> dict[str, tuple[int, int]]:
    """split -> (examples, longest input)."""
    return {"train": (spec.train_size, spec.train_length), "eval": (spec.eval_size, spec.eval_length),
            "test": (spec.test_size, spec.eval_length)}


def generate_split(spec: AlgorithmicProblem, split: str) -> tuple[Ragged, Ragged]:
    n, max_length = split_sizes(spec)[split]
    rng = np.random.default_rng([spec.seed, _SPLIT_INDEX[split]])
    return GENERATORS[spec.generator](rng, n, max_length, spec.num_symbols)


def locate(spec: AlgorithmicProblem, data_dir: str | Path) -> cache.Located:
    """Generated data (no source to find) and this spec's cache folder."""
    spec_data = spec.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT)
    fp = cache.fingerprint(spec_data)
    return cache.Located(None, "generated", f"generated ({spec.generator}, seed {spec.seed}; no download)", spec_data,
                         fp, cache.cache_folder(Path(data_dir), spec.name, fp))


def build(spec: AlgorithmicProblem, data_dir: str | Path) -> SequenceData:
    at = locate(spec, data_dir)
    cache.ensure(at.folder, lambda: _generate(spec, at.folder, at.fingerprint, at.spec_data))
    return SequenceData(at.folder, spec.max_length)


def from_assets(spec: AlgorithmicProblem, folder: Path) -> SequenceData:
    """The problem's alphabet from a run's data_assets/ folder (assets.py); no splits are read."""
    return SequenceData(folder, spec.max_length)


def _generate(spec: AlgorithmicProblem, folder: Path, fp: str, spec_data: dict) -> None:
    started = time.perf_counter()
    names = symbols(spec)
    meta = {"fingerprint": fp, "problem": spec.name, "family": spec.family, "has_inputs": True,
            "source": f"generator:{spec.generator}", "spec": spec_data,
            "vocab": {"kind": "symbols", "shared": True, "symbols": names,
                      "input_size": len(names) + FIRST_REAL_ID, "target_size": len(names) + FIRST_REAL_ID}}
    counts = {}
    with cache.atomic_folder(folder, meta) as tmp:
        for split in _SPLIT_INDEX:
            sides = dict(zip(("inputs", "targets"), generate_split(spec, split)))
            for side, (flat, lengths) in sides.items():
                counts[split] = write_ragged(tmp, f"{split}.{side}", [append_eos(flat + FIRST_REAL_ID, lengths)])
        meta.update(splits=counts, datagen_seconds=round(time.perf_counter() - started, 3))
    log.info("datagen: %s generated in %.1f s (%s)", spec.name, time.perf_counter() - started,
             ", ".join(f"{k} {v}" for k, v in counts.items()))
