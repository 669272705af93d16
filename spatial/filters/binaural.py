"""Binaural output: interpolated HRIRs for direct sound and reflections, and a
diffuse tail with the interaural coherence of a diffuse field.

Gain convention (from :mod:`spatial.filters.hrtf`): the HRTF set is diffuse-field
equalised, so a diffuse field gives each ear the power spectrum of an
omnidirectional receiver within the set's measured bandwidth (nothing above);
:meth:`BinauralSpatialiser.diffuse` keeps that scale (an input noise of power
spectrum S gives ears of power spectrum ~S there). The tail, like direct sound,
reflections and head-locked beds, thus takes whatever equalisation the set has.
"""
from __future__ import annotations

import threading

import numpy as np

from spatial.filters.base import Channel
from spatial.filters.hrtf import HrtfSet
from spatial.filters.hrtf_eq import SMOOTHING_OCTAVES, third_octave_smooth  # noqa: F401

MODEL_FFT = 1024  # resolution of the diffuse-field statistics (47 Hz bins at 48 kHz)


class BinauralSpatialiser:
    """Two ears (L, R) through an :class:`~spatial.filters.hrtf.HrtfSet`."""

    channels = (Channel("L"), Channel("R"))
    n_diffuse = 2

    def __init__(self, hrtf: HrtfSet):
        self.hrtf = hrtf
        self.fs = hrtf.fs
        self._model = None
        self._spectra = {}  # n_fft -> (spectra (M, 2, F) complex64, computed (M,) bool)
        self._lock = threading.Lock()

    def responses(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """directions (N, 3) unit vectors -> (irs (N, 2, L) min-phase HRIRs, delays_s (N, 2)).

        Delays are relative to the earliest ear onset of the whole set (>= 0);
        the renderer adds the propagation delay.
        """
        return self.hrtf.interpolate(directions)

    def direction_spectra(self, directions: np.ndarray, n_fft: int):
        """(S, rows, weights, delays) as :meth:`Spatialiser.direction_spectra`: the set's
        measured min-phase responses (spectra computed once per n_fft, when first used)
        with the barycentric weights of HrtfSet.weights_for (by its numba twin
        hull_weights), as :meth:`HrtfSet.interpolate` blends the HRIRs."""
        from scipy import fft

        from spatial.engine.motion_kernels import hull_weights

        hrtf = self.hrtf
        rows = np.empty((len(directions), 3), np.intp)
        w = np.empty((len(directions), 3))
        hull_weights(np.ascontiguousarray(directions, dtype=np.float64), *hrtf._hull, rows, w)
        delays = np.sum(w[:, :, None] * hrtf.delays_s[rows], axis=1)
        with self._lock:
            if n_fft not in self._spectra:
                m = hrtf.min_phase.shape[0]
                self._spectra[n_fft] = (np.zeros((m, len(self.channels), n_fft // 2 + 1),
                                                 np.complex64), np.zeros(m, bool))
            spectra, have = self._spectra[n_fft]
            if not have[rows].all():
                new = np.unique(rows[~have[rows]])
                spectra[new] = fft.rfft(hrtf.min_phase[new], n=n_fft, axis=-1)
                have[new] = True
        return spectra, rows, w, delays

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
