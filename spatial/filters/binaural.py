"""Binaural output: interpolated HRIRs for direct sound and reflections, and a
diffuse tail with the interaural coherence of a diffuse field.

Gain convention (from :mod:`spatial.filters.hrtf`): the HRTF set is diffuse-field
normalised, so a diffuse field of unit power gives unit mean power at each ear;
:meth:`BinauralSpatialiser.diffuse` keeps that scale (an input noise of power p
gives ears of mean power ~p).
"""
from __future__ import annotations

import numpy as np

from spatial.filters.base import Channel
from spatial.filters.hrtf import HrtfSet

MODEL_FFT = 1024  # resolution of the diffuse-field statistics (47 Hz bins at 48 kHz)
SMOOTHING_OCTAVES = 1.0 / 3.0  # power spectrum smoothing, so the tail is not comb-filtered


def third_octave_smooth(power: np.ndarray, freqs: np.ndarray,
                        width_octaves: float = SMOOTHING_OCTAVES) -> np.ndarray:
    """(..., K) power spectrum on the linear grid `freqs` (K,) -> smoothed (..., K).

    Each bin becomes the mean power over bins within +-width/2 octaves of it
    (at least the bin itself; DC is kept). Each row is then rescaled to keep
    its mean power, so smoothing moves no energy in or out.
    """
    power = np.asarray(power, float)
    k = freqs.size
    csum = np.concatenate([np.zeros(power.shape[:-1] + (1,)), np.cumsum(power, axis=-1)], axis=-1)
    half = 2.0 ** (width_octaves / 2)
    lo = np.searchsorted(freqs, freqs / half, side="left")
    hi = np.searchsorted(freqs, freqs * half, side="right")
    idx = np.arange(k)
    lo = np.minimum(lo, idx)
    hi = np.maximum(hi, idx + 1)
    lo[0], hi[0] = 0, 1
    out = (csum[..., hi] - csum[..., lo]) / (hi - lo)
    before, after = power.mean(axis=-1, keepdims=True), out.mean(axis=-1, keepdims=True)
    return out * np.divide(before, after, out=np.ones_like(before), where=after > 0)


class BinauralSpatialiser:
    """Two ears (L, R) through an :class:`~spatial.filters.hrtf.HrtfSet`."""

    channels = (Channel("L"), Channel("R"))
    n_diffuse = 2

    def __init__(self, hrtf: HrtfSet):
        self.hrtf = hrtf
        self.fs = hrtf.fs
        self._model = None

    def responses(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """directions (N, 3) unit vectors -> (irs (N, 2, L) min-phase HRIRs, delays_s (N, 2)).

        Delays are relative to the earliest ear onset of the whole set (>= 0);
        the renderer adds the propagation delay.
        """
        return self.hrtf.interpolate(directions)

    def diffuse_model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(freqs (K,), rho (K,), power (2, K)) on a MODEL_FFT grid, power 1/3-octave smoothed."""
        if self._model is None:
            freqs = np.fft.rfftfreq(MODEL_FFT, 1.0 / self.fs)
            rho = np.clip(self.hrtf.diffuse_coherence(MODEL_FFT), -1.0, 1.0)
            power = third_octave_smooth(self.hrtf.diffuse_power(MODEL_FFT), freqs)
            self._model = (freqs, rho, power)
        return self._model

    def diffuse(self, noises: np.ndarray) -> np.ndarray:
        """(2, L) independent, equally calibrated noises -> (2, L) binaural diffuse tail.

        In the frequency domain (one FFT of the whole tail):
        L = sqrt(P_L) (a N1 + b N2), R = sqrt(P_R) (a N1 - b N2), with
        a = sqrt((1 + rho) / 2), b = sqrt((1 - rho) / 2), so the ears have the
        diffuse-field power spectra P_L, P_R and the interaural coherence rho of
        the HRTF set. rho and P come from a MODEL_FFT-point model (P smoothed
        in 1/3 octave so the tail is not comb-filtered), turned into compact
        zero-phase kernels (see _kernels) whose zero-padded FFT interpolates
        them onto the tail's FFT grid. The FFT is padded beyond the kernels'
        length, so nothing wraps from the loud start of a tail onto its quiet end.
        """
        from scipy import fft

        x = np.asarray(noises, float)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"expected (2, L) noises, got shape {x.shape}")
        length = x.shape[1]
        if length == 0:
            return np.zeros((2, 0))
        n = fft.next_fast_len(length + 2 * MODEL_FFT, real=True)
        # kernels made causal by a delay of MODEL_FFT/2, removed again when slicing
        half = MODEL_FFT // 2
        gains = fft.rfft(np.roll(self._kernels(), half, axis=-1), n, axis=-1)  # La, Lb, Ra, Rb
        spec = fft.rfft(x[:2], n, axis=-1)
        out = fft.irfft(np.stack([gains[0] * spec[0] + gains[1] * spec[1],
                                  gains[2] * spec[0] - gains[3] * spec[1]]), n, axis=-1)
        return np.ascontiguousarray(out[:, half:half + length])

    def _kernels(self) -> np.ndarray:
        """(4, MODEL_FFT) zero-phase kernels sqrt(P_L) a, sqrt(P_L) b, sqrt(P_R) a, sqrt(P_R) b.

        Circular layout (negative times at the end), Hann-windowed to +-MODEL_FFT/2
        so that zero-padding to any FFT size interpolates the model spectrum
        smoothly and the kernels stay compact (no leakage far from the input).
        """
        _, rho, power = self.diffuse_model()
        a, b = np.sqrt((1.0 + rho) / 2.0), np.sqrt((1.0 - rho) / 2.0)
        gl, gr = np.sqrt(np.maximum(power, 0.0))
        k = np.fft.irfft(np.stack([gl * a, gl * b, gr * a, gr * b]), MODEL_FFT, axis=-1)
        t = np.fft.fftfreq(MODEL_FFT)  # -0.5 .. 0.5 in circular order
        return k * np.cos(np.pi * t) ** 2
