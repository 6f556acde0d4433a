"""Datagen for text problems (T2T's --generate_data): read, train a vocabulary, encode, cache.

`build(spec, data_dir)` returns the cached data when its fingerprint matches, and otherwise
reads every split (so bad input fails before any slow step), trains the vocabulary on the
training split, encodes all splits on `num_workers` threads, and writes everything into a
folder that appears atomically. Raw eval/test targets are kept for BLEU/ROUGE.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runner.problems import cache
from runner.problems.base import SPLITS
from runner.problems.progress import datagen_progress
from runner.problems.ragged import flatten_with_eos, write_ragged
from runner.problems.sequence_data import SequenceData, vocab_file
from runner.problems.sources import ResolvedSource, SplitText, resolve_source
from runner.problems.text_spec import LanguageModelProblem, Text2TextProblem
from runner.problems.vocab import ByteVocab, SubwordVocab, encoding_threads
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)

ENCODE_CHUNK = 10_000  # sentences per encode_batch call: big enough for rayon, small for the progress bar

# Fields that cannot change the encoded data; leaving them out of the fingerprint means that
# editing them reuses the cache (max_length is applied when batching).
_NOT_IN_FINGERPRINT = {"description", "metrics", "max_length", "num_workers"}


def locate(spec: Text2TextProblem | LanguageModelProblem, data_dir: str | Path) -> cache.Located:
    """The text's source (local files, checked, or the hub) and this spec's cache folder."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    source = resolve_source(spec.source, spec.family == "text2text")
    spec_data = fingerprint_data(spec, source.kind)
    fp = cache.fingerprint(spec_data, cache.content_hashes(source.files, data_dir))
    return cache.Located(source, source.kind, source.description, spec_data, fp,
                         cache.cache_folder(data_dir, spec.name, fp))


def build(spec: Text2TextProblem | LanguageModelProblem, data_dir: str | Path) -> SequenceData:
    at = locate(spec, data_dir)
    two_sided = spec.family == "text2text"
    cache.ensure(at.folder, lambda: _generate(spec, at.plan, at.folder, at.fingerprint, at.spec_data, two_sided))
    return SequenceData(at.folder, spec.max_length)


def from_assets(spec: Text2TextProblem | LanguageModelProblem, folder: Path) -> SequenceData:
    """The problem's vocabularies from a run's data_assets/ folder (assets.py); no splits are read."""
    return SequenceData(folder, spec.max_length)


def fingerprint_data(spec: Text2TextProblem | LanguageModelProblem, source_kind: str) -> dict[str, Any]:
    """The part of the spec that determines the encoded data, for the source actually used.

    Local data is identified by file contents (hashed separately), so the folder's path and the
    unused hub fallback stay out; hub data is identified by name, config and revision.
    """
    data = spec.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT)
    source = data["source"]
    data["source"] = {"hub": source["hub"]} if source_kind == "hub" else {
        k: v for k, v in source.items() if k not in ("hub", "path")
    }
    return data


def _generate(spec, source: ResolvedSource, folder: Path, fp: str, spec_data: dict, two_sided: bool) -> None:
    started = time.perf_counter()
    log.info("datagen: %s from %s into %s", spec.name, source.description, folder)
    meta: dict[str, Any] = {"fingerprint": fp, "problem": spec.name, "family": spec.family,
                            "has_inputs": two_sided, "source": source.description, "spec": spec_data}
    with encoding_threads(spec.num_workers), cache.atomic_folder(folder, meta) as tmp, datagen_progress() as bar:
        step = bar.task(f"reading {source.description}", len(SPLITS))
        texts = {}
        for split in SPLITS:
            texts[split] = source.read(split, spec.max_examples)
            bar.advance(step, 1)
        if not texts["train"].targets:
            raise SpecError("the train split has no examples", field="problem.source")
        step = bar.task(f"training the {spec.vocab.type} vocabulary", 1)
        input_vocab, target_vocab = _make_vocabs(spec, texts["train"], two_sided)
        bar.advance(step, 1)
        shared = spec.vocab.shared or not two_sided
        meta["vocab"] = {"kind": spec.vocab.type, "shared": shared,
                         "input_size": input_vocab.size, "target_size": target_vocab.size}
        target_vocab.save(tmp / vocab_file("targets", shared))
        if not shared:
            input_vocab.save(tmp / vocab_file("inputs", shared))
        counts = {}
        for split in SPLITS:
            sides = [("inputs", texts[split].inputs, input_vocab)] if two_sided else []
            sides.append(("targets", texts[split].targets, target_vocab))
            for side, lines, vocab in sides:
                task = bar.task(f"encoding {split} {side}", len(lines))
                truncate = spec.truncate_inputs if side == "inputs" else 0
                counts[split] = write_ragged(tmp, f"{split}.{side}", _encoded_chunks(vocab, lines, bar, task, truncate))
            if split != "train":
                (tmp / f"references.{split}.json").write_text(
                    json.dumps(texts[split].targets, ensure_ascii=False), encoding="utf-8")
        seconds = time.perf_counter() - started
        sentences = sum(len(t.targets) + len(t.inputs or ()) for t in texts.values())
        meta.update(splits=counts, datagen_seconds=round(seconds, 3),
                    sentences_per_second=round(sentences / max(seconds, 1e-9), 1))
    log.info("datagen: %s done in %.1f s (%s)", spec.name, seconds, ", ".join(f"{k} {v}" for k, v in counts.items()))


def _make_vocabs(spec, train: SplitText, two_sided: bool):
    if spec.vocab.type == "byte":
        return ByteVocab(), ByteVocab()

    def train_on(*sides: list[str]) -> SubwordVocab:
        return SubwordVocab.train(_chunks(*sides), spec.vocab.size, spec.vocab.min_frequency,
                                  length=sum(len(s) for s in sides), where="problem.vocab.size")

    if not two_sided:
        vocab = train_on(train.targets)
        return vocab, vocab
    if spec.vocab.shared:
        vocab = train_on(train.inputs, train.targets)
        return vocab, vocab
    return train_on(train.inputs), train_on(train.targets)


def _chunks(*sides: list[str]) -> Iterator[list[str]]:
    for lines in sides:
        for i in range(0, len(lines), ENCODE_CHUNK):
            yield lines[i : i + ENCODE_CHUNK]


def _encoded_chunks(vocab, lines: list[str], bar, task, truncate: int = 0):
    for chunk in _chunks(lines):
        ids = vocab.encode_batch(chunk)
        if truncate:
            ids = [x[: truncate - 1] for x in ids]  # leave room for EOS
        yield flatten_with_eos(ids)
        bar.advance(task, len(chunk))
