"""Spectral centroid and spectral balance of a signal, from an averaged power spectrum.

The spectrum is accumulated (:class:`Spectrum`): each block's Hann-windowed,
half-overlapping 4096-point frames (a Welch estimate), power summed over the
channels given. Only ratios of it are reported, so its scale does not matter:

- spectral centroid (Hz): sum f P(f) / sum P(f), over every bin (DC to Nyquist);
- band balance (dB): each band's power relative to the total, 10 log10(P_band /
  P_total), for low (< 250 Hz), low_mid (250 Hz - 2 kHz), presence (2 - 6 kHz)
  and air (> 6 kHz); a band with no power at all reads FLOOR_DB (-120 dB), a
  finite floor, never -inf.

Silence (no power in any bin) gives None for both.
"""
from __future__ import annotations

import numpy as np

NFFT = 4096  # 11.7 Hz bins at 48 kHz
BANDS = (("low", 0.0, 250.0), ("low_mid", 250.0, 2000.0), ("presence", 2000.0, 6000.0),
         ("air", 6000.0, float("inf")))
FLOOR_DB = -120.0


class Spectrum:
    """Averaged power spectrum of (n, C) blocks (each block framed on its own)."""

    def __init__(self, fs: int, nfft: int = NFFT):
        self.fs, self.nfft = int(fs), int(nfft)
        self.freqs = np.fft.rfftfreq(self.nfft, 1.0 / self.fs)
        self.power = np.zeros(self.freqs.size)
        self.window = np.hanning(self.nfft + 2)[1:-1]

    def add(self, x: np.ndarray) -> None:
        """x: (n, C) samples of the channels to count (power summed over them)."""
        x = np.asarray(x, np.float64).reshape(x.shape[0], -1)
        n = x.shape[0]
        if n == 0:
            return
        if n < self.nfft:
            x = np.concatenate([x, np.zeros((self.nfft - n, x.shape[1]))])
            n = self.nfft
        hop = self.nfft // 2
        starts = range(0, n - self.nfft + 1, hop)
        for a in starts:
            frame = x[a:a + self.nfft] * self.window[:, None]
            spec = np.fft.rfft(frame, axis=0)
            self.power += (spec.real ** 2 + spec.imag ** 2).sum(axis=1)

    def merge(self, other: "Spectrum") -> None:
        self.power += other.power

    def centroid(self) -> float | None:
        return spectral_centroid(self.freqs, self.power)

    def balance(self) -> dict:
        return band_balance(self.freqs, self.power)


def spectral_centroid(freqs: np.ndarray, power: np.ndarray) -> float | None:
    """Power-weighted mean frequency (Hz); None when there is no power."""
    total = float(np.sum(power))
    if not total > 0.0:
        return None
    return float(np.sum(freqs * power) / total)


def band_balance(freqs: np.ndarray, power: np.ndarray) -> dict:
    """{band: dB relative to the total power} (module doc); every value None if silent."""
    total = float(np.sum(power))
    out = {}
    for name, lo, hi in BANDS:
        if not total > 0.0:
            out[name] = None
            continue
        p = float(np.sum(power[(freqs >= lo) & (freqs < hi)]))
        out[name] = float(10.0 * np.log10(p / total)) if p > 0.0 else FLOOR_DB
        out[name] = max(out[name], FLOOR_DB)
    return out
