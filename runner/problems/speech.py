"""Datagen and batches for speech recognition problems (family `speech`).

`build(spec, data_dir)` reads (or generates) every utterance once and caches, per split,
the int16 waveforms back to back in `<split>.audio.bin` (+ offsets), the transcript ids as a
ragged array ending in EOS, and the normalised transcripts (the WER references). The cache
key is the spec's data fields plus the content hash of every source file (cache.py).

Log-mel features are computed in `collate`, batched in torch (audio.py), so feature settings
are not part of the cache key. `batch_size` counts FEATURE FRAMES (padded frames x rows, or
target tokens when those are longer), as T2T and fairseq count tokens for text.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runner.problems import batching, cache, speech_sources
from runner.problems.audio import frame_sizes, log_mel, num_frames, to_pcm16
from runner.problems.base import FIRST_REAL_ID, SPLITS, DataInfo, ProblemData, check_split_name
from runner.problems.ragged import Ragged, flatten_with_eos, write_ragged
from runner.problems.speech_spec import SpeechProblem
from runner.problems.vocab import strip_special
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)

UNK = "<unk>"
# Batching and feature settings do not change the cached audio or ids.
_NOT_IN_FINGERPRINT = {"description", "metrics", "max_length", "features", "augmentation"}


@dataclass(frozen=True)
class SpeechDataInfo(DataInfo):
    """DataInfo plus the width of each feature frame (the model's input size)."""

    feature_size: int = 0


class TranscriptVocab:
    """Characters or words of the training transcripts; id 2 is <unk>, tokens start at 3."""

    def __init__(self, tokens: list[str], unit: str):
        self.tokens, self.unit = tokens, unit
        self.size = len(tokens) + FIRST_REAL_ID + 1
        self._ids = {t: i + FIRST_REAL_ID + 1 for i, t in enumerate(tokens)}

    @classmethod
    def from_transcripts(cls, transcripts: list[str], unit: str) -> "TranscriptVocab":
        counts = Counter(t for text in transcripts for t in cls.split(text, unit))
        return cls(sorted(counts), unit)

    @staticmethod
    def split(text: str, unit: str) -> list[str]:
        return text.split() if unit == "words" else list(text)

    def encode(self, text: str) -> list[int]:
        unk = FIRST_REAL_ID
        return [self._ids.get(t, unk) for t in self.split(text, self.unit)]

    def decode(self, ids) -> str:
        pieces = [self.tokens[i - FIRST_REAL_ID - 1] if i > FIRST_REAL_ID else UNK for i in strip_special(ids)]
        return (" " if self.unit == "words" else "").join(pieces)


def normalize_transcript(text: str, lowercase: bool) -> str:
    text = " ".join(text.split())
    return text.lower() if lowercase else text


def locate(spec: SpeechProblem, data_dir: str | Path) -> cache.Located:
    """The audio's source (checked) and this spec's cache folder."""
    data_dir = Path(data_dir)
    plan = speech_sources.resolve(spec)
    spec_data = fingerprint_data(spec, plan.kind)
    fp = cache.fingerprint(spec_data, cache.content_hashes(plan.files, data_dir))
    return cache.Located(plan, plan.kind, plan.description, spec_data, fp, cache.cache_folder(data_dir, spec.name, fp))


def build(spec: SpeechProblem, data_dir: str | Path) -> "SpeechData":
    at = locate(spec, data_dir)
    cache.ensure(at.folder, lambda: _generate(spec, at.plan, at.folder, at.fingerprint, at.spec_data))
    return SpeechData(at.folder, spec)


def from_assets(spec: SpeechProblem, folder: Path) -> "SpeechData":
    """Transcript vocabulary from a run's data_assets/ folder (assets.py); features from the spec."""
    return SpeechData(folder, spec)


def fingerprint_data(spec: SpeechProblem, source_kind: str) -> dict[str, Any]:
    """Spec fields that determine the cached data; local files count by content, not path."""
    data = spec.model_dump(mode="json", exclude=_NOT_IN_FINGERPRINT)
    source = data["source"]
    data["source"] = {"hub": source["hub"]} if source_kind == "hub" else {
        k: v for k, v in source.items() if k not in ("hub", "path")}
    if source_kind != "fsdd":
        data.pop("utterances")
    if data.get("synthetic_voices") is None:  # caches made before the option existed keep their fingerprint
        data.pop("synthetic_voices", None)
    else:  # another espeak-ng version speaks differently: other data
        from runner.problems.synthetic_voices import engine_version

        data["synthetic_engine"] = engine_version()
    return data


class _AudioWriter:
    """int16 samples appended to `<split>.audio.bin`; offsets saved on close."""

    def __init__(self, folder: Path, split: str):
        self.folder, self.split = folder, split
        self.handle = open(folder / f"{split}.audio.bin", "wb")
        self.lengths: list[int] = []

    def append(self, samples: np.ndarray) -> None:
        self.handle.write(to_pcm16(samples).astype("<i2").tobytes())
        self.lengths.append(samples.size)

    def close(self) -> None:
        self.handle.close()
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        np.save(self.folder / f"{self.split}.audio_offsets.npy", offsets)


def _generate(spec: SpeechProblem, plan, folder: Path, fp: str, spec_data: dict) -> None:
    started = time.perf_counter()
    log.info("datagen: %s from %s into %s", spec.name, plan.description, folder)
    meta: dict[str, Any] = {"fingerprint": fp, "problem": spec.name, "family": spec.family,
                            "source": plan.description, "spec": spec_data, "sample_rate": spec.sample_rate}
    with cache.atomic_folder(folder, meta) as tmp:
        transcripts: dict[str, list[str]] = {}
        seconds = {}
        for split in SPLITS:  # audio first: every file is read (and checked) before any vocabulary work
            writer, texts, speakers = _AudioWriter(tmp, split), [], []
            for utterance in plan.read(split):
                writer.append(utterance.samples)
                texts.append(normalize_transcript(utterance.transcript, spec.lowercase))
                speakers.append(utterance.speaker)
            writer.close()
            if not texts:
                raise SpecError(f"the {split} split has no utterances", field="problem.source")
            transcripts[split] = texts
            seconds[split] = round(sum(writer.lengths) / spec.sample_rate, 1)
            (tmp / f"references.{split}.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
            (tmp / f"speakers.{split}.json").write_text(json.dumps(speakers, ensure_ascii=False), encoding="utf-8")
        vocab = TranscriptVocab.from_transcripts(transcripts["train"], spec.vocab)
        for split in SPLITS:
            write_ragged(tmp, f"{split}.targets", [flatten_with_eos([vocab.encode(t) for t in transcripts[split]])])
        meta.update(vocab={"unit": vocab.unit, "tokens": vocab.tokens},
                    splits={s: len(t) for s, t in transcripts.items()}, audio_seconds=seconds,
                    datagen_seconds=round(time.perf_counter() - started, 3))
    log.info("datagen: %s done in %.1f s (%s)", spec.name, time.perf_counter() - started,
             ", ".join(f"{s} {len(t)} utterances" for s, t in transcripts.items()))


class SpeechSplit(Sequence):
    """Examples {"audio": int16 samples (a view of the memory map), "targets": int32 ids + EOS,
    "augment": bool (the training split of a problem with augmentation)}."""

    def __init__(self, folder: Path, split: str, window: int, hop: int, augment: bool = False,
                 slowest: float = 1.0):
        """`slowest`: the lowest playback speed augmentation may draw (1 - augmentation.speed): batches are
        planned on each utterance's longest possible frame count, so a slowed utterance never takes
        a batch past its frame budget or an utterance past max_length."""
        self.augment = augment
        offsets = np.load(folder / f"{split}.audio_offsets.npy")
        self.audio = np.memmap(folder / f"{split}.audio.bin", dtype="<i2", mode="r", shape=(int(offsets[-1]),))
        self.offsets = offsets
        self.targets = Ragged.load(folder, f"{split}.targets")
        samples = np.diff(offsets)
        if slowest < 1.0:  # voice_augment.speed gives ceil((n - 1) / factor) samples
            samples = np.ceil(np.maximum(samples - 1, 0) / slowest).astype(np.int64)
        self.frame_lengths = num_frames(samples, window, hop).astype(np.int64)
        self.target_lengths = self.targets.lengths

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return {"audio": self.audio[self.offsets[index]: self.offsets[index + 1]], "targets": self.targets[index],
                "augment": self.augment}


class SpeechData(ProblemData):
    def __init__(self, folder: Path, spec: SpeechProblem):
        self.folder, self.spec = Path(folder), spec
        self.meta = cache.read_meta(self.folder)
        self.fingerprint: str = self.meta["fingerprint"]
        self.vocab = TranscriptVocab(self.meta["vocab"]["tokens"], self.meta["vocab"]["unit"])
        self.features = spec.features
        self.window, self.hop = frame_sizes(spec.sample_rate, spec.features.frame_length_ms,
                                            spec.features.frame_step_ms)
        self.info = SpeechDataInfo(input_vocab_size=0, target_vocab_size=self.vocab.size, input_kind="features",
                                   feature_size=spec.features.num_mel_bins)
        self._splits: dict[str, SpeechSplit] = {}
        self._logged_drops: set[tuple] = set()

    def split(self, name: str) -> SpeechSplit:
        check_split_name(name)
        if name not in self._splits:
            augment = name == "train" and self.spec.augmentation is not None and self.spec.augmentation.enabled
            slowest = 1.0 - self.spec.augmentation.speed if augment and self.spec.augmentation else 1.0
            self._splits[name] = SpeechSplit(self.folder, name, self.window, self.hop, augment, slowest)
        return self._splits[name]

    def batch_plan(self, split: str, batch_size: int, max_length: int, seed: int, epoch: int,
                   shuffle: bool) -> list[list[int]]:
        """Frame-bucketed batches: rows x max(frames, target tokens) <= batch_size; over-long
        training utterances (hparams or problem max_length, in frames) are dropped, never eval/test ones."""
        data = self.split(split)
        limits = [m for m in (max_length, self.spec.max_length) if m > 0]
        plan = batching.token_batches(data.frame_lengths, data.target_lengths, batch_size,
                                      min(limits) if limits else 0, seed, epoch, shuffle, drop_long=split == "train")
        if plan.dropped and (split, batch_size, tuple(limits)) not in self._logged_drops:
            self._logged_drops.add((split, batch_size, tuple(limits)))
            log.info("batching: dropped %d of %d %s utterances over max_length or the %d-frame budget",
                     plan.dropped, len(data), split, batch_size)
        return plan.batches

    @property
    def collate_ahead(self) -> bool:
        """Voice augmentation is the costly part of a step: collate it a step ahead (base.py)."""
        a = self.spec.augmentation
        return a is not None and a.enabled

    def collate(self, examples: Sequence[dict[str, np.ndarray]], rng=None) -> dict[str, Any]:
        """{"inputs": float [B, T, num_mel_bins] log-mel, "input_lengths": [B] frames,
        "targets": long [B, L] ids + EOS, padded with 0}. Training examples of a problem with
        `augmentation` are first changed as it says (voice_augment.py), drawing from `rng`, the
        generator the training loop gives each micro-batch from its place in the stream, so a
        resumed run draws what an unbroken one would (None: torch's global RNG)."""
        import torch

        # float32, as the features are: the same values as float64 would give them (int16 / 2^15 is
        # exact in both), and voice augmentation's FFTs run twice as fast as in float64.
        waves = [torch.from_numpy(ex["audio"].astype(np.float32) / np.float32(32768.0)) for ex in examples]
        if examples and examples[0].get("augment"):
            from runner.problems.voice_augment import augment

            waves = [augment(wave, self.spec.augmentation, self.spec.sample_rate, rng) for wave in waves]
        return self._batch(waves, examples)

    def _batch(self, waves: list, examples: Sequence[dict[str, np.ndarray]]) -> dict[str, Any]:
        import torch

        lengths = torch.tensor([w.numel() for w in waves], dtype=torch.int64)
        audio = torch.zeros((len(waves), max(int(lengths.max()) if len(waves) else 0, 1)), dtype=torch.float32)
        targets = np.zeros((len(examples), max((len(ex["targets"]) for ex in examples), default=0)), np.int64)
        for row, (wave, ex) in enumerate(zip(waves, examples)):
            audio[row, : wave.numel()] = wave
            targets[row, : len(ex["targets"])] = ex["targets"]
        f = self.features
        features, frames = log_mel(
            audio, lengths, self.spec.sample_rate,
            f.num_mel_bins, f.frame_length_ms, f.frame_step_ms, f.lower_edge_hz, f.upper_edge_hz,
            f.preemphasis, f.log_floor, f.normalize)
        return {"inputs": features, "input_lengths": frames, "targets": torch.from_numpy(targets)}

    def decode_text(self, ids) -> str:
        return self.vocab.decode(ids)

    def reference_texts(self, split: str) -> list[str]:
        check_split_name(split)
        return json.loads((self.folder / f"references.{split}.json").read_text(encoding="utf-8"))

    def speakers(self, split: str) -> list[str]:
        check_split_name(split)
        return json.loads((self.folder / f"speakers.{split}.json").read_text(encoding="utf-8"))
