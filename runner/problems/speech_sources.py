"""Where speech problems read audio: a LibriSpeech-layout folder, FSDD takes, or a hub dataset.

Each source resolves to a `SpeechSourcePlan`: which files to hash into the cache fingerprint,
and `read(split)`, an iterator of `Utterance`s (float samples, transcript, speaker) that
datagen writes to disk one at a time, so a large split never sits in memory. The local folder
is tried first and the hub is the fallback, as for text problems (runner/problems/sources.py);
bad input is an error naming the file and line.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runner.problems import spoken_digits
from runner.problems.audio import AudioError, read_wav
from runner.problems.base import SPLITS
from runner.problems.local_or_hub import choose
from runner.problems.speech_spec import SpeechHubSource, SpeechProblem
from runner.problems.spoken_digits import Utterance
from runner.specs.errors import SpecError

log = logging.getLogger(__name__)


@dataclass
class SpeechSourcePlan:
    kind: str  # "fsdd", "local" or "hub"
    description: str
    files: list[Path] = field(default_factory=list)
    read: Callable[[str], Iterator[Utterance]] = None


def resolve(spec: SpeechProblem) -> SpeechSourcePlan:
    source = spec.source
    folder = choose(source, "audio")
    if folder is not None and not folder.is_dir():
        raise SpecError(f"'{folder}' is a file; source.path must be a folder", field="problem.source.path")
    if folder is not None and source.layout == "fsdd":
        return _fsdd(spec, folder)
    if folder is not None:
        return _librispeech_folder(spec, folder)
    return SpeechSourcePlan("hub", f"hub:{source.hub.dataset}", [], lambda split: _hub_utterances(spec, split))


# ----------------------------------------------------------------------------- FSDD takes -> utterances

def _fsdd(spec: SpeechProblem, folder: Path) -> SpeechSourcePlan:
    takes = spoken_digits.scan_takes(folder)
    u = spec.utterances
    by_split = spoken_digits.split_takes(takes, spec.test_speakers, u.eval_takes_per_digit)
    counts = {"train": u.train, "eval": u.eval, "test": u.test}
    audio: dict[Path, np.ndarray] = {}

    def read(split: str) -> Iterator[Utterance]:
        if not audio:
            audio.update(spoken_digits.load_audio(takes, spec.sample_rate))
        count = min(counts[split], spec.max_examples) if spec.max_examples else counts[split]
        yield from spoken_digits.generate(
            by_split[split], audio, split, count, spec.sample_rate, u.min_digits, u.max_digits, u.silence_ms,
            u.speed_perturbation if split == "train" else 0.0, u.seed)
        if split == "train" and spec.synthetic_voices is not None:  # never eval or test: those stay human
            from runner.problems import synthetic_voices

            yield from synthetic_voices.generate(spec.synthetic_voices, spec.synthetic_voices.utterances,
                                                 spec.sample_rate, u.min_digits, u.max_digits, u.seed)

    return SpeechSourcePlan("fsdd", f"fsdd:{folder}", [t.path for t in takes], read)


# ----------------------------------------------------------------------------- LibriSpeech layout

def _transcript_lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, utterance id, transcript) of a `*.trans.txt` file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read transcript file: {exc}") from None
    entries = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        utterance_id, _, transcript = line.strip().partition(" ")
        if not transcript.strip():
            raise SpecError(f"{path}:{lineno}: expected 'UTTERANCE_ID transcript', got {line.strip()!r}")
        entries.append((lineno, utterance_id, transcript.strip()))
    return entries


def _scan_split(folder: Path, split: str) -> list[tuple[Path, str, str]]:
    """(wav path, transcript, speaker) for every utterance of one split folder."""
    if not folder.is_dir():
        raise SpecError(f"missing {split} split: no folder {folder}", field=f"problem.source.splits.{split}")
    transcript_files = sorted(folder.rglob("*.trans.txt"))
    if not transcript_files:
        raise SpecError(f"{folder}: no *.trans.txt transcript files (expected LibriSpeech layout: "
                        "'UTTERANCE_ID transcript' lines, UTTERANCE_ID.wav beside the file)")
    items, described = [], set()
    for trans in transcript_files:
        for lineno, utterance_id, transcript in _transcript_lines(trans):
            wav = trans.parent / f"{utterance_id}.wav"
            if not wav.is_file():
                raise SpecError(f"{trans}:{lineno}: transcript for '{utterance_id}' but no audio file {wav}")
            items.append((wav, transcript, utterance_id.split("-")[0]))
            described.add(wav)
    for folder_with_text in sorted({t.parent for t in transcript_files}):
        for wav in sorted(folder_with_text.glob("*.wav")):
            if wav not in described:
                raise SpecError(f"{wav}: missing transcript: no line '{wav.stem} ...' in the *.trans.txt "
                                f"file(s) of {folder_with_text}")
    return items


def _parts(spelled: str) -> list[str]:
    """'a+b' -> ['a', 'b']: one split made of several folders or hub splits, in order."""
    return [part.strip() for part in spelled.split("+")]


def _librispeech_folder(spec: SpeechProblem, root: Path) -> SpeechSourcePlan:
    scanned = {split: [item for part in _parts(spec.source.splits[split]) for item in _scan_split(root / part, split)]
               for split in SPLITS}
    files = sorted({p for items in scanned.values() for wav, _, _ in items
                    for p in (wav, *wav.parent.glob("*.trans.txt"))})

    def read(split: str) -> Iterator[Utterance]:
        items = scanned[split][: spec.max_examples or None]
        for wav, transcript, speaker in items:
            yield Utterance(read_wav(wav, expected_rate=spec.sample_rate)[0], transcript, speaker)

    return SpeechSourcePlan("local", str(root), files, read)


# ----------------------------------------------------------------------------- hub

def decode_audio_bytes(data: bytes, where: str) -> tuple[np.ndarray, int]:
    """Samples and rate of encoded audio: WAV with the stdlib, other formats with `soundfile`."""
    if data[:4] == b"RIFF":
        try:
            return read_wav(io.BytesIO(data))
        except AudioError as exc:
            raise AudioError(f"{where}: {exc}") from None
    try:
        import soundfile
    except ImportError:
        raise AudioError(f"{where}: the audio is not WAV (it starts with {data[:4]!r}, e.g. FLAC); decoding it needs "
                         "the `soundfile` package (pip install soundfile), or convert the dataset to WAV files in "
                         "LibriSpeech layout and point problem.source.path at them") from None
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples.mean(axis=1), int(rate)


def _hub_utterances(spec: SpeechProblem, split: str) -> Iterator[Utterance]:
    import datasets

    from runner.problems.hub import load_hub_dataset

    hub: SpeechHubSource = spec.source.hub
    data = load_hub_dataset(hub)
    hub_split = hub.splits[split]
    parts = _parts(hub_split)  # 'a+b': several hub splits joined, in order
    for part in parts:
        if part not in data:
            raise SpecError(f"hub dataset '{hub.dataset}' has no split '{part}' (it has: {', '.join(data)})",
                            field=f"problem.source.hub.splits.{split}")
    dataset = data[parts[0]] if len(parts) == 1 else datasets.concatenate_datasets([data[p] for p in parts])
    for name in (hub.audio_field, hub.target_field, hub.speaker_field):
        if name is not None and name not in dataset.column_names:
            raise SpecError(f"hub dataset '{hub.dataset}' split '{hub_split}' has no field '{name}' "
                            f"(it has: {', '.join(dataset.column_names)})", field="problem.source.hub")
    if spec.max_examples:
        dataset = dataset.select(range(min(spec.max_examples, len(dataset))))
    # Undecoded bytes: decoding through `datasets` needs torchcodec; WAV needs nothing extra.
    dataset = dataset.cast_column(hub.audio_field, datasets.Audio(decode=False))
    for i, row in enumerate(dataset):
        where = f"hub dataset '{hub.dataset}' split '{hub_split}' record {i + 1}"
        audio = row[hub.audio_field]
        data_bytes = audio.get("bytes") or (Path(audio["path"]).read_bytes() if audio.get("path") else None)
        if not data_bytes:
            raise SpecError(f"{where}: field '{hub.audio_field}' holds no audio")
        samples, rate = decode_audio_bytes(data_bytes, where)
        if rate != spec.sample_rate:
            raise AudioError(f"{where}: sampled at {rate} Hz, but this problem expects {spec.sample_rate} Hz "
                             f"(problem.sample_rate); set problem.sample_rate={rate}")
        speaker = str(row[hub.speaker_field]) if hub.speaker_field else ""
        yield Utterance(samples, str(row[hub.target_field]), speaker)
