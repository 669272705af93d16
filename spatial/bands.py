"""Octave bands shared by materials, air absorption and the reverberation tail.

Seven bands centred 125 Hz .. 8 kHz. The lowest band also holds everything
below it, the highest everything above it, so the bands sum back to the input
exactly (pyroomacoustics' cosine filter bank is perfect-reconstruction). At
sample rates below 16 kHz the bank has fewer bands (at 8 kHz the top one is
4 kHz, holding everything up to Nyquist): the bands above are silent.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

BANDS_HZ: tuple[float, ...] = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
N_BANDS = len(BANDS_HZ)


@lru_cache(maxsize=8)
def _bank(fs: int):
    import pyroomacoustics as pra

    return pra.acoustics.OctaveBandsFactory(base_frequency=BANDS_HZ[0], fs=fs, n_fft=512,
                                            keep_dc=True)


def split(x: np.ndarray, fs: int) -> np.ndarray:
    """Split signals into the seven bands.

    x: array (..., n) of floats. Returns (7, ..., n); summing over axis 0 gives x
    back (to rounding).
    """
    bank = _bank(int(fs))
    x = np.asarray(x, dtype=float)
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty((N_BANDS,) + flat.shape)
    for row, sig in enumerate(flat):
        parts = [bank.analysis(sig, band=b) for b in range(bank.n_bands)]
        for b in range(N_BANDS):  # bands above Nyquist (fs < 16 kHz) are silent
            out[b, row] = parts[b] if b < len(parts) else 0.0
        for extra in parts[N_BANDS:]:  # fold bands above 8 kHz into the top band
            out[N_BANDS - 1, row] += extra
    return out.reshape((N_BANDS,) + x.shape)


def combine(per_band: np.ndarray, fs: int) -> np.ndarray:
    """Band-filter signal b with band b's filter and sum: (7, ..., n) -> (..., n).

    Used when each band was accumulated separately (e.g. reflections whose
    absorption differs per band): out = sum_b bandpass_b(per_band[b]).
    """
    per_band = np.asarray(per_band, dtype=float)
    if per_band.shape[0] != N_BANDS:
        raise ValueError(f"expected {N_BANDS} bands on axis 0, got {per_band.shape[0]}")
    if np.all(per_band == per_band[:1]):
        return per_band[0].copy()
    out = np.zeros(per_band.shape[1:])
    bank = _bank(int(fs))
    flat_out = out.reshape(-1, out.shape[-1])
    for b in range(N_BANDS):
        flat_in = per_band[b].reshape(-1, per_band.shape[-1])
        top = bank.n_bands if b == N_BANDS - 1 else min(b + 1, bank.n_bands)
        bands = range(b, top)  # empty above Nyquist (fs < 16 kHz)
        for row, sig in enumerate(flat_in):
            if np.any(sig):
                for bb in bands:
                    flat_out[row] += bank.analysis(sig, band=bb)
    return out


def interpolate(values_per_band, freqs_hz: np.ndarray) -> np.ndarray:
    """Per-band values (7,) read at arbitrary frequencies, linear in log-frequency."""
    logf = np.log2(np.clip(np.asarray(freqs_hz, dtype=float), BANDS_HZ[0], BANDS_HZ[-1]))
    return np.interp(logf, np.log2(BANDS_HZ), np.asarray(values_per_band, dtype=float))
