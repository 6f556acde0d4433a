"""Audio in and features out: WAV reading, log-mel filterbanks, SpecAugment masking.

- `read_wav` reads PCM WAV with the stdlib `wave` module (no torchaudio, no soundfile) and
  refuses a file whose sample rate differs from the problem's: resampling silently would change
  what the model hears, so a mismatch is an error naming the file and both rates.
- `log_mel` computes features in torch, batched: pre-emphasis, Hann-windowed STFT
  (`torch.stft`, center=False so frame i covers exactly samples [i*hop, i*hop + win)), power
  spectrum, a triangular mel filterbank on the HTK mel scale (mel = 2595 log10(1 + f/700),
  unnormalised triangles of peak 1, as T2T's and Kaldi's fbank), log with a floor, then
  optional per-utterance mean/variance normalisation over the real frames.
- `spec_augment` masks random frequency bands and time spans (Park et al. 2019) and is meant
  to run at train time only (the speech model calls it when `self.training`).
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from runner.specs.errors import SpecError

PCM_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}  # sample width (bytes) -> numpy dtype


class AudioError(SpecError, ValueError):
    """An audio file that cannot be used as-is; the message names the file (bad input: exit 2)."""


def read_wav(path: str | Path | BinaryIO, expected_rate: int | None = None) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1], sample rate) of a PCM WAV file (a path or an open binary
    file); stereo is averaged to mono."""
    opened = path if hasattr(path, "read") else str(path)
    path = "<in-memory WAV>" if hasattr(path, "read") else Path(path)
    try:
        with wave.open(opened, "rb") as f:
            rate, width, channels, frames = f.getframerate(), f.getsampwidth(), f.getnchannels(), f.getnframes()
            raw = f.readframes(frames)
    except FileNotFoundError:
        raise AudioError(f"{path}: no such WAV file") from None
    except (wave.Error, EOFError, OSError, ValueError, struct.error, MemoryError) as exc:
        raise AudioError(f"{path}: cannot read as a WAV file ({exc or type(exc).__name__}); expected a PCM "
                         "RIFF/WAVE file") from None
    if width not in PCM_DTYPES:
        raise AudioError(f"{path}: {8 * width}-bit samples are not supported; expected 8, 16 or 32-bit PCM")
    if expected_rate is not None and rate != expected_rate:
        raise AudioError(
            f"{path}: sampled at {rate} Hz, but this problem expects {expected_rate} Hz (problem.sample_rate); "
            f"resample the file to {expected_rate} Hz or set problem.sample_rate={rate}"
        )
    samples = np.frombuffer(raw, dtype=PCM_DTYPES[width])
    if samples.size % channels:
        raise AudioError(f"{path}: truncated data ({samples.size} samples for {channels} channels)")
    samples = samples.reshape(-1, channels).astype(np.float32)
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        samples = (samples - 128.0) / 128.0
    else:
        samples = samples / float(2 ** (8 * width - 1))
    if samples.shape[0] == 0:
        raise AudioError(f"{path}: contains no audio samples")
    return samples.mean(axis=1), rate


def write_wav(path: str | Path | BinaryIO, samples: np.ndarray, rate: int) -> None:
    """Write float samples in [-1, 1] as 16-bit mono PCM to a path or binary file (tests, tools)."""
    pcm = to_pcm16(np.asarray(samples, dtype=np.float64)).astype("<i2")
    with wave.open(path if hasattr(path, "write") else str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())


def to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, how waveforms are stored in the datagen cache."""
    return np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)


# ----------------------------------------------------------------------------- frames

def frame_sizes(sample_rate: int, frame_length_ms: float, frame_step_ms: float) -> tuple[int, int]:
    """(window, hop) in samples."""
    window = int(round(sample_rate * frame_length_ms / 1000.0))
    hop = int(round(sample_rate * frame_step_ms / 1000.0))
    if window < 2 or hop < 1:
        raise ValueError(f"frame_length_ms={frame_length_ms} / frame_step_ms={frame_step_ms} give a window of "
                         f"{window} and a hop of {hop} samples at {sample_rate} Hz; both must be positive")
    return window, hop


def num_frames(num_samples: int | np.ndarray, window: int, hop: int) -> int | np.ndarray:
    """Frames of a signal: 1 + (n - window) // hop, and 1 for a signal shorter than one window
    (it is zero-padded to a window). Batching uses this to count frames without computing them."""
    n = np.maximum(np.asarray(num_samples) - window, 0)
    frames = 1 + n // hop
    return int(frames) if np.ndim(frames) == 0 else frames


# ----------------------------------------------------------------------------- mel filterbank

def hz_to_mel(hz: np.ndarray | float) -> np.ndarray | float:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray | float:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(num_bins: int, n_fft: int, sample_rate: int, lower_hz: float, upper_hz: float) -> torch.Tensor:
    """[n_fft // 2 + 1, num_bins] triangular filters, peak 1, centres equally spaced in mel.

    Filter m rises linearly from the centre of m-1 to its own centre and falls to the centre
    of m+1; each FFT bin's weight is the triangle evaluated at the bin's frequency.
    """
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_hz < upper_hz <= nyquist:
        raise ValueError(f"mel filterbank edges must satisfy 0 <= lower ({lower_hz}) < upper ({upper_hz}) <= "
                         f"Nyquist ({nyquist} Hz at {sample_rate} Hz)")
    edges = mel_to_hz(np.linspace(hz_to_mel(lower_hz), hz_to_mel(upper_hz), num_bins + 2))
    freqs = np.linspace(0.0, nyquist, n_fft // 2 + 1)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - left) / (centre - left)
    falling = (right - freqs[None, :]) / (right - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    empty = np.flatnonzero(weights.sum(axis=1) == 0)
    if empty.size:
        raise ValueError(f"{num_bins} mel bins are too many for a {n_fft}-point FFT at {sample_rate} Hz: "
                         f"filter(s) {empty.tolist()} cover no FFT bin; use fewer mel bins or longer frames")
    return torch.from_numpy(weights.T.astype(np.float32))


# ----------------------------------------------------------------------------- features

def log_mel(
    waveforms: torch.Tensor,
    lengths: torch.Tensor,
    sample_rate: int,
    num_mel_bins: int = 80,
    frame_length_ms: float = 25.0,
    frame_step_ms: float = 10.0,
    lower_edge_hz: float = 20.0,
    upper_edge_hz: float = 0.0,
    preemphasis: float = 0.97,
    log_floor: float = 1e-6,
    normalize: str = "utterance",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel features of a zero-padded batch of waveforms.

    waveforms [B, N] float, lengths [B] (real samples per row) -> (features [B, T, num_mel_bins],
    frame counts [B]). Frames past a row's own count are zeros. upper_edge_hz 0 means Nyquist.
    """
    window, hop = frame_sizes(sample_rate, frame_length_ms, frame_step_ms)
    waveforms = waveforms.float()
    if preemphasis:
        waveforms = torch.cat([waveforms[:, :1], waveforms[:, 1:] - preemphasis * waveforms[:, :-1]], dim=1)
    if waveforms.shape[1] < window:
        waveforms = torch.nn.functional.pad(waveforms, (0, window - waveforms.shape[1]))
    spectrum = torch.stft(
        waveforms, n_fft=window, hop_length=hop, win_length=window,
        window=torch.hann_window(window, periodic=True, device=waveforms.device),
        center=False, return_complex=True,
    )  # [B, window // 2 + 1, T]
    power = spectrum.real.square() + spectrum.imag.square()
    upper = upper_edge_hz or sample_rate / 2.0
    fbank = mel_filterbank(num_mel_bins, window, sample_rate, lower_edge_hz, upper).to(power.device)
    features = torch.log(torch.clamp(power.transpose(1, 2) @ fbank, min=log_floor))  # [B, T, M]

    frames = torch.as_tensor(num_frames(lengths.cpu().numpy(), window, hop), device=features.device)
    frames = frames.clamp(max=features.shape[1]).long()
    valid = (torch.arange(features.shape[1], device=features.device)[None, :] < frames[:, None])[..., None]
    if normalize != "none":
        # Statistics over an utterance's real frames: "utterance" one mean/variance over all
        # bins (removes loudness and recording gain, keeps the spectral shape), "per_bin" one per
        # mel bin (classic CMVN; it also removes the average spectrum, which over a long
        # utterance is the channel but over one or two words is much of what was said).
        dims = (1, 2) if normalize == "utterance" else (1,)
        count = frames[:, None, None].clamp(min=1).float() * (features.shape[2] if normalize == "utterance" else 1)
        mean = (features * valid).sum(dim=dims, keepdim=True) / count
        var = ((features - mean).square() * valid).sum(dim=dims, keepdim=True) / count
        features = (features - mean) / torch.sqrt(var + 1e-5)
    return features * valid, frames


def spec_augment(
    features: torch.Tensor,
    frames: torch.Tensor,
    freq_masks: int,
    freq_width: int,
    time_masks: int,
    time_width: int,
    time_ratio: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SpecAugment without time warping: `freq_masks` bands of width U[0, freq_width] and
    `time_masks` spans of width U[0, min(time_width, time_ratio * frames)] set to 0 (the
    utterance mean after normalisation). features [B, T, F], frames [B]; returns a new tensor."""
    batch, length, bins = features.shape
    device = features.device
    keep = torch.ones(batch, length, bins, dtype=torch.bool, device=device)

    def uniform(high: torch.Tensor) -> torch.Tensor:  # integers in [0, high], per row
        return (torch.rand(high.shape, generator=generator, device=device) * (high + 1).float()).floor().long()

    bin_index = torch.arange(bins, device=device)[None, :]
    for _ in range(freq_masks):
        width = uniform(torch.full((batch,), min(freq_width, bins), device=device))
        start = uniform(bins - width)
        band = (bin_index >= start[:, None]) & (bin_index < (start + width)[:, None])
        keep &= ~band[:, None, :]
    frame_index = torch.arange(length, device=device)[None, :]
    limit = torch.minimum(torch.full_like(frames, time_width), (frames.float() * time_ratio).floor().long())
    for _ in range(time_masks):
        width = uniform(limit)
        start = uniform((frames - width).clamp(min=0))
        span = (frame_index >= start[:, None]) & (frame_index < (start + width)[:, None])
        keep &= ~span[:, :, None]
    return features * keep

