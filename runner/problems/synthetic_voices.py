"""More voices, made honestly: digit strings spoken by the espeak-ng speech synthesizer.

espeak-ng (a system package: `apt-get install -y espeak-ng`) speaks any text in dozens of
voices and variants at any rate and pitch. `generate` draws digit strings like FSDD's
utterances (same digit counts), speaks each with a random voice, rate and pitch, and resamples
the result to the problem's sample rate (band-limited, by FFT). speech_sources adds these to
the TRAINING split only: the eval and test splits stay recorded human speakers, so a score
never rewards sounding like the synthesizer. Same seed, options and espeak-ng version: same audio.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from runner.problems.audio import AudioError, read_wav
from runner.problems.spoken_digits import DIGIT_WORDS, Utterance
from runner.specs.errors import SpecError

PROGRAM = "espeak-ng"
SPEAKER_PREFIX = "espeak-ng:"  # the speaker name of every synthetic utterance starts with this
_FIELD = "problem.synthetic_voices"
_SPLIT_CODE = 3  # the generation RNG's stream, apart from FSDD's train/eval/test streams


def program() -> str:
    """The espeak-ng executable, or one clear error naming the package to install."""
    found = shutil.which(PROGRAM)
    if found is None:
        raise SpecError(f"problem.synthetic_voices needs the '{PROGRAM}' program, which is not installed; install "
                        f"the system package (Debian/Ubuntu: apt-get install -y {PROGRAM}) or remove "
                        "problem.synthetic_voices", field=_FIELD)
    return found


def engine_version() -> str:
    """`espeak-ng --version` (part of the data cache's fingerprint: another version speaks differently)."""
    done = subprocess.run([program(), "--version"], capture_output=True, text=True, timeout=30)
    return " ".join(done.stdout.split()[:5]) or f"{PROGRAM} (unknown version)"


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling by FFT: keep the frequencies below both Nyquists."""
    if rate == target_rate:
        return samples.astype(np.float32)
    out_length = max(1, int(round(samples.size * target_rate / rate)))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    kept = np.zeros(out_length // 2 + 1, dtype=complex)
    n = min(kept.size, spectrum.size)
    kept[:n] = spectrum[:n]
    return (np.fft.irfft(kept, out_length) * (out_length / samples.size)).astype(np.float32)


def speak(text: str, voice: str, rate_wpm: int, pitch: int, sample_rate: int, folder: Path) -> np.ndarray:
    """`text` spoken by espeak-ng, as float samples at `sample_rate`."""
    out = folder / "speech.wav"
    command = [program(), "-v", voice, "-s", str(rate_wpm), "-p", str(pitch), "-w", str(out), text]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SpecError(f"{PROGRAM} took over 60 s to speak {text!r} with voice '{voice}'", field=_FIELD) from None
    if done.returncode != 0 or not out.is_file():
        why = " ".join((done.stderr or done.stdout).split()) or f"exit status {done.returncode}"
        raise SpecError(f"{PROGRAM} could not speak with voice '{voice}': {why}; list the voices with "
                        f"`{PROGRAM} --voices=en`", field=f"{_FIELD}.voices")
    try:
        samples, rate = read_wav(out)
    except AudioError as exc:
        raise SpecError(f"{PROGRAM} wrote unreadable audio for voice '{voice}': {exc}", field=_FIELD) from None
    return resample(samples, rate, sample_rate)


def generate(options, count: int, sample_rate: int, min_digits: int, max_digits: int, seed: int) -> Iterator[Utterance]:
    """`count` synthetic digit-string utterances (options: a SyntheticVoices spec)."""
    program()
    rng = np.random.default_rng([seed, _SPLIT_CODE])
    with tempfile.TemporaryDirectory(prefix="runner-espeak-") as tmp:
        for _ in range(count):
            digits = rng.integers(10, size=rng.integers(min_digits, max_digits + 1))
            voice = options.voices[rng.integers(len(options.voices))]
            rate = int(round(rng.uniform(*options.rate_wpm)))
            pitch = int(round(rng.uniform(*options.pitch)))
            transcript = " ".join(DIGIT_WORDS[d] for d in digits)
            # Commas make espeak-ng pause between digits, as FSDD utterances have silences between takes.
            samples = speak(", ".join(DIGIT_WORDS[d] for d in digits), voice, rate, pitch, sample_rate, Path(tmp))
            peak = float(np.abs(samples).max(initial=0.0))
            if peak > 0.99:  # resampling can overshoot; keep the cached int16 unclipped
                samples = samples * (0.99 / peak)
            yield Utterance(samples, transcript, f"{SPEAKER_PREFIX}{voice}")
