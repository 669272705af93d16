"""Octave bands shared by materials, air absorption and the reverberation tail.

Seven bands centred 125 Hz .. 8 kHz. The lowest band also holds everything
below it, the highest everything above it, so the bands sum back to the input
exactly: pyroomacoustics' cosine filter bank (``OctaveBandsFactory(125, fs,
n_fft=512, keep_dc=True)``, after D. Schroeder's thesis), which is
perfect-reconstruction. At sample rates below 16 kHz the bank has fewer bands
(at 8 kHz the top one is 4 kHz, holding everything up to Nyquist): the bands
above are silent.

The bank is built here as pra builds it (:func:`_filters`: the same numpy
operations) and applied as pra's ``analysis`` applies it (scipy.signal.fftconvolve,
mode "same": :class:`_Same`, the same scipy.fft calls), so the bands are pra's to
the bit without importing pyroomacoustics or scipy.signal (~0.8 s of the
command's start-up); the tests compare both with pra. :func:`split` and
:func:`combine` apply the same bank with one transform of each row for all the bands
(pra's bands to rounding).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

BANDS_HZ: tuple[float, ...] = (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
N_BANDS = len(BANDS_HZ)


N_FFT = 512  # length of the bank's filters (pra's octave_bands_n_fft)


def _cosine_response(centers: np.ndarray, fs: int) -> np.ndarray:
    """(N_FFT // 2 + 1, n) magnitude responses of the cosine bank with the DC shelf:
    pyroomacoustics.acoustics.cosine_magnitude_octave_filter_response (keep_dc=True),
    MIT licence, Copyright (C) Robin Scheibler and the pyroomacoustics authors."""
    n = len(centers)
    edges = [[centers[0] / 2, centers[1]]]
    for i in range(1, n - 1):
        edges.append([centers[i - 1], centers[i + 1]])
    edges.append([centers[-2], fs / 2])
    n_freq = N_FFT // 2 + 1
    mag = np.zeros((n_freq, n))
    freq = np.arange(n_freq) / N_FFT * fs
    for b, (band, center) in enumerate(zip(edges, centers)):
        if b == 0:  # shelf down to DC
            mag[freq < center, b] = 1.0
        else:  # rising side
            lo = np.logical_and(band[0] <= freq, freq < center)
            mag[lo, b] = 0.5 * (1 + np.cos(2 * np.pi * freq[lo] / center))
        if b != n - 1:  # falling side
            hi = np.logical_and(center <= freq, freq < band[1])
            mag[hi, b] = 0.5 * (1 - np.cos(2 * np.pi * freq[hi] / band[1]))
        else:  # shelf up to Nyquist
            mag[center <= freq, b] = 1.0
    return mag


@lru_cache(maxsize=8)
def _filters(fs: int) -> np.ndarray:
    """(N_FFT, n_bands) impulse responses of the bank at rate fs (pra's OctaveBandsFactory
    .filters): n_bands = floor(log2(fs / 125 Hz)) octaves from 125 Hz, zero phase
    delayed by N_FFT / 2 + 1 samples to suit fftconvolve's mode "same"."""
    n_bands = math.floor(np.log2(fs / BANDS_HZ[0]))
    centers = BANDS_HZ[0] * (2.0 ** (np.arange(0, n_bands) / 1))
    mag = _cosine_response(centers, fs)
    n_freq = N_FFT // 2 + 1
    delay = np.exp(2j * np.pi * np.arange(n_freq) * (N_FFT // 2 + 1) / N_FFT)
    filters = np.fft.irfft(mag * delay[:, None], n=N_FFT, axis=0)
    filters.setflags(write=False)
    return filters


def _n_bands(fs: int) -> int:
    return _filters(int(fs)).shape[1]


class _Same:
    """One signal (n,) convolved with band filters, mode "same": scipy.signal.fftconvolve
    (x[:, None], h[:, None], mode="same", axes=(-2,))[:, 0], to the bit (the same
    scipy.fft calls), with x's spectrum computed once for every band."""

    def __init__(self, x: np.ndarray, fs: int):
        from scipy import fft

        self.fft = fft
        self.h = _filters(int(fs))
        self.n = x.shape[0]
        full = self.n + N_FFT - 1
        self.fshape = [fft.next_fast_len(full, True)]
        self.start = (full - self.n) // 2
        self.spectrum = fft.rfftn(np.asarray(x, float)[:, None], self.fshape, axes=[0])

    def band(self, b: int) -> np.ndarray:
        fft = self.fft
        sp2 = fft.rfftn(self.h[:, [b]], self.fshape, axes=[0])
        ret = fft.irfftn(self.spectrum * sp2, self.fshape, axes=[0])
        return ret[self.start:self.start + self.n, 0].copy()


def _groups(fs: int) -> list[range]:
    """The bank's bands that make each of the seven: band b alone, the top one also
    every band above it (fs > 16 kHz), none above Nyquist (fs < 16 kHz)."""
    n_bands = _n_bands(fs)
    return [range(b, n_bands if b == N_BANDS - 1 else min(b + 1, n_bands))
            for b in range(N_BANDS)]


def _spectra(fs: int, nfft: int) -> np.ndarray:
    """(7, nfft // 2 + 1) spectra of the seven bands' filters (each group summed)."""
    from scipy import fft

    bank = fft.rfft(_filters(int(fs)), nfft, axis=0).T  # (n_bands, K)
    out = np.zeros((N_BANDS, bank.shape[1]), complex)
    for b, group in enumerate(_groups(fs)):
        for bb in group:
            out[b] += bank[bb]
    return out


def _frame(n: int) -> tuple[int, int]:
    """FFT size and first sample of mode "same" for n samples through the bank."""
    from scipy import fft

    full = n + N_FFT - 1
    return fft.next_fast_len(full, True), (full - n) // 2


def split(x: np.ndarray, fs: int) -> np.ndarray:
    """Split signals into the seven bands.

    x: array (..., n) of floats. Returns (7, ..., n); summing over axis 0 gives x
    back (to rounding). Every row's spectrum once, one inverse transform per row and
    band, all rows in one call (the same result as pra's analysis per row, to
    rounding: ~1e-15 of the peak).
    """
    from scipy import fft

    x = np.asarray(x, dtype=float)
    flat = x.reshape(-1, x.shape[-1])
    n = flat.shape[1]
    nfft, first = _frame(n)
    spec = fft.rfft(flat, nfft, axis=-1)  # (rows, K)
    bank = _spectra(fs, nfft)
    out = np.empty((N_BANDS,) + flat.shape)
    for b in range(N_BANDS):
        if np.any(bank[b]):
            out[b] = fft.irfft(spec * bank[b], nfft, axis=-1)[:, first:first + n]
        else:  # above Nyquist
            out[b] = 0.0
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
    return combine_lowrank(per_band, np.eye(N_BANDS), fs)


def combine_lowrank(components: np.ndarray, weights: np.ndarray, fs: int) -> np.ndarray:
    """sum_b bandpass_b(sum_k weights[k, b] * components[k]): (R, ..., n) -> (..., n).

    The bands' filters are linear, so this is one filter per component, the bands'
    spectra weighted: sum_k filter_k(components[k]) with filter_k = sum_b weights[k, b]
    bandpass_b. R forward transforms and one inverse per row, not seven of each (image
    sources: their (N, 7) gains are rank 3 at 1e-6, spatial.room.rir).
    """
    from scipy import fft

    components = np.asarray(components, dtype=float)
    weights = np.asarray(weights, dtype=float).reshape(components.shape[0], N_BANDS)
    shape = components.shape[1:]
    flat = components.reshape(components.shape[0], -1, shape[-1])
    n = flat.shape[2]
    nfft, first = _frame(n)
    bank = _spectra(fs, nfft)  # (7, K)
    acc = None
    for k in range(flat.shape[0]):
        filt = weights[k] @ bank  # (K,)
        term = fft.rfft(flat[k], nfft, axis=-1) * filt
        acc = term if acc is None else acc + term
    return fft.irfft(acc, nfft, axis=-1)[:, first:first + n].reshape(shape)


def interpolate(values_per_band, freqs_hz: np.ndarray) -> np.ndarray:
    """Per-band values (7,) read at arbitrary frequencies, linear in log-frequency."""
    logf = np.log2(np.clip(np.asarray(freqs_hz, dtype=float), BANDS_HZ[0], BANDS_HZ[-1]))
    return np.interp(logf, np.log2(BANDS_HZ), np.asarray(values_per_band, dtype=float))
