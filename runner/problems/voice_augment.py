"""Train-time waveform changes that make a new voice or a new room, in torch.

SpecAugment (audio.spec_augment) hides parts of what a speaker said; these change HOW it was
said, so a model trained on three voices hears many more:

- `speed`: resample (tempo and pitch together, the length changes), Kaldi's speed perturbation.
- `pitch_shift`: a phase-vocoder time stretch by 2^(n/12), then resampling back to the
  original length: the pitch moves by n semitones, the timing and the loudness stay.
- `gain`: a volume change in dB.
- `add_noise`: noise made here (a Gaussian spectrum given a random slope, white to brown)
  scaled to a target signal-to-noise ratio over the utterance; no noise files are needed.
- `reverberate`: convolution with a synthetic room response: a direct path plus exponentially
  decaying noise that reaches -60 dB after RT60 seconds, energy-normalised; the length is kept.

`augment(samples, options, sample_rate, generator)` applies the enabled ones (VoiceAugmentation)
to one utterance. Every random draw comes from `generator`: the training loop gives each
micro-batch one seeded by its place in the data stream (runner/training/stream.py), so a resumed
run draws exactly what an unbroken one would, and the draw does not depend on which thread
collates the batch. No generator means torch's global RNG.
"""

from __future__ import annotations

import math

import torch

# Phase vocoder frames: 32 ms at 8 kHz (long enough to resolve a voice's harmonics), hop 1/4.
_PV_FFT = 256
_PV_HOP = 64


def _fast_size(n: int) -> int:
    """The next power of two: an FFT of a prime length (an utterance's may be) is many times slower."""
    return 1 << max(0, n - 1).bit_length()


def speed(samples: torch.Tensor, factor: float) -> torch.Tensor:
    """Play `factor` times faster by linear-interpolation resampling: ceil((n - 1) / factor) samples."""
    if factor == 1.0 or samples.numel() < 2:
        return samples
    positions = torch.arange(0.0, samples.numel() - 1, factor, dtype=torch.float64)
    left = positions.floor().long()
    frac = (positions - left).to(samples.dtype)
    return samples[left] * (1 - frac) + samples[left + 1] * frac


def time_stretch(samples: torch.Tensor, rate: float, length: int) -> torch.Tensor:
    """Phase-vocoder time stretch: `rate` > 1 is faster; the result is cut or padded to `length` samples."""
    window = torch.hann_window(_PV_FFT, dtype=samples.dtype)
    padded = torch.nn.functional.pad(samples, (0, max(0, _PV_FFT - samples.numel())))
    spectrum = torch.stft(padded, _PV_FFT, _PV_HOP, window=window, return_complex=True)  # [F, T]
    bins, frames = spectrum.shape
    steps = torch.arange(0.0, frames, rate, dtype=torch.float64)
    spectrum = torch.nn.functional.pad(spectrum, (0, 2))
    left = steps.floor().long()
    frac = (steps - left).to(samples.dtype)[None, :]
    # Magnitude and phase once per frame, then gathered: each frame is read twice (as the left and
    # the right neighbour of a step), and abs/angle are half the vocoder's cost.
    magnitudes, phases = spectrum.abs(), spectrum.angle()
    magnitude = (1 - frac) * magnitudes[:, left] + frac * magnitudes[:, left + 1]
    expected = torch.linspace(0, math.pi * _PV_HOP, bins, dtype=samples.dtype)[:, None]  # per-hop phase advance
    delta = phases[:, left + 1] - phases[:, left] - expected
    delta = delta - 2 * math.pi * torch.round(delta / (2 * math.pi))
    advance = delta + expected
    phase = torch.cat([phases[:, :1], advance[:, :-1]], dim=1).cumsum(dim=1)
    stretched = torch.polar(magnitude, phase)
    out = torch.istft(stretched, _PV_FFT, _PV_HOP, window=window, length=max(length, 1))
    return out[:length]


def pitch_shift(samples: torch.Tensor, semitones: float) -> torch.Tensor:
    """Shift the pitch by `semitones`, keeping the number of samples."""
    if semitones == 0.0:
        return samples
    factor = 2.0 ** (semitones / 12.0)
    n = samples.numel()
    slower = time_stretch(samples, 1.0 / factor, int(round(n * factor)) + 1)  # longer by `factor`, same pitch
    shifted = speed(slower, factor)  # back to ~n samples, pitch times `factor`
    shifted = torch.nn.functional.pad(shifted, (0, max(0, n - shifted.numel())))[:n]
    # The vocoder's phases are coherent within a bin, not across the bins of one harmonic, so
    # stretching loses up to ~4 dB (measured); a pitch shift should not change loudness.
    power = shifted.square().mean()
    return shifted * torch.sqrt(samples.square().mean() / power) if power > 0 else shifted


def gain(samples: torch.Tensor, db: float) -> torch.Tensor:
    return samples * (10.0 ** (db / 20.0))


def add_noise(samples: torch.Tensor, snr_db: float, slope: float,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Add noise with power spectrum ~ 1/f^slope (0 white, 1 pink, 2 brown) at `snr_db` dB
    below the utterance's mean power."""
    n = samples.numel()
    size = _fast_size(n)
    # White Gaussian noise drawn straight in the frequency domain (an independent complex Gaussian per
    # bin), which is what the FFT of white time-domain noise is: one transform fewer per utterance.
    white = torch.randn(size // 2 + 1, dtype=samples.dtype.to_complex(), generator=generator)
    freqs = torch.arange(white.numel(), dtype=samples.dtype).clamp(min=1.0)
    noise = torch.fft.irfft(white / freqs ** (slope / 2.0), size)[:n]
    signal_power = samples.square().mean()
    noise_power = noise.square().mean().clamp(min=1e-20)
    scale = torch.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return samples + noise * scale


def room_response(rt60_s: float, sample_rate: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A synthetic impulse response: 1 (the direct path), then Gaussian noise decaying by 60 dB over
    rt60_s, the whole normalised to unit energy."""
    length = max(2, int(rt60_s * sample_rate))
    t = torch.arange(length, dtype=torch.float32) / sample_rate
    tail = torch.randn(length, generator=generator) * torch.exp(-6.907755 * t / rt60_s) * 0.3  # ln(1000): -60 dB at rt60
    tail[0] = 1.0
    return tail / tail.square().sum().sqrt()


def reverberate(samples: torch.Tensor, response: torch.Tensor) -> torch.Tensor:
    """Convolve with `response` (FFT), keeping the first len(samples) samples."""
    n = samples.numel()
    size = _fast_size(n + response.numel() - 1)  # zero padding past the full convolution changes nothing
    out = torch.fft.irfft(torch.fft.rfft(samples, size) * torch.fft.rfft(response.to(samples.dtype), size), size)
    return out[:n]


def augment(samples: torch.Tensor, options, sample_rate: int,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """One training utterance (float [n]) changed as `options` (a VoiceAugmentation) says, in a fixed
    order: speed, pitch, reverberation, noise, volume. Each enabled change applies with probability
    options.probability. The same generator state gives the same result, draw for draw."""

    def coin() -> bool:
        return float(torch.rand((), generator=generator)) < options.probability

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator))

    x = samples
    if options.speed:
        apply, factor = coin(), uniform(1.0 - options.speed, 1.0 + options.speed)
        x = speed(x, factor) if apply else x
    if options.pitch_semitones:
        apply, semitones = coin(), uniform(-options.pitch_semitones, options.pitch_semitones)
        x = pitch_shift(x, semitones) if apply else x
    if options.reverb_rt60_s is not None:
        apply, rt60 = coin(), uniform(*options.reverb_rt60_s)
        if apply:
            x = reverberate(x, room_response(rt60, sample_rate, generator))
    if options.noise_snr_db is not None:
        apply, snr, slope = coin(), uniform(*options.noise_snr_db), uniform(0.0, 2.0)
        if apply:
            x = add_noise(x, snr, slope, generator)
    if options.volume_db:
        apply, db = coin(), uniform(-options.volume_db, options.volume_db)
        x = gain(x, db) if apply else x
    return x
