"""Spec of speech recognition problems (WAV audio -> transcript). Torch-free.

Where audio comes from (`source`), in the text families' order: a local folder when
`source.path` exists, else a hub dataset (`source.hub`). A local folder holds either
LibriSpeech-layout transcripts beside WAV files (`layout: librispeech`), or FSDD single-digit
recordings from which multi-digit utterances are generated (`layout: fsdd`, see
`utterances`). Features are computed when batches are made, so `features` (and `metrics`,
`max_length`) can change without regenerating the cached waveforms.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from runner.problems.text_spec import HubSource, SplitName, _require_all_splits
from runner.specs.base import Spec, added_field
from runner.specs.problem_base import ProblemSpec


class SpeechHubSource(HubSource):
    """A hub speech dataset (e.g. openslr/librispeech_asr): an audio column and a transcript column."""

    target_field: str = Field("text", description="Field holding the transcript.")
    audio_field: str = Field("audio", description="Field holding the audio (a `datasets` Audio feature).")
    speaker_field: str | None = Field("speaker_id", description="Field naming the speaker; null if none.")


class SpeechSource(Spec):
    """A local folder (tried first when `path` exists) and/or a hub dataset (the fallback)."""

    path: str | None = Field(
        None, description="Local folder; relative paths resolve against the working directory, then the "
        "repository root. When it does not exist, `hub` is used.")
    layout: Literal["librispeech", "fsdd"] = Field(
        "librispeech",
        description="librispeech: per split a folder (see `splits`) holding `*.trans.txt` files of "
        "'UTTERANCE_ID transcript' lines with UTTERANCE_ID.wav beside each (LibriSpeech's layout with WAV "
        "audio; the speaker is the ID's first '-' part). fsdd: one folder of {digit}_{speaker}_{index}.wav "
        "recordings, joined into utterances as `utterances` says.")
    splits: dict[SplitName, str] = Field(
        default_factory=lambda: {"train": "train", "eval": "dev", "test": "test"},
        description="librispeech layout: the sub-folder of `path` for each split; 'a+b' joins several, in "
        "order (T2T's 960 h librispeech trains on train-clean-100+train-clean-360+train-other-500).")
    hub: SpeechHubSource | None = None

    @model_validator(mode="after")
    def _usable(self) -> "SpeechSource":
        if self.path is None and self.hub is None:
            raise ValueError("source needs a local `path`, a `hub` dataset, or both")
        if self.layout == "fsdd" and self.hub is not None:
            raise ValueError("layout 'fsdd' generates utterances from a local folder; remove source.hub")
        _require_all_splits(self.splits, "source.splits")
        return self


class DigitUtterances(Spec):
    """How multi-digit utterances are generated from FSDD takes (layout: fsdd)."""

    min_digits: int = Field(1, ge=1, description="Fewest digits in an utterance.")
    max_digits: int = Field(7, ge=1, le=50, description="Most digits in an utterance.")
    silence_ms: tuple[float, float] = Field(
        (50.0, 150.0), description="[low, high]: each gap (and the lead-in and tail) is U[low, high] ms of silence.")
    train: int = Field(5000, ge=1, description="Training utterances.")
    eval: int = Field(300, ge=1, description="Eval utterances (training speakers' held-out takes).")
    test: int = Field(500, ge=1, description="Test utterances (the test speakers only).")
    eval_takes_per_digit: int = Field(
        4, ge=1, description="Per training speaker and digit, the lowest-index takes kept out of training for eval.")
    speed_perturbation: float = Field(
        0.0, ge=0.0, lt=0.5,
        description="Training utterances only: each take plays at a random speed in [1-s, 1+s] (pitch and tempo).")
    seed: int = Field(1, ge=0, description="Generation seed; the same seed and files give the same audio.")

    @model_validator(mode="after")
    def _ranges(self) -> "DigitUtterances":
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits ({self.min_digits}) exceeds max_digits ({self.max_digits})")
        low, high = self.silence_ms
        if not 0 <= low <= high:
            raise ValueError(f"silence_ms must be [low, high] with 0 <= low <= high, got {list(self.silence_ms)}")
        return self


class AudioFeatures(Spec):
    """Log-mel filterbank features, computed in torch when a batch is made (runner/problems/audio.py)."""

    num_mel_bins: int = Field(80, ge=1, description="Mel filters (the model's input width).")
    frame_length_ms: float = Field(25.0, gt=0, description="Analysis window (Hann).")
    frame_step_ms: float = Field(10.0, gt=0, description="Hop between frames; batch_size counts these frames.")
    lower_edge_hz: float = Field(20.0, ge=0, description="Lowest filter edge.")
    upper_edge_hz: float = Field(0.0, ge=0, description="Highest filter edge; 0 = Nyquist (sample_rate / 2).")
    preemphasis: float = Field(0.97, ge=0, lt=1, description="y[t] = x[t] - p * x[t-1] before the STFT; 0 = off.")
    log_floor: float = Field(1e-6, gt=0, description="log(max(mel energy, floor)): silence stays finite.")
    normalize: Literal["utterance", "per_bin", "none"] = Field(
        "utterance", description="Per-utterance mean/variance normalisation over real frames: 'utterance' one "
        "mean/variance for all bins (removes gain, keeps the spectral shape: for short utterances), 'per_bin' "
        "classic CMVN per mel bin (for long utterances, where the average spectrum is the channel), 'none'.")


def _ordered_pair(pair: tuple[float, float], name: str) -> None:
    low, high = pair
    if low > high:
        raise ValueError(f"{name} must be [low, high] with low <= high, got {list(pair)}")


class VoiceAugmentation(Spec):
    """Train-time changes of the waveform that make a new voice or room (runner/problems/voice_augment.py).

    Applied to training batches only, before features are computed, each enabled change to an
    utterance with probability `probability`; the draws come from a generator seeded by the
    micro-batch's place in the data stream (runner/training/stream.py), so a resumed run draws
    exactly what an unbroken one would, on whichever thread collates the batch.
    Every change is off at its default; eval and test audio are never changed.
    """

    probability: float = Field(1.0, gt=0.0, le=1.0, description="Chance that each enabled change is applied "
                               "to an utterance (drawn per utterance and per change).")
    speed: float = Field(0.0, ge=0.0, lt=0.5, description="Play at a random speed in [1-s, 1+s]: tempo and pitch "
                         "together, the length changes (Kaldi's speed perturbation); 0 = off.")
    pitch_semitones: float = Field(0.0, ge=0.0, le=12.0, description="Shift the pitch by U[-n, n] semitones, "
                                   "keeping the length (phase-vocoder stretch, then resampling); 0 = off.")
    volume_db: float = Field(0.0, ge=0.0, le=40.0, description="Scale by a gain of U[-g, g] dB; 0 = off.")
    noise_snr_db: tuple[float, float] | None = Field(
        None, description="[low, high]: add locally generated noise (white to brown: a random spectral slope) at "
        "a signal-to-noise ratio of U[low, high] dB over the utterance; null = off.")
    reverb_rt60_s: tuple[float, float] | None = Field(
        None, description="[low, high]: convolve with a synthetic room response (a direct path and exponentially "
        "decaying noise reaching -60 dB after U[low, high] s); the length is kept; null = off.")

    @model_validator(mode="after")
    def _ranges(self) -> "VoiceAugmentation":
        if self.noise_snr_db is not None:
            _ordered_pair(self.noise_snr_db, "noise_snr_db")
            if not (-20.0 <= self.noise_snr_db[0] and self.noise_snr_db[1] <= 100.0):
                raise ValueError(f"noise_snr_db must lie within [-20, 100] dB, got {list(self.noise_snr_db)}")
        if self.reverb_rt60_s is not None:
            _ordered_pair(self.reverb_rt60_s, "reverb_rt60_s")
            if not (0.0 < self.reverb_rt60_s[0] and self.reverb_rt60_s[1] <= 2.0):
                raise ValueError(f"reverb_rt60_s must lie within (0, 2] seconds, got {list(self.reverb_rt60_s)}")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.speed or self.pitch_semitones or self.volume_db or self.noise_snr_db or self.reverb_rt60_s)


class SyntheticVoices(Spec):
    """Digit strings spoken by espeak-ng's voices (layout fsdd), generated at datagen into the cache and
    added to the TRAINING split only: eval and test stay the recorded speakers."""

    utterances: int = Field(2000, ge=1, le=200000, description="Synthetic training utterances to add.")
    voices: list[str] = Field(
        default_factory=lambda: ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan",
                                 "en+f1", "en+f2", "en+f3", "en+f4", "en+m1", "en+m3", "en+m7", "en+klatt"],
        min_length=1, description="espeak-ng voice names (`espeak-ng --voices=en` lists them; '+variant' "
        "changes the speaker's character, e.g. en+f2).")
    rate_wpm: tuple[float, float] = Field((130.0, 210.0), description="[low, high]: speaking rate, words per minute.")
    pitch: tuple[float, float] = Field((20.0, 80.0), description="[low, high]: espeak-ng pitch, 0-99.")

    @model_validator(mode="after")
    def _ranges(self) -> "SyntheticVoices":
        _ordered_pair(self.rate_wpm, "rate_wpm")
        _ordered_pair(self.pitch, "pitch")
        if not (80.0 <= self.rate_wpm[0] and self.rate_wpm[1] <= 450.0):
            raise ValueError(f"rate_wpm must lie within [80, 450], got {list(self.rate_wpm)}")
        if not (0.0 <= self.pitch[0] and self.pitch[1] <= 99.0):
            raise ValueError(f"pitch must lie within [0, 99], got {list(self.pitch)}")
        bad = [v for v in self.voices if not v or not all(c.isalnum() or c in "-+_" for c in v)]
        if bad:
            raise ValueError(f"voice name {bad[0]!r}: use espeak-ng's names (letters, digits, - + _), e.g. en+f2")
        return self


class SpeechProblem(ProblemSpec):
    """Speech recognition: audio in, transcript out, scored by WER/CER on decoded output."""

    family: Literal["speech"] = "speech"
    source: SpeechSource
    sample_rate: int = Field(
        16000, gt=0, description="Every WAV must be sampled at this rate; a file at another rate is an error "
        "naming it (nothing is resampled silently).")
    vocab: Literal["characters", "words"] = Field(
        "characters", description="Target units, from the training transcripts; ids 0/1/2 are <pad>/<EOS>/<unk>.")
    lowercase: bool = Field(True, description="Lowercase transcripts (LibriSpeech's are upper case).")
    test_speakers: list[str] = Field(
        default_factory=list,
        description="layout fsdd: speakers heard only in the test split (e.g. [theo]); required there.")
    utterances: DigitUtterances = DigitUtterances()
    features: AudioFeatures = AudioFeatures()
    augmentation: VoiceAugmentation | None = added_field(
        None, description="Train-time waveform changes that make new voices and rooms (speed, pitch, volume, "
        "noise, reverberation); null = none. Not part of the data cache: applied when batches are made.")
    synthetic_voices: SyntheticVoices | None = added_field(
        None, description="layout fsdd: add espeak-ng digit strings (many voices, rates, pitches) to the "
        "training split only; needs the espeak-ng program (apt-get install -y espeak-ng); null = none.")
    max_examples: int = Field(0, ge=0, description="Keep only the first N utterances of each split; 0 = all.")
    max_length: int = Field(
        0, ge=0, description="Longest training example in feature frames (or target tokens, if longer); 0 = no limit.")

    @model_validator(mode="after")
    def _consistent(self) -> "SpeechProblem":
        if self.source.layout == "fsdd" and not self.test_speakers:
            raise ValueError("layout 'fsdd' needs test_speakers (e.g. [theo]): the test split's voices must "
                             "never be heard in training")
        if self.source.layout != "fsdd" and self.synthetic_voices is not None:
            raise ValueError("synthetic_voices applies to layout 'fsdd' only (digit strings)")
        if self.source.layout != "fsdd" and self.test_speakers:
            raise ValueError("test_speakers applies to layout 'fsdd' only; other sources bring their own test split")
        nyquist = self.sample_rate / 2
        if self.features.upper_edge_hz > nyquist:
            raise ValueError(f"features.upper_edge_hz ({self.features.upper_edge_hz}) is above Nyquist "
                             f"({nyquist} Hz at sample_rate {self.sample_rate})")
        return self
